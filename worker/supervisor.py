"""Several worker processes per GPU (or per CPU host), one consumer group, one metrics port.

Why processes: one Python consumer delivers about 5k messages/s of 66 KB (FIELD-NOTES), a
quarter of what DALI does on an H100, and one asyncio loop also encodes and produces. So the
supervisor starts N complete workers per GPU, each its own consumer in the group, its own DALI
pipeline and its own producer; Kafka's group protocol shares the partitions among them and moves
them on when one dies, so every guarantee of a single worker holds unchanged (commits per
partition by its owner, exactly-once through a transactional id per slot). The alternative,
consumer processes handing batches to one GPU-owning process through shared memory, saves one
pipeline's memory per process but needs its own delivery protocol across processes; it is not
worth that while separate pipelines reach DALI's single-process rate (see README).

A child that exits unexpectedly is restarted in the same slot (the same transactional id, which
fences its dead predecessor), with a growing delay if it keeps dying. SIGTERM is passed on: each
child drains (finishes in-flight batches, publishes, commits) and the supervisor exits 0 when
they all did.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from worker.config import EXIT_CONFIG, WorkerConfig
from worker.devices import visible_gpus
from worker.procutil import die_with_parent

log = logging.getLogger("worker.supervisor")


@dataclass
class Slot:
    index: int
    gpu: str | None  # CUDA_VISIBLE_DEVICES for this child, None on CPU
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    stop_code: int | None = None  # exit code after the stop was asked (None: no process then)
    signalled: bool = False
    waiting: str = ""  # what its worker last said it waits for (its readiness report)


class Supervisor:
    def __init__(self, cfg: WorkerConfig, argv: list[str]) -> None:
        self.cfg = cfg
        self.argv = argv
        gpus = visible_gpus() if cfg.device == "gpu" else [None]
        self.slots = [Slot(i * len(gpus) + g, gpu) for i in range(cfg.procs) for g, gpu in enumerate(gpus)]
        self.threads = cfg.num_threads or max(1, (os.cpu_count() or 2) // len(self.slots))
        self._stopping = False
        self.config_failed = False

    def child_command(self, slot: Slot) -> list[str]:
        device = "cpu" if slot.gpu is None else "0"  # each child sees only its own GPU, as 0
        return [sys.executable, "-m", "worker", "run", *self.argv, "--procs", "1", "--no-supervise",
                "--slot", str(slot.index),
                "--device", device, "--num-threads", str(self.threads),
                "--worker-id", f"{self.cfg.worker_id.rsplit('-', 1)[0]}-w{slot.index}"]

    def _start(self, slot: Slot) -> None:
        env = dict(os.environ)
        # how many worker processes share this host's /dev/shm (the shared-memory check at start)
        env["DSW_HOST_PROCESSES"] = str(len(self.slots))
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        slot.signalled = False
        slot.proc = subprocess.Popen(self.child_command(slot), env=env, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        slot.started_at = time.monotonic()
        log.info("slot %d: started worker pid %d%s", slot.index, slot.proc.pid,
                 f" on GPU {slot.gpu}" if slot.gpu is not None else "")

    def _on_exit(self, slot: Slot, code: int) -> None:
        from worker import metrics

        pid = slot.proc.pid
        metrics.process_dead(pid)
        slot.proc = None
        slot.waiting = ""
        if self._stopping:
            if code == -signal.SIGTERM and slot.signalled:
                # our SIGTERM reached it before it had installed its handler (the worker does
                # that first thing, before it consumes): it had nothing to drain
                code = 0
            log.info("slot %d: worker pid %d stopped (exit %d)", slot.index, pid, code)
            slot.stop_code = code
            return
        if code == EXIT_CONFIG:  # it would fail the same way again: stop them all
            log.error("slot %d: worker pid %d cannot start as configured (exit %d, its error is "
                      "above); stopping every worker: fix the configuration and start again",
                      slot.index, pid, code)
            slot.stop_code = code
            self.config_failed = True
            self._stopping = True
            return
        # a child that ran a while before dying restarts at once; a crash loop backs off to 30 s
        ran = time.monotonic() - slot.started_at
        slot.restarts = 0 if ran > 60 else slot.restarts + 1
        delay = min(30.0, 0.5 * (2 ** slot.restarts)) if slot.restarts else 0.0
        slot.next_start = time.monotonic() + delay
        log.warning("slot %d: worker pid %d exited with %d after %.0f s; restarting in %.1f s "
                    "(its uncommitted messages go to the group's next owner)", slot.index, pid, code, ran, delay)

    def _say_what_children_wait_for(self, state) -> None:
        """A worker that cannot start yet (Kafka unreachable: it retries by itself, with a
        growing pause) says so in its readiness report; say it here once per change, so that
        the supervisor's log tells what the container waits for."""
        import json

        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                report = json.loads((state / f"ready-{slot.proc.pid}.json").read_text())
            except (OSError, ValueError):
                continue
            waiting = report.get("waiting_for") or ""
            if waiting != slot.waiting:
                if waiting:
                    log.warning("slot %d: worker pid %d is waiting for %s (it retries by itself)",
                                slot.index, slot.proc.pid, waiting)
                else:
                    log.info("slot %d: worker pid %d no longer waits (was: %s)", slot.index,
                             slot.proc.pid, slot.waiting)
                slot.waiting = waiting

    def _stop(self, *_) -> None:
        # only a flag: the loop passes SIGTERM on, so a child started in the same instant is not
        # missed (a handler running between Popen and the assignment of slot.proc would miss it)
        self._stopping = True

    def _pass_stop_on(self) -> None:
        for slot in self.slots:
            if slot.proc is not None and not slot.signalled and slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGTERM)
                slot.signalled = True

    def run(self) -> int:
        from worker import metrics
        from worker.health import HealthServer, ReadinessView

        state = metrics.prepare_multiprocess_dir(tempfile.mkdtemp(prefix="dsw-metrics-"))
        server = None
        if self.cfg.metrics_port:
            view = ReadinessView(state, expected=len(self.slots),
                                 live_pids=lambda: [s.proc.pid for s in self.slots if s.proc is not None])
            server = HealthServer(self.cfg.metrics_port, host=self.cfg.metrics_host, readiness=view).start()
            log.info("metrics and health of %d workers on %s:%d", len(self.slots), self.cfg.metrics_host,
                     server.port)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("supervisor: %d worker processes (%s), %d DALI threads each", len(self.slots),
                 "CPU" if self.cfg.device == "cpu" else f"{self.cfg.procs} per GPU", self.threads)
        for slot in self.slots:
            if not self._stopping:
                self._start(slot)
        deadline = None
        next_look = 0.0
        try:
            while True:
                if time.monotonic() >= next_look:
                    self._say_what_children_wait_for(state)
                    next_look = time.monotonic() + 2.0
                for slot in self.slots:
                    if slot.proc is not None and (code := slot.proc.poll()) is not None:
                        self._on_exit(slot, code)
                    if (slot.proc is None and not self._stopping and time.monotonic() >= slot.next_start):
                        self._start(slot)
                if self._stopping:
                    if deadline is None:
                        log.info("stopping: each worker drains, publishes and commits")
                    self._pass_stop_on()
                    deadline = deadline or time.monotonic() + self.cfg.drain_timeout_s + 15
                    if all(s.proc is None for s in self.slots):
                        break
                    if time.monotonic() > deadline:
                        for s in self.slots:
                            if s.proc is not None:
                                log.error("slot %d: pid %d did not drain in time; killing it", s.index, s.proc.pid)
                                s.proc.kill()
                time.sleep(0.2)
        finally:
            if server is not None:
                server.stop()
        # a slot in restart back-off when the stop came had nothing to drain
        if self.config_failed:
            return EXIT_CONFIG
        failed = [s.index for s in self.slots if s.stop_code not in (None, 0)]
        return 1 if failed else 0
