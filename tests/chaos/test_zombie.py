"""Chaos (1): a zombie in exactly-once mode. Worker A stops itself (SIGSTOP, the way a long GC
pause or a frozen VM stops a process) right before the transaction that would publish a finished
batch; its session times out, the group gives every partition to worker B, B processes and
commits them; then A is continued and tries its transaction with its stale group membership.
read_committed must show every input exactly once."""
from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from tests.chaos.helpers import wait_until, worker_args
from tests.worker_harness import WorkerProcess, collect, produce, setup_topics, small_jpegs

PARTS = 4
N = 400
WAVE = 200  # after the zombie is back
STOP_KEY = "img-00100"  # A stops before the transaction that carries this input's result

pytestmark = pytest.mark.timeout(300)


def _env(prefix: str, **extra) -> dict:
    # 6 s: the stopped member leaves the group after 6 s rather than 30
    return {"DSW_SESSION_TIMEOUT_MS": "6000", "DSW_TRANSACTIONAL_ID_PREFIX": prefix, **extra}


def test_zombie_cannot_commit_after_its_partitions_moved(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"z-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    photos = small_jpegs(8)
    items = [(f"img-{i:05d}", photos[i % len(photos)]) for i in range(N)]
    ids = {k for k, _ in items}
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    args = worker_args(tin, tout, tdlq, group, "exactly-once", "--no-supervise")
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "a.log",
                       env=_env("zombie-a", DSW_FAULT_STOP_BEFORE_COMMIT=STOP_KEY)) as a:
        a.wait_for_log("stopping itself before the transaction", timeout=120)
        wait_until(lambda: _stopped(a.proc.pid), 30, "worker A to be stopped", a.log)
        with WorkerProcess(kafka_bootstrap, args, tmp_path / "b.log", env=_env("zombie-b")) as b:
            # B gets every partition once A's session has expired, and publishes all of it
            seen = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=180,
                                       committed_only=True))
            assert seen.ids == ids, f"B did not take over: {len(seen.ids)} of {N}\n{b.log()[-3000:]}"
            assert STOP_KEY in seen.results
            os.killpg(a.proc.pid, signal.SIGCONT)  # the zombie wakes up holding its batch
            # A learns it was evicted, rejoins and gets a share of the partitions again
            wait_until(lambda: a.log().count("assigned [") >= 2, 90, "A to rejoin the group", a.log)
            # a second wave, so that A commits transactions again: its refused one must have been
            # aborted on the broker, not left open for the next commit to publish
            wave = [(f"img-{i:05d}", photos[i % len(photos)]) for i in range(N, N + WAVE)]
            asyncio.run(produce(kafka_bootstrap, tin, wave, partitions=PARTS))
            ids = ids | {k for k, _ in wave}
            asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=120, committed_only=True))
            assert "drained" not in a.log() and a.proc.poll() is None
            assert b.terminate() == 0, b.log()[-3000:]
            assert a.terminate() == 0, a.log()[-3000:]
            logs = a.log() + b.log()
            # A owned partitions during the wave, so it committed some of the wave's results
            a_partitions = a.log().rsplit("assigned [", 1)[1].split("]", 1)[0]
    out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=60,
                              committed_only=True, settle=2.0))
    dupes = {k: c for k, c in out.results.items() if c != 1}
    lost = ids - out.ids
    print(f"zombie: {len(out.results)} ids, {sum(out.results.values()) - len(out.results)} duplicate "
          f"results ({len(dupes)} ids), {len(lost)} lost, {len(out.dead)} dead letters")
    assert not lost, f"lost: {sorted(lost)[:10]}"
    assert not out.dead, out.dead
    assert not dupes, f"the zombie's transaction committed: {len(dupes)} ids twice, e.g. {sorted(dupes)[:5]}"
    assert "evicted" in logs, "A should say why its transaction was aborted"
    assert a_partitions.strip(), "A owned nothing in the second wave: the test proves less than it should"


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False
