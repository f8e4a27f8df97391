"""The operator's HTTP port: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz`` (ready).

One server per container. With a supervisor and N worker processes the supervisor serves it:
``/metrics`` aggregates the children's multiprocess files (``worker/metrics.py``) and
``/readyz`` aggregates the readiness each child reports. In single-process mode the worker
serves it itself, with the same paths and bodies.

Readiness, how children report it: each process owns a :class:`Readiness` and calls its
methods as it gets there (pipelines loaded, group joined with its assignment, model
reachable), and whether it can fetch from and commit to Kafka (``stream/kafka_health.py``).
With a state folder (the multiprocess folder) every change is written atomically
to ``ready-<pid>.json``; the supervisor's :class:`ReadinessView` reads those files for the
children it knows to be alive. A process is ready when it has joined the consumer group (with
partitions or with none to give), loaded its pipelines and, when a model is configured, reached
it. ``/readyz`` answers 503 with one line per thing missing, naming the process.
"""
from __future__ import annotations

import json
import os

from worker.procutil import pid_alive
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from worker import metrics


@dataclass
class _State:
    pid: int
    joined: bool = False
    partitions: int = 0
    pipelines: list[str] = field(default_factory=list)
    pipelines_loaded: bool = False
    model_configured: bool = False
    model_reachable: bool = False
    model_detail: str = ""
    stopping: bool = False
    updated: float = 0.0
    # liveness (wall clock, comparable across processes): the fetch loop's last turn, and for
    # each lane busy in DALI now, when its batch went in
    loop_beat: float = 0.0
    busy_since: dict[str, float] = field(default_factory=dict)
    fatal: str = ""
    loop_stall_s: float = 30.0
    batch_stall_s: float = 300.0
    # Kafka (stream/kafka_health.py, wall clock): fetching wanted and nothing fetched since,
    # a commit pending or failing since (0: fine); not ready past kafka_timeout_s
    kafka_fetch_since: float = 0.0
    kafka_unreachable_since: float = 0.0
    kafka_commit_since: float = 0.0
    kafka_cause: str = ""
    kafka_timeout_s: float = 30.0
    waiting_for: str = ""  # what the start waits for (e.g. Kafka unreachable), one line


class Readiness:
    """What one worker process has reached. Thread-safe; cheap to call on every change."""

    def __init__(self, state_dir: str | os.PathLike | None = None, *, model_configured: bool = False,
                 pid: int | None = None):
        self._dir = Path(state_dir) if state_dir else None
        self._lock = threading.RLock()  # held while writing, so files land in update order
        self._s = _State(pid=pid or os.getpid(), model_configured=model_configured)
        self._write()

    # -- the worker calls these --
    def group_joined(self, partitions: int) -> None:
        """After every assignment (a rebalance included); 0 partitions is still ready: the group
        has more members than partitions."""
        self._update(joined=True, partitions=int(partitions))

    def group_left(self) -> None:
        """Partitions revoked and not yet reassigned (a rebalance in progress)."""
        self._update(joined=False, partitions=0)

    def pipelines_loaded(self, names: Iterable[str]) -> None:
        self._update(pipelines=sorted(names), pipelines_loaded=True)

    def model_status(self, reachable: bool, detail: str = "") -> None:
        self._update(model_configured=True, model_reachable=bool(reachable), model_detail=detail)

    def stopping(self) -> None:
        self._update(stopping=True)

    def set_stall_limits(self, loop_s: float, batch_s: float) -> None:
        self._update(loop_stall_s=float(loop_s), batch_stall_s=float(batch_s))

    def heartbeat(self, loop_beat: float, busy_since: dict[str, float]) -> None:
        """From the worker's commit loop, about once a second: if the event loop itself is
        blocked, this stops coming and ``loop_beat`` grows old; if a lane's DALI run hangs,
        its ``busy_since`` does."""
        self._update(loop_beat=float(loop_beat), busy_since=dict(busy_since))

    def kafka_status(self, fetch_since: float, commit_since: float, cause: str, timeout_s: float,
                     unreachable_since: float = 0.0) -> None:
        """From the worker, about once a second (``KafkaHealth.status()``)."""
        self._update(kafka_fetch_since=float(fetch_since), kafka_commit_since=float(commit_since),
                     kafka_cause=cause[:300], kafka_timeout_s=float(timeout_s),
                     kafka_unreachable_since=float(unreachable_since))

    def waiting(self, what: str) -> None:
        """The start waits for something outside (''): named by /readyz and the supervisor."""
        self._update(waiting_for=what[:500])

    def failed(self, why: str) -> None:
        self._update(fatal=why[:500])

    def alive(self) -> tuple[bool, list[str]]:
        with self._lock:
            problems = _dead(asdict(self._s), time.time())
        return not problems, problems

    # -- readers --
    def missing(self) -> list[str]:
        with self._lock:
            return _missing(asdict(self._s))

    def check(self) -> tuple[bool, list[str]]:
        gaps = self.missing()
        return not gaps, gaps

    def _update(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._s, k, v)
            self._write()

    def _write(self) -> None:
        if self._dir is None:
            return
        with self._lock:
            self._s.updated = time.time()
            state = asdict(self._s)
            state["missing"] = _missing(state)
            path = self._dir / f"ready-{state['pid']}.json"
            tmp = self._dir / f".ready-{state['pid']}.tmp"
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)  # readers never see half a file


