"""Micro-batches: accumulate samples per pipeline until the batch is full or its oldest
sample has waited long enough.

A topic rarely delivers exactly ``max_batch_size`` messages at a time; flushing only when full
would hold a trickle of requests forever (MLServer #777 is users asking for exactly this), and
flushing on every poll would run DALI at batch 1. So a batch leaves when it is full *or* when its
oldest sample is ``max_delay_ms`` old, whichever comes first. Samples from all partitions share a
batch: the pipeline does not care where an image came from, and the offset tracker keeps the
commit order per partition.

A batch also has a memory budget (issue 28): each item may weigh something (its decoded size,
which the router reads from image headers and media containers before DALI decodes anything),
and a batch is cut *before* an item would take it past its key's ``max_bytes``; that item opens
the next batch. An item heavier than the budget alone goes alone (the per-image cap,
``max_pixels``, bounds it). Without it, 64 images just under a 64 MP cap made one batch of
about 12 GB decoded.

Pure logic: the clock is passed in, so tests drive it without sleeping.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    key: Hashable
    items: list[T]
    opened_at: float  # clock time of the oldest item
    reason: str  # "full" | "budget" | "deadline" | "drain"
    weight: int = 0  # the items' summed weight (decoded bytes)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class _Open(Generic[T]):
    items: list[T] = field(default_factory=list)
    opened_at: float = 0.0
    weight: int = 0


class MicroBatcher(Generic[T]):
    """One open batch per key (a lane: a route and a pipeline), each key with its own size
    limit, delay and weight budget (a number for every key, or a dict per key; a budget of 0 or
    None: none). ``weight(item)`` is an item's weight (default 0)."""

    def __init__(self, max_batch_size: int | dict[Any, int], max_delay_s: float | dict[Any, float],
                 max_bytes: int | dict[Any, int] | None = None,
                 weight: Callable[[T], int] | None = None) -> None:
        self._max = max_batch_size
        self._delay = max_delay_s
        self._bytes = max_bytes
        self._weight = weight or (lambda _item: 0)
        self._open: dict[Hashable, _Open[T]] = {}

    def delay(self, key: Hashable) -> float:
        return self._delay[key] if isinstance(self._delay, dict) else self._delay

    def limit(self, key: Hashable) -> int:
        size = self._max.get(key) if isinstance(self._max, dict) else self._max
        if not size or size < 1:
            raise KeyError(f"no batch size for {key!r}")
        return size

    def budget(self, key: Hashable) -> int | None:
        b = self._bytes.get(key) if isinstance(self._bytes, dict) else self._bytes
        return b or None

    def _spent(self, key: Hashable, ob: _Open[T]) -> bool:
        budget = self.budget(key)
        return budget is not None and ob.weight >= budget

    def add(self, key: Hashable, item: T, now: float) -> Batch[T] | None:
        """Add one item; returns the batch if this item filled it, or the open batch that this
        item would take past the budget (the item then opens the next one). A batch that an
        item alone filled to its budget is returned by the next :meth:`due`."""
        limit = self.limit(key)
        weight = self._weight(item)
        budget = self.budget(key)
        ob = self._open.get(key)
        cut = None
        if ob is not None and budget is not None and ob.weight + weight > budget:
            del self._open[key]
            cut, ob = Batch(key, ob.items, ob.opened_at, "budget", ob.weight), None
        if ob is None:
            ob = self._open[key] = _Open(opened_at=now)
        ob.items.append(item)
        ob.weight += weight
        if cut is not None:
            return cut
        if len(ob.items) >= limit or self._spent(key, ob):
            del self._open[key]
            return Batch(key, ob.items, ob.opened_at, "full" if len(ob.items) >= limit else "budget",
                         ob.weight)
        return None

    def due(self, now: float) -> list[Batch[T]]:
        """Batches whose oldest item has waited their key's delay, or that are full or at their
        budget (an item that cut the batch before it may fill its own); removes them."""
        out = []
        for key in [k for k, ob in self._open.items()
                    if now - ob.opened_at >= self.delay(k) or len(ob.items) >= self.limit(k)
                    or self._spent(k, ob)]:
            ob = self._open.pop(key)
            reason = "deadline" if now - ob.opened_at >= self.delay(key) else "budget"
            out.append(Batch(key, ob.items, ob.opened_at, reason, ob.weight))
        return out

    def next_deadline(self) -> float | None:
        """Clock time at which the next batch becomes due, or None when nothing is open."""
        if not self._open:
            return None
        return min(ob.opened_at if (len(ob.items) >= self.limit(k) or self._spent(k, ob))
                   else ob.opened_at + self.delay(k) for k, ob in self._open.items())

    def drain(self) -> list[Batch[T]]:
        """Every open batch, now (shutdown)."""
        out = [Batch(k, ob.items, ob.opened_at, "drain", ob.weight) for k, ob in self._open.items()]
        self._open.clear()
        return out

    def discard(self, predicate) -> list[T]:
        """Remove the items for which ``predicate(item)`` is true (a revoked partition's);
        returns them. A batch left empty is closed."""
        removed: list[T] = []
        for key in list(self._open):
            ob = self._open[key]
            keep = [it for it in ob.items if not predicate(it)]
            removed.extend(it for it in ob.items if predicate(it))
            if keep:
                ob.items = keep
                ob.weight = sum(self._weight(it) for it in keep)
            else:
                del self._open[key]
        return removed

    def take(self, key: Hashable) -> Batch[T] | None:
        """The open batch of ``key``, now, or None (a lane that a live reload swaps out)."""
        ob = self._open.pop(key, None)
        return None if ob is None else Batch(key, ob.items, ob.opened_at, "drain", ob.weight)

    def configure(self, max_batch_size: dict[Any, int], max_delay_s: dict[Any, float],
                  max_bytes: dict[Any, int] | None = None) -> None:
        """New limits per key (a live reload's lanes); batches of keys that go must be taken first."""
        self._max, self._delay = max_batch_size, max_delay_s
        if max_bytes is not None:
            self._bytes = max_bytes

    def pending(self) -> int:
        return sum(len(ob.items) for ob in self._open.values())
