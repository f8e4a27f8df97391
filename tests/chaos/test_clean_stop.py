"""Chaos (4): SIGTERM mid-stream, then a restart, in at-least-once mode: a clean stop drains
(finishes in-flight batches, publishes, commits), so the restart redoes nothing: no duplicates,
nothing lost.

Driven by what the worker has done, not by time: the SIGTERM goes once 300 outcomes are seen,
and the first worker's pipeline is held to at most 16 images per 100 ms (a fault-injection
delay), so that at least 7 s of work are left then however fast the machine. On an idle machine
the worker once finished all 1,500 messages before the SIGTERM came."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.chaos.helpers import check, items, outcomes, wait_until, worker_args
from tests.worker_harness import WorkerProcess, committed_positions, produce, setup_topics

PARTS = 4
pytestmark = pytest.mark.timeout(240)


def test_sigterm_mid_stream_then_restart_duplicates_nothing(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"st-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    stream, ids = items(1500)
    asyncio.run(produce(kafka_bootstrap, tin, stream, partitions=PARTS))
    args = worker_args(tin, tout, tdlq, group, "at-least-once", "--max-batch-size", "16")
    slow = {"DSW_FAULT_INJECT_DELAY_MS": "100"}
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w1.log", env=slow) as w1:
        wait_until(lambda: len(outcomes(kafka_bootstrap, tout, tdlq, ids, False).ids) >= 300, 120,
                   "300 outcomes", w1.log)
        assert w1.terminate(90) == 0, w1.log()[-4000:]
        assert "drained and stopped" in w1.log()
    first = outcomes(kafka_bootstrap, tout, tdlq, ids, False, timeout=5)
    committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, PARTS))
    assert sum(v or 0 for v in committed.values()) == len(first.ids), (committed, len(first.ids))
    assert len(first.ids) < len(ids), "stopped after the end: nothing left to test"
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w2.log") as w2:
        out = outcomes(kafka_bootstrap, tout, tdlq, ids, False, timeout=180, settle=2.0)
        assert w2.terminate(90) == 0, w2.log()[-4000:]
    check(out, ids, True, f"SIGTERM after {len(first.ids)} then restart, at-least-once")