def _missing(s: dict, now: float | None = None) -> list[str]:
    from worker.stream.kafka_health import kafka_problems

    gaps = []
    if s.get("waiting_for"):
        gaps.append(f"waiting for {s['waiting_for']}")
    if s.get("stopping"):
        gaps.append("stopping")
    if not s.get("pipelines_loaded"):
        gaps.append("pipelines not loaded")
    if not s.get("joined"):
        gaps.append("not in the consumer group (no assignment yet)")
    if s.get("model_configured") and not s.get("model_reachable"):
        detail = s.get("model_detail")
        gaps.append("model not reachable" + (f": {detail}" if detail else ""))
    gaps += kafka_problems(s.get("kafka_fetch_since") or 0.0, s.get("kafka_commit_since") or 0.0,
                           s.get("kafka_cause") or "", s.get("kafka_timeout_s", 30.0),
                           time.time() if now is None else now, s.get("kafka_unreachable_since") or 0.0)
    return gaps


def _dead(s: dict, now: float) -> list[str]:
    """Why a process should be restarted (empty: alive). Nothing is held against a process that
    has not started its loop yet (loading pipelines takes seconds)."""
    out = []
    if s.get("fatal"):
        out.append(f"stopping after a fatal error: {s['fatal']}")
    beat = s.get("loop_beat") or 0.0
    if beat and now - beat > s.get("loop_stall_s", 30.0):
        out.append(f"the stream loop has not turned for {now - beat:.0f} s")
    for lane, since in (s.get("busy_since") or {}).items():
        if now - since > s.get("batch_stall_s", 300.0):
            out.append(f"lane {lane}: a DALI batch has been running for {now - since:.0f} s")
    return out


class ReadinessView:
    """The supervisor's view: ready when ``expected`` live children have reported and each of
    them is ready. ``live_pids`` returns the children the supervisor knows to be running (a
    report from a pid not in it is ignored); without it, any report whose pid exists counts."""

    def __init__(self, state_dir: str | os.PathLike, expected: int | Callable[[], int],
                 live_pids: Callable[[], Iterable[int]] | None = None):
        self._dir = Path(state_dir)
        self._expected = expected
        self._live = live_pids

    def reports(self) -> list[dict]:
        live = set(self._live()) if self._live is not None else None
        out = []
        for f in sorted(self._dir.glob("ready-*.json")):
            try:
                state = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # removed between glob and read
            pid = state.get("pid", -1)
            if (pid in live) if live is not None else pid_alive(pid):
                out.append(state)
        return out

    def check(self) -> tuple[bool, list[str]]:
        expected = self._expected() if callable(self._expected) else self._expected
        reports = self.reports()
        gaps = []
        if len(reports) < expected:
            gaps.append(f"{expected - len(reports)} of {expected} worker processes have not "
                        "reported (starting or restarting)")
        for r in reports:
            # recomputed now: the Kafka ages grow even when a process stops writing
            gaps.extend(f"process {r['pid']}: {g}" for g in _missing(r))
        return not gaps, gaps

    def alive(self) -> tuple[bool, list[str]]:
        """Alive while every live child that reported is alive (a child being restarted is the
        supervisor's business, not a reason to restart the container)."""
        now = time.time()
        problems = [f"process {r['pid']}: {p}" for r in self.reports() for p in _dead(r, now)]
        return not problems, problems


class _ServerCollector:
    """Series the server adds at scrape time: readiness as a number, and the GPUs."""

    def __init__(self, readiness, gpu: "metrics.GpuCollector | None"):
        self._readiness = readiness
        self._gpu = gpu

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        ok, _ = self._readiness.check() if self._readiness is not None else (True, [])
        yield GaugeMetricFamily(f"{metrics.PREFIX}_ready", "1 when /readyz answers 200", value=int(ok))
        if self._gpu is not None:
            yield from self._gpu.collect()


class HealthServer:
    """``/metrics``, ``/healthz``, ``/readyz`` on ``host:port`` from a daemon thread.

    ``readiness``: anything with ``check() -> (ready, missing)`` (a :class:`Readiness` in
    single-process mode, a :class:`ReadinessView` in the supervisor), and liveness from its
    ``alive() -> (alive, problems)`` when it has one: ``/healthz`` answers 503 with the problems
    when the process should be restarted (its stream loop stopped turning, a DALI batch hangs,
    a fatal error). ``alive`` overrides that. ``port=0`` picks a free port; read it back from
    ``.port``. ``host``: the address to bind (0.0.0.0: every interface, what a container needs;
    127.0.0.1 keeps it on the machine).
    """

    def __init__(self, port: int = 8000, host: str = "0.0.0.0", readiness=None,
                 alive: Callable[[], bool | tuple[bool, list[str]]] | None = None, gpu: bool = True):
        from prometheus_client import CollectorRegistry

        self.readiness = readiness
        self.alive = alive or getattr(readiness, "alive", None) or (lambda: True)
        self._extra = CollectorRegistry(auto_describe=False)
        self._extra.register(_ServerCollector(readiness, metrics.GpuCollector.create() if gpu else None))
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> "HealthServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "HealthServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def metrics_text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(metrics.registry()) + generate_latest(self._extra)


def _handler(server: HealthServer):
    from prometheus_client import CONTENT_TYPE_LATEST

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    self._send(200, server.metrics_text(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    answer = server.alive()
                    ok, problems = answer if isinstance(answer, tuple) else (bool(answer), [])
                    body = "ok\n" if ok else "not alive:\n" + "".join(f"- {p}\n" for p in problems)
                    self._send(200 if ok else 503, body.encode())
                elif path == "/readyz":
                    ok, gaps = server.readiness.check() if server.readiness else (True, [])
                    body = "ready\n" if ok else "not ready:\n" + "".join(f"- {g}\n" for g in gaps)
                    self._send(200 if ok else 503, body.encode())
                else:
                    self._send(404, b"not found: try /metrics, /healthz or /readyz\n")
            except Exception as exc:  # a scrape must never kill the server thread
                self._send(500, f"error: {type(exc).__name__}: {exc}\n".encode())

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every few seconds would flood the log
            pass

    return Handler
