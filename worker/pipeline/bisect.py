"""Find the failing samples of a batch that DALI refused as a whole.

DALI fails a whole batch when one sample is bad (e.g. a corrupt JPEG), and its message does
not say which sample (the image decoder's ``'#3'`` is nvImageCodec's status code, not an
index). So we re-run halves of the failing batch until every failing sample stands alone: about
``2 * log2(batch)`` extra runs per bad sample, none for a good batch. Good samples come back
with their outputs; each bad one with the error of running it alone. ``run`` must leave the
pipeline usable after a failure (the runner rebuilds it).
"""
from __future__ import annotations

from typing import Callable, Sequence

RunFn = Callable[[Sequence[int]], list]     # indices -> per-sample outputs, or raises


def isolate(run: RunFn, items: Sequence[int], error: BaseException, good: dict, bad: dict) -> None:
    """``items`` failed together with ``error``; fill ``good`` {index: outputs} and ``bad``
    {index: exception} by re-running halves."""
    items = list(items)
    if len(items) == 1:
        bad[items[0]] = error
        return
    mid = len(items) // 2
    for part in (items[:mid], items[mid:]):
        _try(run, part, good, bad)


def _try(run: RunFn, items: list[int], good: dict, bad: dict) -> None:
    try:
        outs = run(items)
    except Exception as e:
        isolate(run, items, e, good, bad)
        return
    good.update(zip(items, outs))


def run_isolating(run: RunFn, items: Sequence[int]) -> tuple[dict, dict]:
    """Run ``items`` as one batch; on failure, isolate the bad samples. Returns (good, bad)."""
    good: dict = {}
    bad: dict = {}
    if items:
        _try(run, list(items), good, bad)
    return good, bad
