"""Health that sees Kafka (worker/stream/kafka_health.py, worker/health.py), aiokafka's log
limited per cause (worker/kafka_log.py), and transactional ids claimed per process
(worker/stream/txn_id.py)."""
from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time

import pytest

from worker import kafka_log
from worker.health import Readiness, ReadinessView
from worker.stream import txn_id
from worker.stream.kafka_health import KafkaHealth, kafka_problems


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeClient:
    def __init__(self):
        self.fail = None

    async def send(self, node_id, request):
        if self.fail:
            raise self.fail
        return "response"


class FetchRequest_v4:  # noqa: N801 - named like aiokafka's request classes
    pass


class MetadataRequest_v1:  # noqa: N801
    pass


def test_fetches_and_connectivity_from_the_wrapped_client():
    from aiokafka.errors import KafkaConnectionError

    clock, client = Clock(), FakeClient()
    h = KafkaHealth(30, clock=clock)
    h.watch(client)
    h.watch(client)  # once only
    h.fetching(True)
    clock.t += 10
    assert asyncio.run(client.send(1, FetchRequest_v4())) == "response"
    s = h.status()
    assert s.connected and s.last_fetch == clock.t and s.fetch_since == clock.t
    client.fail = KafkaConnectionError("Connection refused")
    clock.t += 40
    with pytest.raises(KafkaConnectionError):
        asyncio.run(client.send(1, FetchRequest_v4()))
    s = h.status()
    assert not s.connected and "Connection refused" in s.cause and s.unreachable_since == clock.t
    problems = kafka_problems(s.fetch_since, s.commit_since, s.cause, 30, clock.t)
    assert len(problems) == 1 and "nothing fetched for 40 s" in problems[0] and "Connection refused" in problems[0]
    h.fetching(False)  # every partition paused (batches waiting for acks): requests still fail
    clock.t += 31
    with pytest.raises(KafkaConnectionError):
        asyncio.run(client.send(1, MetadataRequest_v1()))
    s = h.status()
    (problem,) = kafka_problems(s.fetch_since, s.commit_since, s.cause, 30, clock.t, s.unreachable_since)
    assert problem.startswith("cannot reach Kafka: requests failing, none answered for 31 s"), problem
    client.fail = None
    h.fetching(True)
    asyncio.run(client.send(1, MetadataRequest_v1()))  # connectivity back, still no fetch
    assert h.status().connected and h.status().unreachable_since == 0
    assert h.status().fetch_since == clock.t


def test_fetching_not_wanted_is_no_problem():
    clock = Clock()
    h = KafkaHealth(30, clock=clock)
    h.fetching(False)  # every partition paused by our own backpressure
    clock.t += 100
    s = h.status()
    assert s.fetch_since == 0 and not kafka_problems(s.fetch_since, s.commit_since, "", 30, clock.t)
    h.fetching(True)  # wanted from now on: the clock starts now, not at the last fetch
    clock.t += 20
    assert not kafka_problems(h.status().fetch_since, 0, "", 30, clock.t)
    clock.t += 11
    assert kafka_problems(h.status().fetch_since, 0, "", 30, clock.t)


def test_a_commit_pending_or_failing_too_long():
    clock = Clock()
    h = KafkaHealth(30, clock=clock)
    h.commit_started()
    clock.t += 20
    h.commit_failed(RuntimeError("coordinator not available"))
    h.commit_started()  # the retry: the trouble still dates from the first attempt
    clock.t += 15
    s = h.status()
    (problem,) = kafka_problems(s.fetch_since, s.commit_since, s.cause, 30, clock.t)
    assert "pending or failing for 35 s" in problem and "coordinator not available" in problem
    h.commit_succeeded()
    assert h.status().commit_since == 0 and h.status().last_commit == clock.t


def test_readiness_names_kafka_and_what_the_start_waits_for(tmp_path):
    r = Readiness(tmp_path, pid=4242)
    r.pipelines_loaded(["p"])
    r.group_joined(2)
    assert r.check() == (True, [])
    r.waiting("Kafka at 127.0.0.1:1 (KafkaConnectionError: Unable to bootstrap)")
    r.kafka_status(time.time() - 45, 0, "KafkaConnectionError: refused", 30)
    ok, gaps = r.check()
    assert not ok and gaps[0].startswith("waiting for Kafka at 127.0.0.1:1")
    assert any(g.startswith("cannot fetch from Kafka: nothing fetched for 45 s") for g in gaps), gaps
    assert r.alive() == (True, [])  # liveness is not readiness
    view = ReadinessView(tmp_path, expected=1, live_pids=lambda: [4242])
    ok, gaps = view.check()
    assert not ok and any("process 4242: cannot fetch from Kafka" in g for g in gaps), gaps
    r.waiting("")
    r.kafka_status(0, 0, "", 30)
    assert view.check() == (True, [])


def test_repeats_of_one_cause_are_one_line_per_interval():
    clock = Clock(0.0)
    flt = kafka_log.RepeatFilter(10, clock=clock)

    def record(msg, *args, name="aiokafka.conn", level=logging.ERROR):
        return logging.LogRecord(name, level, __file__, 1, msg, args, None)

    passed = []
    for i in range(50):
        clock.t = i * 0.1
        r = record("Unable connect to node with id %s: %s", 1, f"[Errno 111] port {9000 + i}")
        if flt.filter(r):
            passed.append(r.getMessage())
    other = record("Failed fetch messages from %s", 1)
    assert flt.filter(other)  # another cause passes at once
    clock.t = 10.5
    last = record("Unable connect to node with id %s: %s", 1, "[Errno 111] port 9999")
    assert flt.filter(last)
    assert len(passed) == 1 and "[and 49 more like this in 10 s]" in last.getMessage()
    assert flt.filter(record("worker says %s", 1, name="worker"))  # ours always pass
    with kafka_log.muted():
        assert not flt.filter(record("Unable to bootstrap %s", 1))
        assert flt.filter(record("worker line", name="worker"))


HOLD = ("import sys, time; sys.path.insert(0, {root!r}); from worker.stream import txn_id; "
        "print(txn_id.claim({base!r}, {folder!r}, False)[0], flush=True); time.sleep(60)")


def test_transactional_ids_are_claimed_per_process(tmp_path):
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    other = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root, base="g-host-0", folder=str(tmp_path))],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "g-host-0"
        tid, fd = txn_id.claim("g-host-0", tmp_path, chosen=False)
        assert tid == "g-host-0.1"
        with pytest.raises(txn_id.TransactionalIdClash, match=rf"in use by another live worker on this host \(pid {other.pid}"):
            txn_id.claim("g-host-0", tmp_path, chosen=True)
    finally:
        other.kill()
        other.wait()
    # the holder died: its id is free again (what a restarted process gets)
    assert txn_id.claim("g-host-0", tmp_path, chosen=True)[0] == "g-host-0"


def test_a_released_transactional_id_is_claimed_again_by_the_next_worker_of_the_process(tmp_path):
    """StreamWorker releases its id when it closes: a second worker in the same process (library
    use, in-process tests) takes the same id and so fences the first one's transactions, instead
    of moving to '<id>.1'."""
    tid, fd = txn_id.claim("g-host-0", tmp_path, chosen=True)
    txn_id.release(fd)
    again, fd2 = txn_id.claim("g-host-0", tmp_path, chosen=True)
    assert again == tid == "g-host-0"
    txn_id.release(fd2)
