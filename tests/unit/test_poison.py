"""The poison journal: one per live process, taken over by a restarted one, never fatal."""
import multiprocessing as mp

from worker.stream.poison import PoisonGuard


def _hold(state_dir, q, done):
    g = PoisonGuard(state_dir, "slot0")
    q.put(g.slot_name)
    done.wait(10)


def test_two_live_workers_get_separate_journals_and_a_successor_inherits(tmp_path):
    ctx = mp.get_context("spawn")
    q, done = ctx.Queue(), ctx.Event()
    other = ctx.Process(target=_hold, args=(str(tmp_path), q, done))
    other.start()
    assert q.get(timeout=30) == "slot0"
    mine = PoisonGuard(tmp_path, "slot0")
    assert mine.slot_name == "slot0.1"  # slot0 is held by a live process
    mine.entering("p", [("in", 0, 7)])
    done.set()
    other.join(10)
    successor = PoisonGuard(tmp_path, "slot0")
    assert successor.slot_name == "slot0"  # the dead holder's name is free again


def test_a_crash_makes_suspects_then_quarantine(tmp_path):
    g = PoisonGuard(tmp_path, "s")
    g.entering("p", [("in", 0, 1), ("in", 0, 2)])
    import os
    os.close(g._lock_fd)  # the process "dies" in DALI: the file stays, the lock goes
    g2 = PoisonGuard(tmp_path, "s")
    assert g2.crashes(("in", 0, 1)) == 1 and not g2.quarantined(("in", 0, 1))
    g2.entering("p", [("in", 0, 2)])  # run alone, and it crashes again
    os.close(g2._lock_fd)
    g3 = PoisonGuard(tmp_path, "s")
    assert g3.quarantined(("in", 0, 2)) and g3.crashes(("in", 0, 1)) == 0


def test_an_unwritable_journal_is_not_fatal(tmp_path):
    g = PoisonGuard(tmp_path, "s")
    import shutil
    shutil.rmtree(tmp_path)  # the folder vanished under us
    g.entering("p", [("in", 0, 1)])
    g.left("p")
