"""Chaos (issue 28) on a broker of the module's own, killed and restarted:

- health that sees Kafka: with the broker gone mid-stream, ``/readyz`` turns 503 and names the
  cause once nothing could be fetched for ``--kafka-ready-timeout-s``, ``/healthz`` stays 200
  (a broker outage is no reason to restart the worker), the metrics show it, aiokafka's retry
  errors come one line per cause per 10 s; with the broker back the worker is ready again and
  every input has its outcome;
- an unreachable broker at start: one line per attempt with a growing pause, no traceback, no
  "Unclosed AIOKafkaConsumer", the supervisor says what it waits for, ``/readyz`` too; the worker
  goes on by itself when the broker comes;
- two exactly-once workers with the default transactional id prefix on one host do not fence
  each other (each claims its own id) and deliver exactly once.

Figures are printed (``-s``)."""
from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from tests.chaos.helpers import check, items, outcomes, wait_until, worker_args
from tests.http_helpers import get
from tests.worker_harness import WorkerProcess, produce, setup_topics
from worker.devkafka import KafkaBroker, free_port

PARTS = 4
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def own_broker():
    broker = KafkaBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


def _stream(broker: KafkaBroker, n: int):
    tin, tout, tdlq = setup_topics(broker.bootstrap_servers, f"k-{uuid.uuid4().hex[:6]}", PARTS)
    stream, ids = items(n)
    asyncio.run(produce(broker.bootstrap_servers, tin, stream, partitions=PARTS))
    return (tin, tout, tdlq), stream, ids


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def _aiokafka_lines(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if " aiokafka" in ln and (" ERROR " in ln or " WARNING " in ln)]


def test_readyz_names_a_broker_outage_and_healthz_stays_alive(own_broker, tmp_path):
    broker = own_broker
    (tin, tout, tdlq), _, ids = _stream(broker, 1500)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = worker_args(tin, tout, tdlq, f"g-{uuid.uuid4().hex[:6]}", "at-least-once",
                       "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
                       "--kafka-ready-timeout-s", "5", "--max-inflight-batches", "2")
    bootstrap = broker.bootstrap_servers
    with WorkerProcess(bootstrap, args, tmp_path / "w.log") as w:
        wait_until(lambda: len(outcomes(bootstrap, tout, tdlq, ids, False).ids) >= 100, 120, "100 outcomes", w.log)
        wait_until(lambda: get(base + "/readyz")[0] == 200, 30, "ready", w.log)
        before_kill = len(w.log())
        broker.kill()
        killed = time.monotonic()
        alive, ready_codes, bodies = [], [], []
        while time.monotonic() - killed < 22:  # down for 22 s: past the ready timeout, within request_timeout
            alive.append(get(base + "/healthz")[0])
            code, body = get(base + "/readyz")
            ready_codes.append((round(time.monotonic() - killed, 1), code))
            if code == 503:
                bodies.append(body)
            time.sleep(0.5)
        metrics = get(base + "/metrics")[1]
        outage_log = w.log()[before_kill:]
        down_s = time.monotonic() - killed
        broker.restart()
        back = time.monotonic()
        wait_until(lambda: get(base + "/readyz")[0] == 200, 120, "ready again after the broker's restart", w.log)
        ready_again_s = time.monotonic() - back
        out = outcomes(bootstrap, tout, tdlq, ids, False, timeout=180, settle=1.0)
        assert w.terminate(90) == 0, w.log()[-4000:]
        log = w.log()

    first_503 = next((t for t, c in ready_codes if c == 503), None)
    lines = _aiokafka_lines(outage_log)
    print(f"\nbroker down {down_s:.0f} s: /healthz {sorted(set(alive))}, /readyz 503 from {first_503} s "
          f"after the kill; body: {bodies[-1].strip() if bodies else None!r}; metrics: connected "
          f"{_metric(metrics, 'dali_worker_kafka_connected')}, since fetch "
          f"{_metric(metrics, 'dali_worker_kafka_seconds_since_fetch')} s, since commit "
          f"{_metric(metrics, 'dali_worker_kafka_seconds_since_commit')} s; aiokafka log lines "
          f"{len(lines)} ({len(lines) / down_s:.2f}/s); ready again {ready_again_s:.1f} s after the restart")
    assert set(alive) == {200}, f"/healthz failed during a broker outage: {alive}"
    assert first_503 is not None and first_503 < 20, ready_codes
    # every partition may be paused by then (the batches wait for acks): the failing requests say it
    assert any("cannot reach Kafka: requests failing" in b or "cannot fetch from Kafka: nothing fetched for" in b
               for b in bodies), bodies[-3:]
    assert _metric(metrics, "dali_worker_kafka_connected") == 0
    assert _metric(metrics, "dali_worker_kafka_seconds_since_fetch") >= 10
    # one line per cause per 10 s, each with its count (was about 63 lines a second)
    assert len(lines) / down_s < 1.0, "\n".join(lines[:40])
    assert any("more like this in 10 s]" in ln for ln in lines), "\n".join(lines[:40])
    assert "Traceback" not in outage_log
    check(out, ids, False, "broker killed under a ready worker")


