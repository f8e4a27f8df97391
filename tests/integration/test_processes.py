"""K worker processes under one supervisor share a group; SIGKILL of one loses nothing, and in
exactly-once mode every id still has exactly one committed result."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid

import pytest

from tests.integration.test_stream_worker import PARTS, _args, _items
from tests.worker_harness import (WorkerProcess, collect, committed_positions, produce, setup_topics,
                                  wait_for_outcomes)


def _child_pids(log: str) -> dict[int, int]:
    """slot -> pid of its latest start, from the supervisor's log."""
    return {int(s): int(p) for s, p in re.findall(r"slot (\d+): started worker pid (\d+)", log)}


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_k_processes_survive_sigkill_of_one(kafka_bootstrap, tmp_path, delivery):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"p-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, bad = _items(1600, corrupt_every=200)
    ids = {k for k, _ in items}
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    args = _args(tin, tout, tdlq, group, "--delivery", delivery, "--procs", "2")
    i = args.index("--num-threads")
    del args[i:i + 2]  # the supervisor divides the cores among its processes
    eos = delivery == "exactly-once"
    env = {"DSW_SESSION_TIMEOUT_MS": "6000"}
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "sup.log", env=env) as sup:
        sup.wait_for_log("slot 1: started worker pid")
        wait_for_outcomes(kafka_bootstrap, tout, tdlq, ids, at_least=250)
        victim = _child_pids(sup.log())[0]
        os.kill(victim, signal.SIGKILL)
        sup.wait_for_log("restarting in", timeout=30)
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=240,
                                  committed_only=eos, settle=3.0))
        # outcomes the killed child published but never committed are redone by the partition's
        # next owner (after the group notices the death): wait for the commits to reach the end
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, PARTS))
            if sum(v or 0 for v in committed.values()) == len(items):
                break
            time.sleep(1)
        assert sup.terminate() == 0, sup.log()[-3000:]
        log = sup.log()
    if eos:  # read again: the redone work is in by now
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=60,
                                  committed_only=True, settle=2.0))
    assert _child_pids(log)[0] != victim, "slot 0 was restarted with a new process"
    assert out.ids == ids, f"lost: {sorted(ids - out.ids)[:10]}"
    assert set(out.dead) == bad
    if eos:
        assert all(c == 1 for c in out.results.values()), \
            [k for k, c in out.results.items() if c != 1][:10]
    committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, PARTS))
    assert sum(committed.values()) == len(items), committed


def test_a_lone_worker_is_restarted_when_it_dies(kafka_bootstrap, tmp_path):
    """Issue 21: with one process nothing restarted a worker that died, and its partitions
    stalled for the session timeout until someone did. Now the supervisor runs it too."""
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"lone-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, _ = _items(600)
    ids = {k for k, _ in items}
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    with WorkerProcess(kafka_bootstrap, _args(tin, tout, tdlq, group), tmp_path / "w.log",
                       env={"DSW_SESSION_TIMEOUT_MS": "6000"}) as w:
        w.wait_for_log("slot 0: started worker pid")
        wait_for_outcomes(kafka_bootstrap, tout, tdlq, ids, at_least=100)
        victim = _child_pids(w.log())[0]
        os.kill(victim, signal.SIGKILL)
        w.wait_for_log("restarting in", timeout=30)
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=180, settle=1.0))
        assert w.proc.poll() is None, "the supervisor itself stays up"
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    assert _child_pids(log)[0] != victim
    assert out.ids == ids, f"lost: {sorted(ids - out.ids)[:10]}"
