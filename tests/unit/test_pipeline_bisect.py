"""Bisection of failing batches, with a fake run function (no DALI)."""
import pytest

from worker.pipeline.bisect import run_isolating


def fake(bad: set[int], calls: list):
    def run(items):
        calls.append(list(items))
        hit = [i for i in items if i in bad]
        if hit:
            raise RuntimeError(f"bad {hit}")
        return [f"out{i}" for i in items]
    return run


@pytest.mark.parametrize("n,bad", [(1, set()), (1, {0}), (32, {3, 17, 30}), (7, {0, 6}),
                                   (16, set(range(16))), (5, {2})])
def test_isolates_exactly_the_bad(n, bad):
    calls = []
    good, errors = run_isolating(fake(bad, calls), range(n))
    assert set(errors) == bad
    assert good == {i: f"out{i}" for i in range(n) if i not in bad}
    for i in bad:
        assert str(errors[i]) == f"bad [{i}]"   # each bad one's own error, alone


def test_good_batch_runs_once():
    calls = []
    run_isolating(fake(set(), calls), range(32))
    assert calls == [list(range(32))]


def test_cost_is_logarithmic():
    calls = []
    run_isolating(fake({5}, calls), range(64))
    assert len(calls) <= 1 + 2 * 6


def test_empty():
    assert run_isolating(fake(set(), []), []) == ({}, {})


def test_singles_split():
    from worker.pipeline.bisect import singles

    calls = []
    good, errors = run_isolating(fake({2, 5}, calls), range(8), split=singles)
    assert set(errors) == {2, 5} and len(good) == 6
    assert calls[0] == list(range(8)) and all(len(c) == 1 for c in calls[1:])
