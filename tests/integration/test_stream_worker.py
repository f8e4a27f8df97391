"""The streaming worker against the real broker: every input ends as exactly one outcome, and
nothing is lost when a worker is killed or leaves its group."""
from __future__ import annotations

import asyncio
import uuid

import msgpack
import numpy as np
import pytest

from tests.worker_harness import (WorkerProcess, collect, committed_positions, corrupt_jpeg, produce,
                                  setup_topics, small_jpegs, wait_for_outcomes)

PARTS = 4


def _items(n: int, corrupt_every: int = 0, seed: int = 0) -> tuple[list[tuple[str, bytes]], set[str]]:
    photos = small_jpegs(16, seed)
    items, bad = [], set()
    for i in range(n):
        key = f"img-{i:05d}"
        if corrupt_every and i % corrupt_every == corrupt_every - 1:
            items.append((key, corrupt_jpeg(i)))
            bad.add(key)
        else:
            items.append((key, photos[i % len(photos)]))
    return items, bad


def _args(tin, tout, tdlq, group, *extra):
    return ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", group,
            "--pipeline", "classify_reduce", "--max-delay-ms", "20", "--commit-interval-ms", "300",
            "--num-threads", "2", *extra]


def test_2000_messages_20_corrupt(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"s-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, bad = _items(2000, corrupt_every=100)
    assert len(bad) == 20
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    with WorkerProcess(kafka_bootstrap, _args(tin, tout, tdlq, group), tmp_path / "w.log") as w:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids={k for k, _ in items},
                                  timeout=240, settle=1.0))
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    assert len(out.results) == 1980 and set(out.results) == {k for k, _ in items} - bad
    assert set(out.dead) == bad
    assert all(reasons == ["decode_error"] for reasons in out.dead.values())
    assert all(c == 1 for c in out.results.values()), "every id once"
    # drained: everything consumed is committed, per partition
    committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, PARTS))
    assert sum(committed.values()) == 2000, committed
    assert "assigned" in log and "dead letter" in log


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_kill9_then_restart_loses_nothing(kafka_bootstrap, tmp_path, delivery):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"k-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, bad = _items(1500, corrupt_every=150)
    ids = {k for k, _ in items}
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    args = _args(tin, tout, tdlq, group, "--delivery", delivery)
    eos = delivery == "exactly-once"
    fast = {"DSW_SESSION_TIMEOUT_MS": "6000"}  # the dead member's partitions move after 6 s, not 30
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w1.log", env=fast) as w1:
        # let it get well into the stream, then kill it without warning
        seen = wait_for_outcomes(kafka_bootstrap, tout, tdlq, ids, at_least=300)
        assert len(seen.ids) >= 300, w1.log()[-3000:]
        w1.kill9()
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w2.log", env=fast) as w2:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=240,
                                  committed_only=eos, settle=3.0))
        assert w2.terminate() == 0, w2.log()[-3000:]
    assert out.ids == ids, f"lost: {sorted(ids - out.ids)[:10]}"
    assert set(out.dead) == bad
    if eos:
        dupes = {k: c for k, c in out.results.items() if c != 1}
        assert not dupes, f"exactly-once broken: {list(dupes.items())[:10]}"
        assert all(len(r) == 1 for r in out.dead.values())


def test_two_workers_share_partitions_and_one_leaves(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"t-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, _ = _items(1600)
    ids = {k for k, _ in items}
    args = _args(tin, tout, tdlq, group)
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "a.log") as a, \
            WorkerProcess(kafka_bootstrap, args, tmp_path / "b.log") as b:
        a.wait_for_log("assigned"), b.wait_for_log("assigned")
        asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
        wait_for_outcomes(kafka_bootstrap, tout, tdlq, ids, at_least=200)
        assert b.terminate() == 0, b.log()[-3000:]  # leaves mid-stream: drains, commits, exits
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=ids, timeout=240, settle=1.0))
        assert a.terminate() == 0
        logs = a.log() + b.log()
    assert out.ids == ids, f"lost: {sorted(ids - out.ids)[:10]}"
    assert not out.dead
    assert "revoked" in logs


def test_every_kind_of_bad_input_gets_a_dead_letter_and_the_partition_moves_on(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"b-{uuid.uuid4().hex[:6]}", 1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    jpeg = small_jpegs(1)[0]

    def env(**kw):
        return msgpack.packb({"v": "1.0", **kw}, use_bin_type=True)

    cases = {
        "good-raw": (jpeg, None),
        "corrupt": (corrupt_jpeg(1), "decode_error"),
        "malformed": (b"\x85\xa1v\xa31.0\xff\xff", "malformed_msgpack"),
        "future": (env(v="2.0", id="future", inputs={"image": jpeg}), "unsupported_version"),
        "nopipe": (env(id="nopipe", pipeline="no_such_pipeline", inputs={"image": jpeg}), "unknown_pipeline"),
        "badinput": (env(id="badinput", inputs={"pictures": jpeg}), "unknown_input"),
        "dtype": (env(id="dtype", inputs={"image": {"dtype": "float32", "shape": [4],
                                                       "data": np.zeros(4, np.float32).tobytes()}}), "wrong_dtype"),
        "huge": (b"\xff\xd8" + b"\0" * 300_000, "oversized"),
        "empty": (b"", "empty_value"),
        "good-env": (env(id="good-env", inputs={"image": jpeg}, meta={"camera": 7}), None),
    }
    items = [(k, v) for k, (v, _) in cases.items()]
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=1))
    args = _args(tin, tout, tdlq, group, "--max-message-bytes", "200000")
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids=set(cases), timeout=120, settle=0.5))
        assert w.terminate() == 0
        log = w.log()
    assert set(out.results) == {"good-raw", "good-env"}, (dict(out.results), out.dead, log[-3000:])
    for key, (_, reason) in cases.items():
        if reason:
            assert out.dead.get(key) == [reason], (key, out.dead.get(key))
    committed = asyncio.run(committed_positions(kafka_bootstrap, group, tin, 1))
    assert committed[0] == len(cases), "the partition moved past every dead letter"