def test_an_unreachable_broker_at_start_is_waited_for_in_one_line_per_attempt(own_broker, tmp_path):
    broker = own_broker
    (tin, tout, tdlq), _, ids = _stream(broker, 300)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bootstrap = broker.bootstrap_servers
    args = worker_args(tin, tout, tdlq, f"g-{uuid.uuid4().hex[:6]}", "at-least-once",
                       "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    broker.kill()
    try:
        with WorkerProcess(bootstrap, args, tmp_path / "w.log") as w:
            wait_until(lambda: w.log().count("cannot be reached") >= 4, 120, "four attempts", w.log)
            code, body = get(base + "/readyz")
            waiting_log = w.log()
            broker.restart()
            out = outcomes(bootstrap, tout, tdlq, ids, False, timeout=180, settle=1.0)
            assert w.terminate(90) == 0, w.log()[-4000:]
            log = w.log()
    finally:
        if broker._proc is None:
            broker.restart()
    attempts = [ln for ln in waiting_log.splitlines() if "cannot be reached" in ln]
    pauses = [int(m.group(1)) for ln in attempts if (m := re.search(r"next in (\d+) s", ln))]
    print(f"\nunreachable at start: {len(attempts)} attempts, pauses {pauses} s; /readyz {code}: "
          f"{body.strip()!r}\n  first attempt: {attempts[0].split(' WARNING ')[-1]}\n  supervisor: "
          + next((ln.split(" WARNING ")[-1] for ln in waiting_log.splitlines() if "is waiting for" in ln), "?"))
    assert pauses[:4] == [1, 2, 4, 8], attempts
    assert "Traceback" not in log and "Unclosed AIOKafka" not in log, log[-4000:]
    assert not _aiokafka_lines(waiting_log), _aiokafka_lines(waiting_log)[:10]  # ours is the one line
    assert f"worker.supervisor: slot 0: worker pid" in waiting_log and f"is waiting for Kafka at {bootstrap}" in waiting_log
    assert code == 503 and f"waiting for Kafka at {bootstrap}" in body, body
    assert "answered (attempt" in log
    check(out, ids, False, "broker unreachable at start, then up")


def test_two_exactly_once_workers_on_one_host_do_not_fence_each_other(own_broker, tmp_path):
    broker = own_broker
    (tin, tout, tdlq), _, ids = _stream(broker, 1200)
    bootstrap = broker.bootstrap_servers
    group = f"g-{uuid.uuid4().hex[:6]}"
    args = worker_args(tin, tout, tdlq, group, "exactly-once")  # both slot 0, default prefix
    with WorkerProcess(bootstrap, args, tmp_path / "w1.log") as w1, \
            WorkerProcess(bootstrap, args, tmp_path / "w2.log") as w2:
        out = outcomes(bootstrap, tout, tdlq, ids, True, timeout=240, settle=2.0)
        assert w1.terminate(90) == 0, w1.log()[-4000:]
        assert w2.terminate(90) == 0, w2.log()[-4000:]
        logs = w1.log() + w2.log()
    moved = [ln.split(" INFO ")[-1] for ln in logs.splitlines() if "is held by another worker on this host" in ln]
    print(f"\ntwo exactly-once workers, default prefix: {moved}")
    assert "Fenced" not in logs and "restarting in" not in logs, logs[-4000:]
    assert len(moved) == 1 and re.search(r"this one uses \S+-0\.1$", moved[0]), moved
    check(out, ids, True, "two exactly-once workers on one host")
