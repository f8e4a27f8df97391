"""Regression: records fetched between aiokafka's wake-up with a new assignment and our
on_partitions_assigned callback (slow when committed() is a round trip per partition) must
keep their outcomes. The callback used to replace their epoch: outcomes dropped, positions
committed past them. In-process worker with a stand-in lane, so DALI's speed does not matter."""
from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from tests.kafka_helpers import create_topics
from worker.config import Route, WorkerConfig
from worker.pipeline.runner import SampleResult
from worker.stream.plan import ServedPipeline, compile_plan
from worker.stream.worker import Lane, StreamWorker

PARTS, N = 16, 2000


def _stand_in(samples):
    time.sleep(0.005)
    return [SampleResult(i, True, outputs={"o": np.zeros(2, np.float32)}) for i in range(len(samples))]


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_records_fetched_before_the_assignment_callback_keep_their_outcomes(
        kafka_bootstrap, tmp_path, monkeypatch, delivery):
    tag = uuid.uuid4().hex[:6]
    tin, tout, tdlq, group = f"r-{tag}-in", f"r-{tag}-out", f"r-{tag}-dlq", f"g-{tag}"

    slow_committed = AIOKafkaConsumer.committed

    async def committed(self, tp):  # a broker a few milliseconds away
        await asyncio.sleep(0.02)
        return await slow_committed(self, tp)

    monkeypatch.setattr(AIOKafkaConsumer, "committed", committed)

    async def go():
        await create_topics(kafka_bootstrap, [tin], partitions=PARTS)
        await create_topics(kafka_bootstrap, [tout, tdlq], partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
        await producer.start()
        for i in range(N):
            await producer.send(tin, b"x%05d" % i, key=b"%d" % i, partition=i % PARTS)
        await producer.flush()
        await producer.stop()
        cfg = WorkerConfig(bootstrap_servers=kafka_bootstrap, group_id=group, delivery=delivery,
                           routes=[Route(inputs=[tin], pipeline="stand_in", output=tout, dead_letter=tdlq,
                                         format="raw")],
                           state_dir=str(tmp_path), commit_interval_ms=200).check()
        served = ServedPipeline("stand_in", {"data": (np.dtype(np.uint8), 1)}, 32)
        plan = compile_plan(cfg, {"stand_in": served})
        worker = StreamWorker(cfg, plan, {k: Lane(lp, _stand_in, ThreadPoolExecutor(1))
                                          for k, lp in plan.lanes.items()})
        task = asyncio.create_task(worker.run())
        consumer = AIOKafkaConsumer(tout, tdlq, bootstrap_servers=kafka_bootstrap, group_id=None,
                                    auto_offset_reset="earliest", isolation_level="read_committed")
        await consumer.start()
        seen: set[bytes] = set()
        deadline = time.monotonic() + 90
        while len(seen) < N and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                seen.update(r.key for r in records)
        await consumer.stop()
        worker.request_stop()
        rc = await task
        check = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
        await check.start()
        positions = [await check.committed(TopicPartition(tin, p)) for p in range(PARTS)]
        await check.stop()
        return rc, seen, positions

    rc, seen, positions = asyncio.run(go())
    assert rc == 0
    assert len(seen) == N, f"{N - len(seen)} messages have no outcome"
    assert sum(p or 0 for p in positions) == N, positions
