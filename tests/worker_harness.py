"""Run `dali-worker run` as a real process against the real broker, feed it, read what it wrote."""
from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from tests.kafka_helpers import BIG, create_topics

ROOT = Path(__file__).resolve().parents[1]


def small_jpegs(n_distinct: int = 16, seed: int = 0) -> list[bytes]:
    """Real photographs (scikit-image's), small so that CPU tests run thousands of them fast."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for i in range(n_distinct):
        img = Image.fromarray(photos[i % len(photos)])
        side = int(rng.integers(64, 160))
        img = img.resize((side, int(side * img.height / img.width)))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(75, 95)))
        out.append(buf.getvalue())
    return out


def corrupt_jpeg(i: int) -> bytes:
    """A JPEG whose headers read well (so the header check lets it through, and it is
    auto-detected as raw media) but that DALI cannot decode: its frame header points the first
    component at quantization table 3, which the file never defines (libjpeg: "Quantization
    table 0x03 was not defined"). A comment segment holding ``i`` makes each one distinct."""
    data = bytearray(small_jpegs(1)[0])
    sof = next(j for j in range(2, len(data) - 1) if data[j] == 0xFF and data[j + 1] in (0xC0, 0xC1, 0xC2))
    data[sof + 12] = 3  # marker 2, length 2, precision 1, height 2, width 2, count 1, id 1, sampling 1
    comment = b"\xff\xfe" + (2 + 8).to_bytes(2, "big") + b"%08d" % i
    return bytes(data[:2]) + comment + bytes(data[2:])


@dataclass
class Outputs:
    results: dict[str, int] = field(default_factory=Counter)
    dead: dict[str, list[str]] = field(default_factory=dict)  # id -> reasons

    @property
    def ids(self) -> set[str]:
        return set(self.results) | set(self.dead)


async def produce(bootstrap: str, topic: str, items: list[tuple[str, bytes]], partitions: int | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=BIG, acks="all",
                                enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futs = []
        for i, (key, value) in enumerate(items):
            part = None if partitions is None else i % partitions
            futs.append(await producer.send(topic, value, key=key.encode(), partition=part))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def collect(bootstrap: str, results_topic: str, dead_topic: str, *, expect_ids: set[str],
                  timeout: float, committed_only: bool = False, settle: float = 0.0) -> Outputs:
    """Read both topics from the beginning until every expected id has an outcome (then ``settle``
    seconds more, to catch duplicates) or ``timeout``."""
    from worker.stream.messages import decode_dead_letter, decode_result

    consumer = AIOKafkaConsumer(results_topic, dead_topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=BIG,
                                fetch_max_bytes=BIG * 4,
                                isolation_level="read_committed" if committed_only else "read_uncommitted")
    await consumer.start()
    out = Outputs()
    deadline = time.monotonic() + timeout
    done_at = None
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    if tp.topic == results_topic:
                        out.results[decode_result(r.value).id] += 1
                    else:
                        dl = decode_dead_letter(r.value, r.headers)
                        out.dead.setdefault(dl.id, []).append(dl.reason)
            if done_at is None and expect_ids <= out.ids:
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= settle:
                break
    finally:
        await consumer.stop()
    return out


def wait_for_outcomes(bootstrap: str, results_topic: str, dead_topic: str, ids: set[str], at_least: int,
                      timeout: float = 120) -> Outputs:
    """Block until at least ``at_least`` of ``ids`` have an outcome (a point mid-stream to kill
    or stop a worker at); returns what was seen."""
    deadline = time.monotonic() + timeout
    seen = Outputs()
    while time.monotonic() < deadline:
        seen = asyncio.run(collect(bootstrap, results_topic, dead_topic, expect_ids=ids, timeout=1.0))
        if len(seen.ids) >= at_least:
            break
    return seen


async def committed_positions(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()


# asyncio's words for an exception nobody awaited: an error the worker lost track of (issue 28:
# a fenced exactly-once producer left these); a worker log holding one fails its test
UNRETRIEVED = ("Future exception was never retrieved", "Task exception was never retrieved")


def unretrieved(log: str) -> list[str]:
    """The lines of ``log`` where asyncio reports an exception that nobody retrieved."""
    return [line for line in log.splitlines() if any(u in line for u in UNRETRIEVED)]


class WorkerProcess:
    """`python -m worker run ...` with its log kept for assertions and failure messages. On a
    clean exit from its ``with`` block the log is scanned: an exception that asyncio reports as
    never retrieved fails the test (``UNRETRIEVED``)."""

    def __init__(self, bootstrap: str, args: list[str], log_path: Path, env: dict | None = None):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        full_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1",
                    **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "worker", "run", *args], cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker log never said {text!r}:\n{self.log()[-4000:]}")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"worker did not drain within {timeout}s:\n{self.log()[-4000:]}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self.proc.poll() is None:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()
        if exc_type is None:
            lost = unretrieved(self.log())
            assert not lost, (f"the worker's log reports {len(lost)} exception(s) never retrieved "
                              f"({self.log_path}):\n" + "\n".join(lost[:5]) + "\n" + self.log()[-4000:])


def setup_topics(bootstrap: str, prefix: str, partitions: int = 4) -> tuple[str, str, str]:
    names = (f"{prefix}-in", f"{prefix}-out", f"{prefix}-dlq")
    asyncio.run(create_topics(bootstrap, list(names), partitions=partitions))
    return names
