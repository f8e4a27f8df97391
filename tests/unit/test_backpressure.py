"""Backpressure per route (worker/stream/backpressure.py): a route at its in-flight limit pauses
its own input partitions only; exactly-once units waiting for their transaction count against
their route; too many dead letters pending pause everything."""
from __future__ import annotations

from aiokafka.structs import TopicPartition as TP

from worker.stream.backpressure import Backpressure

ASSIGNED = {TP("a", 0), TP("a", 1), TP("b", 0), TP("b", 1), TP("c", 0)}


def make() -> Backpressure:
    return Backpressure(2, {"a": 0, "b": 1, "c": 1}, dead_letter_limit=10)


def test_a_full_route_pauses_only_its_topics():
    bp = make()
    bp.submitted(1)
    assert bp.to_pause(ASSIGNED) == set()
    bp.submitted(1)
    assert bp.to_pause(ASSIGNED) == {TP("b", 0), TP("b", 1), TP("c", 0)}
    bp.submitted(0)
    assert bp.total == 3 and bp.full_routes() == {1}
    bp.finished(1)
    assert bp.to_pause(ASSIGNED) == set()


def test_units_held_for_a_transaction_count_against_their_route():
    bp = make()
    bp.submitted(0)
    assert bp.to_pause(ASSIGNED, held={0: 1}) == {TP("a", 0), TP("a", 1)}
    assert bp.to_pause(ASSIGNED, held={1: 1}) == set()


def test_dead_letters_pending_pause_every_partition():
    bp = make()
    assert bp.to_pause(ASSIGNED, dead_letters_pending=10) == ASSIGNED
    assert bp.to_pause(ASSIGNED, dead_letters_pending=9) == set()
