"""The micro-batcher: full or deadline, whichever first; a clock passed in."""
from worker.stream.batching import MicroBatcher


def test_flushes_when_full():
    b = MicroBatcher(3, max_delay_s=1.0)
    assert b.add("p", 1, now=0.0) is None
    assert b.add("p", 2, now=0.1) is None
    batch = b.add("p", 3, now=0.2)
    assert batch.items == [1, 2, 3] and batch.reason == "full" and batch.opened_at == 0.0
    assert b.pending() == 0 and b.next_deadline() is None


def test_flushes_a_trickle_at_the_deadline_of_its_oldest_item():
    b = MicroBatcher(64, max_delay_s=0.05)
    b.add("p", "a", now=10.0)
    b.add("p", "b", now=10.04)
    assert b.next_deadline() == 10.05
    assert b.due(now=10.049) == []
    [batch] = b.due(now=10.05)
    assert batch.items == ["a", "b"] and batch.reason == "deadline"


def test_keys_batch_separately_with_their_own_limits():
    b = MicroBatcher({"small": 2, "big": 4}, max_delay_s=1)
    b.add("big", 1, 0); b.add("small", 1, 0)
    assert b.add("small", 2, 0).key == "small"
    assert b.pending() == 1
    [rest] = b.drain()
    assert rest.key == "big" and rest.reason == "drain"


def test_discard_removes_a_revoked_partitions_items():
    b = MicroBatcher(10, max_delay_s=1)
    for i in range(6):
        b.add("p", ("tp0" if i % 2 else "tp1", i), now=0)
    gone = b.discard(lambda it: it[0] == "tp1")
    assert [i for _, i in gone] == [0, 2, 4]
    assert b.pending() == 3
    b.discard(lambda it: True)
    assert b.next_deadline() is None
