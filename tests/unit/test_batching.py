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


def test_a_batch_is_cut_before_it_would_pass_its_memory_budget():
    """Issue 28: the decoded-size cap was per image; 64 images just under it made one batch of
    about 12 GB decoded. Items weigh their decoded size; a batch never passes its budget."""
    b = MicroBatcher(64, 1.0, 1000, weight=lambda item: item[1])
    out = [b.add("k", (i, 300), now=0.0) for i in range(7)]
    cut = [x for x in out if x is not None]
    assert [[i for i, _ in x.items] for x in cut] == [[0, 1, 2], [3, 4, 5]]
    assert all(x.reason == "budget" and x.weight == 900 for x in cut)
    assert b.pending() == 1 and b.due(0.5) == []  # the seventh waits for company or its deadline
    # an item heavier than the budget goes alone, at once: it cuts what is open, then is due
    first = b.add("k", (7, 5000), now=0.6)
    assert [i for i, _ in first.items] == [6]
    assert b.next_deadline() == 0.6
    (alone,) = b.due(0.6)
    assert [i for i, _ in alone.items] == [7] and alone.reason == "budget" and alone.weight == 5000
    # an item that exactly fills the budget closes the batch
    b.add("k", (8, 400), now=1.0)
    full = b.add("k", (9, 600), now=1.0)
    assert full.reason == "budget" and full.weight == 1000 and b.pending() == 0


def test_the_budget_is_per_key_and_zero_means_none():
    b = MicroBatcher({"a": 64, "b": 64}, {"a": 1.0, "b": 1.0}, {"a": 100, "b": 0},
                     weight=lambda item: 60)
    assert b.add("a", 1, now=0.0) is None and b.add("a", 2, now=0.0).items == [1]
    assert all(b.add("b", i, now=0.0) is None for i in range(10, 20))  # no budget: only the count
    # a revoked partition's items leave the batch, and their weight with them
    assert b.discard(lambda item: item == 2) == [2]
    assert b.add("a", 3, now=0.0) is None  # 60 in "a" again, under 100
    b.configure({"a": 64, "b": 64}, {"a": 1.0, "b": 1.0}, {"a": 50, "b": 0})
    assert [x.items for x in b.due(0.1)] == [[3]]  # over the new budget: due now
