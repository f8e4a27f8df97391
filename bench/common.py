"""What every benchmark shares: the machine description, percentiles, peak memory, and the
JSON writer (``bench/results/<name>-<host>.json``)."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def gpus() -> list[dict]:
    """GPUs from ``nvidia-smi`` (empty without one)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            rows.append({"name": parts[0], "memory": parts[1], "driver": parts[2]})
    return rows


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _memory_gb(),
        "gpus": gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("nvidia-dali-cuda120", "nvidia-dali-cuda130",
                                               "aiokafka", "numpy", "pillow", "prometheus-client")
                     if _version(d)},
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def percentile(values, q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of a list; None when empty."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency_summary(seconds) -> dict:
    """p50/p99/max in milliseconds."""
    xs = list(seconds)
    r = lambda v: None if v is None else round(v * 1000.0, 2)  # noqa: E731
    return {"p50_ms": r(percentile(xs, 50)), "p99_ms": r(percentile(xs, 99)),
            "max_ms": r(max(xs) if xs else None), "n": len(xs)}


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its waited-for children), in MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)  # Linux reports KiB


def rss_of_pid_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a running process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def write_result(name: str, payload: dict, folder: Path = RESULTS) -> Path:
    """Write ``{"benchmark", "date", "machine", "command", **payload}`` to
    ``<folder>/<name>-<host>.json`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0] or "host"
    doc = {"benchmark": name,
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(),
           "command": " ".join([Path(sys.executable).name] + sys.argv),
           **payload}
    path = folder / f"{name}-{host}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def bootstrap_or_broker():
    """``(bootstrap_servers, broker_or_None)``: ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a
    development broker started here (stop it with ``broker.stop()``)."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        return env, None
    from worker.devkafka import KafkaBroker

    broker = KafkaBroker().start()
    return broker.bootstrap_servers, broker
