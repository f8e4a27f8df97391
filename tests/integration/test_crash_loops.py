"""Messages that used to stop a partition for good (issue 21): the worker exited on each of them,
and again after every restart. Each must end as a dead letter while the worker keeps going and
commits to the end, in both delivery modes."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.worker_harness import WorkerProcess, collect, committed_positions, produce, setup_topics, small_jpegs
from worker.stream.messages import encode_input

PARTS = 2


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_hostile_envelopes_are_dead_letters_and_the_worker_goes_on(kafka_bootstrap, tmp_path, delivery):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"cl-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    photo = small_jpegs(1)[0]
    hostile = {
        "to-offsets": encode_input("to-offsets", {"image": photo}, reply_to="__consumer_offsets"),
        "to-txn-state": encode_input("to-txn-state", {"image": photo}, reply_to="__transaction_state"),
        "to-input": encode_input("to-input", {"image": photo}, reply_to=tin),
        "to-dlq": encode_input("to-dlq", {"image": photo}, reply_to=tdlq),
        # a 10 MiB pipeline name once made a 31 MB dead letter that the broker refused
        "huge-name": encode_input("huge-name", {"image": photo}, pipeline="p" * (10 * 2**20)),
    }
    expected = {"to-offsets": "reply_to_refused", "to-txn-state": "reply_to_refused",
                "to-input": "reply_to_refused", "to-dlq": "reply_to_refused",
                "huge-name": "unknown_pipeline"}
    items = [(f"good-{i}", photo) for i in range(10)]
    items[3:3] = list(hostile.items())
    items += [(f"good-{i}", photo) for i in range(10, 20)]
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    args = ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", group,
            "--pipeline", "classify_reduce", "--max-delay-ms", "20", "--commit-interval-ms", "300",
            "--num-threads", "2", "--delivery", delivery]
    ids = {k for k, _ in items}
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=120, settle=1.0,
                                  committed_only=delivery == "exactly-once"))
        assert w.proc.poll() is None, f"the worker stopped:\n{w.log()[-3000:]}"
        assert w.terminate() == 0, w.log()[-3000:]
    assert set(out.results) == {k for k in ids if k.startswith("good-")}
    assert {k: v for k, v in out.dead.items()} == {k: [r] for k, r in expected.items()}
    committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, PARTS))
    assert sum(committed.values()) == len(items), committed
