"""The offset tracker: commit only below the lowest offset still in flight."""
import random

from worker.stream.offsets import OffsetTracker

TP = ("in", 0)


def test_out_of_order_completions_never_commit_past_unfinished_work():
    t = OffsetTracker()
    e = t.assign(TP)
    for off in range(10, 16):
        t.begin(TP, off)
    assert t.committable() == {TP: 10}
    t.mark_committed({TP: 10})
    # 12, 15 and 11 finish first: 10 is still in flight, nothing may move
    for off in (12, 15, 11):
        assert t.finish(TP, off, e)
        assert t.committable() == {}
    t.finish(TP, 10, e)          # 10..12 done, 13 in flight
    assert t.committable() == {TP: 13}
    t.mark_committed({TP: 13})
    t.finish(TP, 14, e)
    assert t.committable() == {}
    t.finish(TP, 13, e)          # everything done: one past the last offset seen
    assert t.committable() == {TP: 16}


def test_randomized_against_brute_force():
    rng = random.Random(7)
    for _ in range(200):
        t = OffsetTracker()
        e = t.assign(TP)
        start = rng.randrange(0, 1000)
        # offsets with gaps, as transaction markers or compaction leave them
        offsets, off = [], start
        for _ in range(rng.randrange(1, 40)):
            offsets.append(off)
            off += rng.choice((1, 1, 1, 2, 3))
        for o in offsets:
            t.begin(TP, o)
        done = set()
        last_committed = None
        for o in rng.sample(offsets, len(offsets)):
            t.finish(TP, o, e)
            done.add(o)
            pending = [x for x in offsets if x not in done]
            expected = min(pending) if pending else offsets[-1] + 1
            assert t.position(TP) == expected
            c = t.committable()
            if last_committed is None or expected > last_committed:
                assert c == {TP: expected}
                t.mark_committed(c)
                last_committed = expected
            else:
                assert c == {}
            # the invariant that matters: nothing below the committed position is unfinished
            assert all(x in done for x in offsets if x < last_committed)


def test_work_from_a_revoked_assignment_is_ignored():
    t = OffsetTracker()
    e1 = t.assign(TP)
    t.begin(TP, 5)
    t.revoke(TP)
    assert t.committable() == {}
    e2 = t.assign(TP, committed=5)
    t.begin(TP, 5)
    assert not t.finish(TP, 5, e1)   # the old batch finishing late changes nothing
    assert t.committable() == {}     # position 5 == committed 5
    assert t.finish(TP, 5, e2)
    assert t.committable() == {TP: 6}


def test_partitions_are_independent():
    t = OffsetTracker()
    a, b = ("in", 0), ("in", 1)
    ea, eb = t.assign(a), t.assign(b)
    t.begin(a, 0); t.begin(b, 100); t.begin(a, 1)
    t.finish(a, 1, ea); t.finish(b, 100, eb)
    assert t.committable() == {a: 0, b: 101}


def test_a_record_fetched_twice_is_begun_once():
    t = OffsetTracker()
    assert t.begin(TP, 1) == 1
    assert t.begin(TP, 1) is None  # a position reset fetched it again: skip this copy


def test_records_begun_before_on_assigned_keep_their_epoch():
    """aiokafka wakes getmany() with a new assignment before on_partitions_assigned runs: the
    assignment callback must not orphan the work those records began (it did: a loss)."""
    t = OffsetTracker()
    e = t.begin(TP, 10)
    assert t.assign(TP, committed=10) == e
    assert t.finish(TP, 10, e)
    assert t.committable() == {TP: 11}
    t.revoke(TP)
    assert t.assign(TP, committed=11) == e + 1  # the next assignment is a new epoch
