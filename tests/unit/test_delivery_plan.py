"""Exactly-once release: a finished unit enters a transaction only with every lower offset of
its partitions, and the positions committed with it never pass unfinished or held work."""
from worker.stream.delivery import OutRecord, Unit, plan_release
from worker.stream.offsets import OffsetTracker

A, B = ("in", 0), ("in", 1)


def unit(*coords):
    return Unit([OutRecord("out", b"", None, tp, off, 1) for tp, off in coords])


def tracker_with(begun):
    t = OffsetTracker()
    for tp in (A, B):
        t.assign(tp)
    for tp, off in begun:
        t.begin(tp, off)
    return t


def finish(t, u):
    for r in u.records:
        t.finish(r.source, r.offset, r.epoch)


def test_a_unit_above_a_gap_waits():
    t = tracker_with([(A, 0), (A, 1), (A, 2)])
    late = unit((A, 1), (A, 2))
    finish(t, late)  # offset 0 still running
    units, positions = plan_release([late], t, {})
    assert units == [] and positions == {}
    first = unit((A, 0))
    finish(t, first)
    units, positions = plan_release([late, first], t, {})
    assert {id(u) for u in units} == {id(late), id(first)} and positions == {A: 3}


def test_a_held_unit_holds_back_the_units_it_spans():
    # u1 spans A and B; B's lower offset 10 is still running, so u1 waits, and so does u2
    # (A only, above u1's A offset): committing A past u1 would lose u1 on a crash
    t = tracker_with([(B, 10), (A, 0), (B, 11), (A, 1)])
    u1, u2 = unit((A, 0), (B, 11)), unit((A, 1))
    finish(t, u1), finish(t, u2)
    units, positions = plan_release([u1, u2], t, {})
    assert units == [] and positions == {}
    u0 = unit((B, 10))
    finish(t, u0)
    units, positions = plan_release([u1, u2, u0], t, {})
    assert len(units) == 3 and positions == {A: 2, B: 12}


def test_nothing_moves_below_what_is_committed():
    t = tracker_with([(A, 5)])
    u = unit((A, 5))
    finish(t, u)
    units, positions = plan_release([u], t, {A: 5})
    assert units == [u] and positions == {A: 6}
    assert plan_release([], t, {A: 6}) == ([], {})
