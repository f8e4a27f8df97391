"""Live reload on the real broker (``--repository-poll-s``): versions added, changed, removed and
broken while messages flow. Each version multiplies its input by its own factor, so every
result shows which version answered; every id must have exactly one outcome across the swaps."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter

import numpy as np
from aiokafka import AIOKafkaConsumer

from tests.kafka_helpers import BIG
from tests.versioned_repo import make_repository, write_version
from tests.worker_harness import WorkerProcess, produce, setup_topics
from worker.stream.messages import decode_dead_letter, decode_result, encode_input

PARTS = 2


def _envelope(i: int, version: int | None = None) -> tuple[str, bytes]:
    key = f"m-{i:05d}"
    x = np.array([i % 97 + 1, 1], dtype=np.int32)
    return key, encode_input(key, {"x": x}, pipeline_version=version)


class Flow:
    """Sends envelopes in small chunks from a thread until stopped: messages flow during a swap."""

    def __init__(self, bootstrap: str, topic: str, start: int = 0, chunk: int = 10, pause_s: float = 0.05):
        self.bootstrap, self.topic, self.next, self.chunk, self.pause_s = bootstrap, topic, start, chunk, pause_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            items = [_envelope(i) for i in range(self.next, self.next + self.chunk)]
            asyncio.run(produce(self.bootstrap, self.topic, items, partitions=PARTS))
            self.next += self.chunk
            time.sleep(self.pause_s)

    def __enter__(self):
        self.thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self.thread.join(60)
        return self.next

    def __exit__(self, *exc):
        self.stop()


async def _collect(bootstrap, tout, tdlq, ids: set[str], timeout: float, settle: float = 2.0):
    """{id: [(pipeline_version, factor)]} of the results, {id: [(reason, error)]} of the dead letters."""
    consumer = AIOKafkaConsumer(tout, tdlq, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=BIG)
    await consumer.start()
    results, dead, done_at = {}, {}, None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    if tp.topic == tout:
                        res = decode_result(r.value)
                        (out,) = res.outputs.values()
                        factor = int(out[1])           # x = [k, 1]: the second value is the factor
                        assert int(out[0]) == factor * (int(res.id[2:]) % 97 + 1), res
                        results.setdefault(res.id, []).append((res.pipeline_version, factor))
                    else:
                        d = decode_dead_letter(r.value, r.headers)
                        dead.setdefault(d.id, []).append((d.reason, d.error))
            if done_at is None and ids <= set(results) | set(dead):
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= settle:
                break
    finally:
        await consumer.stop()
    return results, dead


def _args(repo, tin, tout, tdlq, group, *extra):
    return ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", group,
            "--pipeline", "times", "--repository", str(repo), "--repository-poll-s", "0.5",
            "--max-delay-ms", "20", "--commit-interval-ms", "300", "--num-threads", "1", *extra]


def test_versions_swap_while_messages_flow(kafka_bootstrap, tmp_path):
    """Version 2 is added (serialized) next to 1 (Python); a broken version 3 pushes 1 out of
    latest 2 and fails, so 2 serves alone (as Triton does); its fix is swapped in; a broken
    change to version 2 keeps the old 2 serving. Every id has one result, from the version
    served when it arrived, and each result's values are those of the version it names."""
    repo = make_repository(tmp_path / "repo", versions={1: "py"}, policy="{ latest { num_versions: 2 } }")
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"lr-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    with WorkerProcess(kafka_bootstrap, _args(repo, tin, tout, tdlq, group), tmp_path / "w.log") as w:
        w.wait_for_log("assigned", timeout=180)
        with Flow(kafka_bootstrap, tin) as flow:
            time.sleep(2)
            write_version(repo, "times", 2, "serialized")                     # added
            w.wait_for_log("now serving times versions 1, 2", timeout=120)
            time.sleep(2)
            d3 = write_version(repo, "times", 3)                              # added, broken
            (d3 / "dali.py").write_text("raise RuntimeError('version three is broken')\n")
            w.wait_for_log("model times version 3 failed to load", timeout=120)
            time.sleep(2)
            write_version(repo, "times", 3, factor=30)                       # fixed: serves 2, 3
            w.wait_for_log("now serving times versions 2, 3", timeout=120)
            time.sleep(2)
            (repo / "times" / "2" / "model.dali").write_bytes(b"not a pipeline")   # changed, broken
            w.wait_for_log("model times version 2 failed to load", timeout=120)
            time.sleep(1)
            last = flow.stop()
        # one message naming a version no longer served, and one naming a served one
        asyncio.run(produce(kafka_bootstrap, tin, [_envelope(last, version=1), _envelope(last + 1, version=2)]))
        ids = {f"m-{i:05d}" for i in range(last + 2)}
        results, dead = asyncio.run(_collect(kafka_bootstrap, tout, tdlq, ids, timeout=240))
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    assert set(results) | set(dead) == ids, f"lost: {sorted(ids - set(results) - set(dead))[:10]}"
    assert not {k for k, v in results.items() if len(v) > 1}, "an id answered twice"
    assert set(dead) == {f"m-{last:05d}"}, dead
    ((reason, error),) = dead[f"m-{last:05d}"]
    assert reason == "version_not_served"
    assert "asks for version 1 of pipeline 'times', which is not served" in error
    assert "version_policy serves versions 2, 3" in error
    assert results[f"m-{last + 1:05d}"] == [(2, 2)]
    answered = Counter(results[k][0] for k in results)
    by_id = sorted((int(k[2:]), v[0]) for k, v in results.items() if int(k[2:]) < last)
    versions = [v for _, (v, _f) in by_id]
    # each result's values are those of the version it names (1 -> 1, 2 -> 2, 3 -> 30) ...
    assert {v: f for (v, f) in answered} == {1: 1, 2: 2, 3: 30}, answered
    # ... and the default moved forward only: 1, then 2, then 3 (per partition, in offset order)
    first = {v: min(i for i, (vv, _) in by_id if vv == v) for v in (1, 2, 3)}
    assert first[1] < first[2] < first[3], first
    assert versions[0] == 1 and versions[-1] == 3
    assert "version three is broken); version 3 is not served" in log
    assert "version 2 keeps serving as before" in log
    assert "released pipeline times version 1" in log
