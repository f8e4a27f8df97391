"""Backpressure per route: which assigned partitions to pause so that memory stays bounded,
without one route's stall holding the others.

Each route may have ``limit`` batches unfinished (submitted to its lanes and not yet written, or
in exactly-once mode written into a buffer that waits for its transaction). When a route reaches
its limit, only the partitions of *its* input topics are paused; the other routes keep fetching
and running. So a route whose model is down or slow holds its own work and nothing else (before,
one shared limit paused every partition: a down model stalled every route of the worker).

What routes still share: a topic feeds exactly one route (``config.py`` refuses two routes on
one topic), but the lanes of one route (the pipelines and versions an envelope may name) share
its topic's partitions: a lane at the limit pauses its route's partitions, and with them the
route's other lanes. The dead-letter writes of the whole process share one bound
(``dead_letter_limit``, each holds its original value): past it, every partition pauses. And
everything shares the process's Kafka clients, CPU and DALI threads.

Memory: the in-flight bound is per route, so a process holds up to ``routes x limit`` batches.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


class Backpressure:
    def __init__(self, limit: int, route_of_topic: Mapping[str, int], dead_letter_limit: int) -> None:
        self.limit = limit
        self.route_of_topic = dict(route_of_topic)
        self.dead_letter_limit = dead_letter_limit
        self.in_flight: Counter[int] = Counter()  # route index -> batches submitted, not finished

    def submitted(self, route: int) -> None:
        self.in_flight[route] += 1

    def finished(self, route: int) -> None:
        self.in_flight[route] -= 1

    @property
    def total(self) -> int:
        return sum(self.in_flight.values())

    def full_routes(self, held: Mapping[int, int] | None = None) -> set[int]:
        """Routes at their limit; ``held``: per route, units written but waiting for their
        transaction (exactly-once), which hold memory like batches in flight."""
        held = held or {}
        routes = set(self.in_flight) | set(held)
        return {r for r in routes if self.in_flight.get(r, 0) + held.get(r, 0) >= self.limit}

    def to_pause(self, assignment: Iterable, held: Mapping[int, int] | None = None,
                 dead_letters_pending: int = 0) -> set:
        """The assigned partitions (anything with a ``.topic``) that should be paused now."""
        if dead_letters_pending >= self.dead_letter_limit:
            return set(assignment)
        full = self.full_routes(held)
        if not full:
            return set()
        return {tp for tp in assignment if self.route_of_topic.get(tp.topic) in full}
