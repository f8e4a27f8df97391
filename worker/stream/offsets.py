"""Which offsets may be committed, per partition, when work finishes out of order.

Kafka commits a *position*: "everything below this offset is done". With several batches in
flight, and dead letters that finish at once, completions arrive out of order; committing the
highest finished offset would skip unfinished ones and lose them on a crash. The rule here is
the one that cannot lose a message: the committable position of a partition is its **lowest
offset still in flight**, or one past the last offset seen when nothing is in flight.
(Faust shipped off-by-one bugs computing "the longest run of acked offsets"; a min-heap of the
in-flight offsets has no run to miscount.)

Each assignment of a partition gets an epoch. Work begun under an earlier epoch (before a
revoke) is ignored when it finishes, so a late batch cannot move a position it no longer owns.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass
class _Partition:
    epoch: int
    in_flight: set[int] = field(default_factory=set)
    heap: list[int] = field(default_factory=list)  # lazily pruned min-heap of in_flight
    next_position: int | None = None  # one past the highest offset begun
    committed: int | None = None  # last position handed out as committed

    def lowest_in_flight(self) -> int | None:
        while self.heap and self.heap[0] not in self.in_flight:
            heapq.heappop(self.heap)
        return self.heap[0] if self.heap else None


class OffsetTracker:
    """Not thread-safe: use it from the event loop only."""

    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _Partition] = {}
        self._epochs: dict[TopicPartition, int] = {}

    # -- assignment ---------------------------------------------------------------------------
    def assign(self, tp: TopicPartition, committed: int | None = None) -> int:
        """Track ``tp`` for a new assignment; returns its epoch.

        aiokafka wakes ``getmany()`` with the new assignment *before* it calls
        ``on_partitions_assigned``, so records of ``tp`` may already have begun (and created
        the assignment's epoch) when this runs: then the epoch is kept and only the committed
        position is recorded. Replacing it would orphan the work already begun, whose outcomes
        would be dropped while later positions got committed past them (a loss). A new epoch
        comes from ``revoke``, which every rebalance calls first."""
        part = self._parts.get(tp)
        if part is not None:
            if committed is not None and (part.committed is None or committed > part.committed):
                part.committed = committed
            return part.epoch
        epoch = self._epochs.get(tp, 0) + 1
        self._epochs[tp] = epoch
        self._parts[tp] = _Partition(epoch=epoch, committed=committed)
        return epoch

    def revoke(self, tp: TopicPartition) -> None:
        """Forget ``tp``: whatever is still in flight for it will be ignored when it finishes."""
        self._parts.pop(tp, None)

    def epoch(self, tp: TopicPartition) -> int | None:
        part = self._parts.get(tp)
        return part.epoch if part else None

    def is_current(self, tp: TopicPartition, epoch: int) -> bool:
        part = self._parts.get(tp)
        return part is not None and part.epoch == epoch

    @property
    def partitions(self) -> list[TopicPartition]:
        return list(self._parts)

    # -- work -------------------------------------------------------------------------------
    def begin(self, tp: TopicPartition, offset: int) -> int | None:
        """Record that ``offset`` was consumed and is now in flight; returns its epoch, or None
        when that offset is in flight already (fetched again after a position reset: the record
        must be skipped, its first copy will have the outcome)."""
        if tp not in self._parts:
            self.assign(tp)
        part = self._parts[tp]
        if offset in part.in_flight:
            return None
        part.in_flight.add(offset)
        heapq.heappush(part.heap, offset)
        if part.next_position is None or offset + 1 > part.next_position:
            part.next_position = offset + 1
        return part.epoch

    def finish(self, tp: TopicPartition, offset: int, epoch: int) -> bool:
        """Record that ``offset`` is durably done. Returns False (and changes nothing) when the
        partition was revoked or re-assigned since the work began."""
        part = self._parts.get(tp)
        if part is None or part.epoch != epoch:
            return False
        part.in_flight.discard(offset)
        return True

    def in_flight(self, tp: TopicPartition | None = None) -> int:
        if tp is not None:
            part = self._parts.get(tp)
            return len(part.in_flight) if part else 0
        return sum(len(p.in_flight) for p in self._parts.values())

    # -- commits ------------------------------------------------------------------------------
    def position(self, tp: TopicPartition) -> int | None:
        """The committable position of ``tp``, or None if nothing was consumed from it."""
        part = self._parts.get(tp)
        if part is None:
            return None
        low = part.lowest_in_flight()
        return low if low is not None else part.next_position

    def committable(self, tps=None) -> dict[TopicPartition, int]:
        """Positions that moved past what was last marked committed (see ``mark_committed``)."""
        out = {}
        for tp in (tps if tps is not None else list(self._parts)):
            part = self._parts.get(tp)
            pos = self.position(tp)
            if part is None or pos is None:
                continue
            if part.committed is None or pos > part.committed:
                out[tp] = pos
        return out

    def mark_committed(self, positions: dict[TopicPartition, int]) -> None:
        for tp, pos in positions.items():
            part = self._parts.get(tp)
            if part is not None and (part.committed is None or pos > part.committed):
                part.committed = pos