def test_a_message_that_crashes_the_worker_is_dead_lettered_after_two_crashes(kafka_bootstrap, tmp_path):
    """A poison message (here: one that makes the process SIGSEGV in DALI's thread, as a corrupt
    file can with DALI 2.4's CPU decoder) must not crash its worker forever."""
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"x-{uuid.uuid4().hex[:6]}", 1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, _ = _items(120)
    poison = small_jpegs(1)[0][:-2] + b"POISON-PILL\xff\xd9"
    items.insert(57, ("poison", poison))
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=1))
    # DALI in the worker's own process (the journal is what protects that mode), no supervisor:
    # the test restarts it, to see each crash
    args = _args(tin, tout, tdlq, group, "--no-supervise", "--no-isolate-dali")
    env = {"DSW_FAULT_INJECT_CRASH": "POISON-PILL", "DSW_STATE_DIR": str(tmp_path / "state"),
           "DSW_SESSION_TIMEOUT_MS": "6000"}
    codes = []
    for attempt in range(3):
        with WorkerProcess(kafka_bootstrap, args, tmp_path / f"w{attempt}.log", env=env) as w:
            if attempt < 2:  # the first run crashes in the batch, the second with it alone
                try:
                    codes.append(w.proc.wait(90))
                except Exception:
                    raise AssertionError(w.log()[-3000:])
                continue
            out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids={k for k, _ in items},
                                      timeout=120, settle=0.5))
            assert w.terminate() == 0, w.log()[-3000:]
            assert "set aside" in w.log()
    assert codes == [-11, -11]
    assert set(out.results) == {k for k, _ in items} - {"poison"}
    assert out.dead == {"poison": ["pipeline_error"]}


def test_a_message_that_crashes_dali_costs_only_itself_with_isolation(kafka_bootstrap, tmp_path):
    """The default: DALI runs in a child process. The same poison message kills only the child
    (twice, run alone), gets its dead letter, and the worker never stops (issue 21)."""
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"xi-{uuid.uuid4().hex[:6]}", 1)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, _ = _items(120)
    poison = small_jpegs(1)[0][:-2] + b"POISON-PILL\xff\xd9"
    items.insert(57, ("poison", poison))
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=1))
    env = {"DSW_FAULT_INJECT_CRASH": "POISON-PILL", "DSW_STATE_DIR": str(tmp_path / "state")}
    with WorkerProcess(kafka_bootstrap, _args(tin, tout, tdlq, group), tmp_path / "w.log", env=env) as w:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids={k for k, _ in items},
                                  timeout=120, settle=0.5))
        assert w.proc.poll() is None, w.log()[-3000:]
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    assert set(out.results) == {k for k, _ in items} - {"poison"}
    assert out.dead == {"poison": ["decode_error"]}
    assert "exited with" not in log, "the worker process itself never died"


def test_a_heavy_mix_of_corrupt_jpegs_loses_no_good_image_and_no_worker(kafka_bootstrap, tmp_path):
    """Issue 21: 600 corrupt among 100 good crashed DALI's CPU decoder in 3 of 4 runs, stalled
    the group and dead-lettered good images. Here 200 corrupt JPEGs that pass the signature
    screen, among 60 photos, through one worker (DALI isolated in its child, the default): every
    photo gets its result, every message one outcome, dead letters say why, the worker lives."""
    from tests.corrupt_images import KINDS, mixed

    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"cm-{uuid.uuid4().hex[:6]}", 2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    # size_lie can declare a frame that takes DALI ~40 s to decode: left to the header cap
    items = mixed(200, 60, seed=3, kinds=[k for k in KINDS if k != "size_lie"])
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=2))
    args = _args(tin, tout, tdlq, group) + ["--max-batch-size", "32"]
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        out = asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids={k for k, _ in items},
                                  timeout=240, settle=1.0))
        assert w.proc.poll() is None, w.log()[-3000:]
        assert w.terminate() == 0, w.log()[-3000:]
        log = w.log()
    good = {k for k, _ in items if k.startswith("good-")}
    assert good <= set(out.results), f"good images without a result: {sorted(good - set(out.results))}"
    assert out.ids == {k for k, _ in items}
    assert all(c == 1 for c in out.results.values()) and not set(out.results) & set(out.dead)
    # DALI decodes some damaged files anyway (flipped entropy bytes, spliced scans): those are
    # results; the others are refused by the header check or by DALI
    assert len(out.dead) >= 80, len(out.dead)
    # damaged headers may also declare absurd sizes: refused by the cap before decoding
    allowed = {"decode_error", "unreadable_header", "image_too_large"}
    odd = {k: r for k, r in out.dead.items() if len(r) != 1 or r[0] not in allowed}
    assert not odd, odd
    assert "exited with" not in log, "the worker process itself never died"
