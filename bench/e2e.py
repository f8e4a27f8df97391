"""(b) The worker end to end through the real broker, (c) the Pillow consumer the same way, and
(d) the worker with a model forwarded: one harness, so every figure is measured alike.

One case:

1. topics ``<case>-in`` (the backlog), ``<case>-paced`` and ``<case>-out``, P partitions each;
2. the corpus is produced ``--bulk`` times round-robin into ``-in`` *before* the consumers start;
3. the consumers start as subprocesses: ``python -m worker run`` (one supervisor with K
   processes, configured by a TOML file through ``DSW_CONFIG``) or K ``bench.pil_consumer``
   processes in one group;
4. throughput = results of the backlog / time between the first and the last result record;
   ``startup_s`` = process start to first result (pipeline load, group join);
5. latency: ``--paced`` more records are produced into ``-paced`` at half the measured
   throughput (no backlog), latency = result record timestamp - input record timestamp;
6. peak memory: the largest sum of RSS over the consumer process tree, sampled every 0.2 s.

``python -m bench.e2e --kind worker --procs 1 --batch-size 32``  (see bench/README.md)
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import common, corpus, kafka_io
from worker.procutil import die_with_parent as _die_with_parent

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    kind: str                      # "worker" or "pil"
    procs: int = 1                 # K consumer processes
    batch_size: int = 32
    pipeline: str = "classify_reduce"
    device: str = "cpu"
    partitions: int = 4
    model: dict | None = None      # the route's model table, for (d)
    extra: dict = field(default_factory=dict)  # more top-level worker config keys
    output_dtype: str | None = None  # the route's output_dtype (e.g. float16): outputs cast for the wire

    @property
    def name(self) -> str:
        m = "-model" if self.model else ""
        dt = f"-{self.output_dtype}" if self.output_dtype else ""
        return f"{self.kind}-{self.pipeline}{m}{dt}-{self.device}-k{self.procs}-b{self.batch_size}"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def worker_config(case: Case, bootstrap: str, inputs: list[str], output: str, group: str) -> str:
    """The worker's TOML config for one case (field names of worker/config.py)."""
    top = {"bootstrap_servers": bootstrap, "group_id": group, "repository": str(ROOT / "pipelines"),
           "device": case.device, "procs": case.procs, "metrics_port": 0, **case.extra}
    route = {"input": inputs, "pipeline": case.pipeline, "output": output, "format": "raw",
             "max_batch_size": case.batch_size, "max_delay_ms": 20.0}
    if case.output_dtype:
        route["output_dtype"] = case.output_dtype
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    lines += ["", "[[routes]]"] + [f"{k} = {_toml_value(v)}" for k, v in route.items()]
    if case.model:
        lines += ["", "[routes.model]"] + [f"{k} = {_toml_value(v)}" for k, v in case.model.items()]
    return "\n".join(lines) + "\n"


def start_consumers(case: Case, bootstrap: str, inputs: list[str], output: str, workdir: Path):
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DALI_DEVICE=case.device, PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(workdir / "consumers.log", "wb")
    if case.kind == "worker":
        cfg = workdir / "worker.toml"
        env["DSW_CONFIG"] = str(cfg)
        if case.procs > 1 and importlib.util.find_spec("worker.supervisor") is None:
            # no supervisor in this checkout yet: K single-process workers in one group, the
            # same consumers and pipelines without the parent process (noted in the result)
            cfg.write_text(worker_config(replace(case, procs=1), bootstrap, inputs, output, group))
            cmds = [[sys.executable, "-m", "worker", "run"]] * case.procs
        else:
            cfg.write_text(worker_config(case, bootstrap, inputs, output, group))
            cmds = [[sys.executable, "-m", "worker", "run"]]
    elif case.kind == "pil":
        cmds = [[sys.executable, "-m", "bench.pil_consumer", "--serve", "--bootstrap", bootstrap,
                 "--inputs", ",".join(inputs), "--output", output, "--group", group,
                 "--batch-size", str(case.batch_size)]
                + (["--reduce"] if case.pipeline.endswith("_reduce") else [])] * case.procs
    else:
        raise ValueError(f"unknown case kind {case.kind!r}: use worker or pil")
    # the consumers get SIGKILL if this process dies: no orphan keeps a group or the CPU busy
    procs = [subprocess.Popen(c, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, preexec_fn=_die_with_parent) for c in cmds]
    log.close()
    return procs


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except (OSError, ValueError):
                pass
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class MemorySampler(threading.Thread):
    """Peak RSS of the process trees, and their CPU seconds over time (wall clock), so that the
    CPU a measured span cost can be read off afterwards (``cpu_between``). ``extra``: other
    trees (a model server) whose CPU is reported apart."""

    def __init__(self, pids: list[int], extra: list[int] | None = None):
        super().__init__(daemon=True)
        self.pids, self.extra, self.peak_mb, self._halt = pids, extra or [], 0.0, threading.Event()
        self.samples: list[tuple[float, float, float]] = []  # (unix time, cpu of pids, cpu of extra)

    def run(self):
        while not self._halt.wait(0.2):
            tree = [p for root in self.pids for p in _tree(root)]
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(p) for p in tree))
            self.samples.append((time.time(), sum(_cpu_s(p) for p in tree),
                                 sum(_cpu_s(p) for root in self.extra for p in _tree(root))))

    def cpu_between(self, t0: float, t1: float) -> tuple[float, float] | None:
        """CPU seconds (consumers, extra) spent between two unix times, interpolated."""
        s = self.samples
        if len(s) < 2 or t1 <= t0 or t0 < s[0][0] or t1 > s[-1][0]:
            return None

        def at(t, k):
            for (ta, *a), (tb, *b) in zip(s, s[1:]):
                if ta <= t <= tb:
                    return a[k] + (b[k] - a[k]) * ((t - ta) / (tb - ta) if tb > ta else 0.0)
            return s[-1][1 + k]
        return at(t1, 0) - at(t0, 0), at(t1, 1) - at(t0, 1)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


