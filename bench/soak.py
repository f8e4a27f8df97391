"""Soak: 100k small messages through one worker, with its memory (RSS of the worker and its
isolated DALI child) and the group's lag sampled over time. The question it answers: once warm,
does memory stay flat, or does something grow with the number of messages (a tracker, a buffer,
a metric label, a leak in a pipeline)? Not a test: run it by hand and read the curve.

1. topics ``soak-<id>-in`` (P partitions), ``-out`` and ``-dlq``; ``--messages`` tiny JPEGs
   (real photographs, 24-48 px, about 1 KB) are produced *before* the worker starts (a backlog);
2. ``python -m worker run --no-supervise`` (one process, classify_reduce, CPU) consumes it;
3. every ``--interval`` seconds: RSS of the worker's process tree, committed offsets of the
   group, lag = end offsets - committed;
4. it ends when the lag is 0; then SIGTERM (the worker drains and exits 0).

Warm = after ``--warm-fraction`` of the messages are committed. Reported: RSS when warm, at the
end, its maximum after warm-up, and a least-squares slope of RSS against messages committed
after warm-up, in MB per 10k messages (flat: about 0).

``python -m bench.soak --messages 100000``  ->  ``bench/results/soak-<host>.json``
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import common, kafka_io
from bench.e2e import _rss_mb, _tree

ROOT = Path(__file__).resolve().parent.parent


def tiny_jpegs(n: int = 16) -> list[bytes]:
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for i in range(n):
        side = 24 + (i * 7) % 25
        img = Image.fromarray(photos[i % len(photos)]).resize((side, side))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


async def _lag(consumer, tps) -> tuple[int, int]:
    """(committed, lag) summed over the partitions."""
    ends = await consumer.end_offsets(tps)
    committed = 0
    for tp in tps:
        committed += (await consumer.committed(tp)) or 0
    return committed, sum(ends.values()) - committed


def slope_per_10k(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS (MB) against messages, per 10,000 messages."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in points) / var * 10000, 3)


async def soak(bootstrap: str, messages: int, partitions: int, interval: float, timeout_s: float,
               warm_fraction: float, workdir: Path) -> dict:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    name = f"soak-{uuid.uuid4().hex[:6]}"
    tin, tout, tdlq = f"{name}-in", f"{name}-out", f"{name}-dlq"
    await kafka_io.create_topics(bootstrap, [tin, tout, tdlq], partitions=partitions)
    data = tiny_jpegs()
    produce_s = await kafka_io.produce(bootstrap, tin, data, messages)
    group = f"{name}-g"
    log_path = workdir / "worker.log"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "run", "--no-supervise", "--input", tin, "--output", tout,
             "--dead-letter-topic", tdlq, "--group-id", group, "--pipeline", "classify_reduce",
             "--max-delay-ms", "20", "--commit-interval-ms", "1000"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(tin, p) for p in range(partitions)]
    samples = []
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
            t = round(time.monotonic() - t0, 1)
            pids = _tree(proc.pid)
            committed, lag = await _lag(consumer, tps)
            samples.append({"t_s": t, "rss_mb": round(sum(_rss_mb(p) for p in pids), 1),
                            "worker_rss_mb": round(_rss_mb(proc.pid), 1), "processes": len(pids),
                            "committed": committed, "lag": lag})
            if lag == 0 and committed >= messages:
                break
            if t > timeout_s:
                raise RuntimeError(f"lag still {lag} after {timeout_s:.0f} s")
            await asyncio.sleep(interval)
    finally:
        await consumer.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "killed"
    return summarize(samples, messages, warm_fraction) | {
        "messages": messages, "partitions": partitions, "message_bytes_mean": round(sum(map(len, data)) / len(data)),
        "produce_s": round(produce_s, 1), "worker_exit": code, "samples": samples}


def summarize(samples: list[dict], messages: int, warm_fraction: float) -> dict:
    moving = [s for s in samples if s["committed"] > 0]
    first, last = (moving[0], samples[-1]) if moving else (samples[0], samples[-1])
    span = max(1e-9, last["t_s"] - first["t_s"])
    warm = [s for s in samples if s["committed"] >= warm_fraction * messages]
    out = {"throughput_msg_s": round((last["committed"] - first["committed"]) / span, 1),
           "wall_s": last["t_s"], "peak_lag": max(s["lag"] for s in samples)}
    if warm:
        out |= {"warm_at_committed": warm[0]["committed"], "rss_warm_mb": warm[0]["rss_mb"],
                "rss_end_mb": warm[-1]["rss_mb"], "rss_max_after_warm_mb": max(s["rss_mb"] for s in warm),
                "rss_min_after_warm_mb": min(s["rss_mb"] for s in warm),
                "rss_slope_mb_per_10k": slope_per_10k([(s["committed"], s["rss_mb"]) for s in warm])}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--timeout-s", type=float, default=1800)
    ap.add_argument("--warm-fraction", type=float, default=0.1)
    ap.add_argument("--name", default="soak", help="result file name (bench/results/<name>-<host>.json)")
    a = ap.parse_args(argv)
    bootstrap, broker = common.bootstrap_or_broker()
    try:
        with tempfile.TemporaryDirectory(prefix="dsw-soak-") as tmp:
            result = asyncio.run(soak(bootstrap, a.messages, a.partitions, a.interval, a.timeout_s,
                                      a.warm_fraction, Path(tmp)))
    finally:
        if broker is not None:
            broker.stop()
    path = common.write_result(a.name, result)
    brief = {k: v for k, v in result.items() if k != "samples"}
    print(path)
    print(brief)
    return 0


if __name__ == "__main__":
    sys.exit(main())
