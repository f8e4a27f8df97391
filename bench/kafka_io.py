"""Kafka plumbing shared by the broker benchmarks: topics, producing the corpus, collecting
results and turning their timestamps into throughput and latency.

Both the worker (``bench/e2e.py``) and the Pillow baseline (``bench/pil_consumer.py``) publish
results whose msgpack value carries ``source = {topic, partition, offset, timestamp_ms}`` (the
worker's result format, ``worker/stream/results.py``). Latency of one message is the result
record's timestamp minus the input record's timestamp (both CreateTime, set by the producers
on this machine's clock). Throughput is counted between the first and the last result record,
so the time to start a process and join the group is reported apart (``startup_s``).
"""
from __future__ import annotations

import asyncio
import time

import msgpack

from bench import common
from worker.devkafka import MAX_MESSAGE_BYTES as BIG
from worker.devkafka import create_topics  # noqa: F401  (shared with the tests)


async def produce(bootstrap: str, topic: str, data: list[bytes], count: int,
                  rate: float | None = None) -> float:
    """Send ``count`` records cycling over ``data`` (round-robin over partitions); with
    ``rate`` (records/s), paced so the consumer is never behind by a backlog. Returns seconds."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=BIG,
                                linger_ms=5, acks=1)
    await producer.start()
    t0 = time.perf_counter()
    try:
        parts = sorted(await producer.partitions_for(topic))
        futs = []
        for i in range(count):
            if rate:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            futs.append(await producer.send(topic, data[i % len(data)], partition=parts[i % len(parts)]))
            if len(futs) >= 256:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


def result_value(source, outputs: dict | None = None) -> bytes:
    """A result value in the worker's shape (only what the benchmark reads is required)."""
    return msgpack.packb({"v": "1", "kind": "result", "id": f"{source.topic}/{source.partition}/{source.offset}",
                          "source": {"topic": source.topic, "partition": source.partition,
                                     "offset": source.offset, "timestamp_ms": source.timestamp},
                          "outputs": outputs or {}, "created_ms": int(time.time() * 1000)},
                         use_bin_type=True)


class Collector:
    """Reads an output topic from the beginning and keeps (input topic, result ts, input ts)."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.rows: list[tuple[str, int, int]] = []
        self.first_seen: float | None = None  # monotonic time the first result arrived
        self._task = None
        self._stopping = False

    def count(self, input_topic: str) -> int:
        return sum(1 for r in self.rows if r[0] == input_topic)

    async def start(self):
        from aiokafka import AIOKafkaConsumer

        self._consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap,
                                          auto_offset_reset="earliest", enable_auto_commit=False,
                                          fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=BIG)
        await self._consumer.start()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self):
        while not self._stopping:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    try:
                        src = msgpack.unpackb(r.value, raw=False).get("source") or {}
                    except Exception:
                        continue  # not a result (a dead letter on the same topic, say)
                    if self.first_seen is None:
                        self.first_seen = time.monotonic()
                    self.rows.append((src.get("topic"), r.timestamp, src.get("timestamp_ms") or -1))

    async def wait_for(self, input_topic: str, n: int, timeout_s: float, alive=lambda: True) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.count(input_topic) < n:
            if time.monotonic() > deadline or not alive():
                return False
            await asyncio.sleep(0.1)
        return True

    async def stop(self):
        self._stopping = True
        if self._task:
            await self._task
        await self._consumer.stop()


def throughput(rows, input_topic: str, trim: float = 0.1) -> dict:
    """Images/s between the first and the last result; ``steady_images_per_s`` leaves out the
    first and last ``trim`` of the results (start-up, group rebalances as processes join, the
    tail); ``start_ms``/``end_ms`` bound the measured span (result record timestamps)."""
    ts = sorted(r[1] for r in rows if r[0] == input_topic)
    if len(ts) < 2 or ts[-1] == ts[0]:
        return {"results": len(ts), "images_per_s": None}
    span = (ts[-1] - ts[0]) / 1000.0
    out = {"results": len(ts), "seconds": round(span, 3), "images_per_s": round((len(ts) - 1) / span, 1),
           "start_ms": ts[0], "end_ms": ts[-1], "steady_images_per_s": None}
    # results in (t_lo, t_hi] over t_hi - t_lo: results come in batches with one timestamp, and
    # counting the batch at t_lo would credit its images without the time they took
    lo, hi = int(len(ts) * trim), len(ts) - 1 - int(len(ts) * trim)
    if hi - lo >= 10 and ts[hi] > ts[lo]:
        n = sum(1 for t in ts if ts[lo] < t <= ts[hi])
        out["steady_images_per_s"] = round(n / ((ts[hi] - ts[lo]) / 1000.0), 1)
    return out


def latency(rows, input_topic: str) -> dict:
    return common.latency_summary([(r[1] - r[2]) / 1000.0 for r in rows if r[0] == input_topic and r[2] >= 0])