def stop_consumers(procs, timeout_s: float = 30.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


async def run_case(bootstrap: str, data: list[bytes], case: Case, bulk: int = 600, paced: int = 150,
                   timeout_s: float = 180.0, backlog: str | None = None,
                   server_pids: list[int] | None = None) -> dict:
    """One case. ``backlog``: a topic already holding exactly ``bulk`` records, shared by several
    cases (each case is a new consumer group, so each reads it all); default: a new topic filled here."""
    tag = f"bench-{case.name}-{uuid.uuid4().hex[:6]}"
    t_in, t_paced, t_out = backlog or f"{tag}-in", f"{tag}-paced", f"{tag}-out"
    await kafka_io.create_topics(bootstrap, [t_paced, t_out] if backlog else [t_in, t_paced, t_out],
                                 case.partitions)
    if not backlog:
        await kafka_io.produce(bootstrap, t_in, data, bulk)
    collector = kafka_io.Collector(bootstrap, t_out)
    await collector.start()
    result = {"case": asdict(case), "name": case.name, "bulk": bulk, "paced": paced,
              "topics": [t for t in (t_in, t_paced, t_out) if t != backlog]}
    if case.kind == "worker" and case.procs > 1 and importlib.util.find_spec("worker.supervisor") is None:
        result["mode"] = f"{case.procs} separate single-process workers (worker.supervisor missing)"
    with tempfile.TemporaryDirectory(prefix="dsw-bench-") as tmp:
        t0 = time.monotonic()
        procs = start_consumers(case, bootstrap, [t_in, t_paced], t_out, Path(tmp))
        sampler = MemorySampler([p.pid for p in procs], server_pids)
        sampler.start()
        alive = lambda: all(p.poll() is None for p in procs)  # noqa: E731
        try:
            if not await collector.wait_for(t_in, bulk, timeout_s, alive):
                return {**result, "error": _failure(procs, collector.count(t_in), bulk, timeout_s, tmp)}
            result["startup_s"] = round(collector.first_seen - t0, 2)
            result["throughput"] = kafka_io.throughput(collector.rows, t_in)
            await asyncio.sleep(0.5)  # one more sample after the span's end
            _cpu_per_image(result, sampler, server_pids)
            rate = 0.5 * (result["throughput"]["images_per_s"] or 10.0)
            result["paced_rate"] = round(rate, 1)
            await kafka_io.produce(bootstrap, t_paced, data, paced, rate=rate)
            if not await collector.wait_for(t_paced, paced, timeout_s, alive):
                return {**result, "error": _failure(procs, collector.count(t_paced), paced, timeout_s, tmp)}
            result["latency"] = kafka_io.latency(collector.rows, t_paced)
            result["latency_backlog"] = kafka_io.latency(collector.rows, t_in)
        finally:
            stop_consumers(procs)
            sampler.stop()
            await collector.stop()
        result["peak_rss_mb"] = round(sampler.peak_mb, 1)
        result["exit_codes"] = [p.returncode for p in procs]
    return result


def _cpu_per_image(result: dict, sampler: MemorySampler, server_pids) -> None:
    """CPU milliseconds per image over the measured backlog span: the worker's process tree
    (the supervisor, the worker, its DALI threads) and, apart, the model server's."""
    tp = result["throughput"]
    if not tp.get("images_per_s"):
        return
    spent = sampler.cpu_between(tp["start_ms"] / 1000.0, tp["end_ms"] / 1000.0)
    if spent is None:
        return
    n = tp["results"] - 1
    result["cpu_ms_per_image"] = round(spent[0] / n * 1000, 3)
    if server_pids:
        result["server_cpu_ms_per_image"] = round(spent[1] / n * 1000, 3)


def _failure(procs, got: int, want: int, timeout_s: float, tmp: str) -> str:
    codes = [p.poll() for p in procs]
    try:
        tail = Path(tmp, "consumers.log").read_text(errors="replace")[-3000:]
    except OSError:
        tail = ""
    why = "a consumer process exited" if any(c is not None for c in codes) else f"timed out after {timeout_s:.0f} s"
    return f"{why}: {got} of {want} results (exit codes {codes}); log tail:\n{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="worker", choices=("worker", "pil"))
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pipeline", default="classify_reduce")
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bulk", type=int, default=600)
    ap.add_argument("--paced", type=int, default=150)
    ap.add_argument("--corpus", default="bench/corpus")
    args = ap.parse_args(argv)
    # a topic just created has no leader for a moment; aiokafka retries and logs each retry
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    data = corpus.load(args.corpus)
    case = Case(args.kind, args.procs, args.batch_size, args.pipeline, args.device, args.partitions)
    bootstrap, broker = common.bootstrap_or_broker()
    try:
        res = asyncio.run(run_case(bootstrap, data, case, args.bulk, args.paced))
    finally:
        if broker:
            broker.stop()
    if "error" in res:
        print(res["error"], file=sys.stderr)
    else:
        print(f"{case.name}: {res['throughput']['images_per_s']} img/s, startup {res['startup_s']} s, "
              f"p50 {res['latency']['p50_ms']} ms, p99 {res['latency']['p99_ms']} ms, "
              f"peak {res['peak_rss_mb']} MB")
    print("wrote", common.write_result(f"e2e-{case.name}", res))
    return 1 if "error" in res else 0


if __name__ == "__main__":
    sys.exit(main())
