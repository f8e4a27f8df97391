"""Find the failing samples of a batch that DALI refused as a whole.

DALI fails a whole batch when one sample is bad (e.g. a corrupt JPEG), and its message does
not say which sample (the image decoder's ``'#3'`` is nvImageCodec's status code, not an
index). So we re-run halves of the failing batch until every failing sample stands alone: about
``2 * log2(batch)`` extra runs per bad sample, none for a good batch. Good samples come back
with their outputs; each bad one with the error of running it alone. ``run`` must leave the
pipeline usable after a failure (DALI's dynamic executor does).
"""
from __future__ import annotations

from typing import Callable, Sequence

RunFn = Callable[[Sequence[int]], list]     # indices -> per-sample outputs, or raises


def halves(items: list[int]) -> list[list[int]]:
    mid = len(items) // 2
    return [items[:mid], items[mid:]]


def singles(items: list[int]) -> list[list[int]]:
    """One sample per run: more runs than halves, but no failing run has other samples in it
    (the safe way with DALI 2.4's CPU image decoder, see ``suspect.py``)."""
    return [[i] for i in items]


def isolate(run: RunFn, items: Sequence[int], error: BaseException, good: dict, bad: dict,
            split=halves) -> None:
    """``items`` failed together with ``error``; fill ``good`` {index: outputs} and ``bad``
    {index: exception} by re-running parts chosen by ``split``."""
    items = list(items)
    if len(items) == 1:
        bad[items[0]] = error
        return
    for part in split(items):
        if part:
            _try(run, part, good, bad, split)


def _try(run: RunFn, items: list[int], good: dict, bad: dict, split=halves) -> None:
    try:
        outs = run(items)
    except Exception as e:
        isolate(run, items, e, good, bad, split)
        return
    good.update(zip(items, outs))


def run_isolating(run: RunFn, items: Sequence[int], split=halves) -> tuple[dict, dict]:
    """Run ``items`` as one batch; on failure, isolate the bad samples. Returns (good, bad)."""
    good: dict = {}
    bad: dict = {}
    if items:
        _try(run, list(items), good, bad, split)
    return good, bad
