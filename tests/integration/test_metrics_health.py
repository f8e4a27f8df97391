"""One port for many processes: real child processes write metrics and readiness to a
multiprocess folder, a HealthServer aggregates them; consumer lag from a real broker."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.http_helpers import get
from tests.kafka_helpers import create_topics, run
from worker import metrics

CHILD = textwrap.dedent("""
    import sys
    from worker import metrics
    from worker.health import Readiness

    n = int(sys.argv[1])
    r = Readiness(__import__("os").environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics.message_in("mp-in", n)
    metrics.observe_batch("classify", n, 0.05)
    metrics.set_lag("mp-in", n, 10 * n)
    metrics.set_in_flight(1)
    r.pipelines_loaded(["classify"])
    print("loaded", flush=True)
    for line in sys.stdin:           # the test drives the child one step at a time
        if line.strip() == "join":
            r.group_joined(1)
            print("joined", flush=True)
        elif line.strip() == "exit":
            break
""")



def sample(body: str, prefix: str) -> float | None:
    for line in body.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def spawn(n, env):
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(n)], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == "loaded"
    return p


def say(p, word):
    p.stdin.write(word + "\n")
    p.stdin.flush()
    if word != "exit":
        assert p.stdout.readline().strip() == "joined"


def test_one_port_aggregates_children(tmp_path, monkeypatch):
    from worker.health import HealthServer, ReadinessView

    folder = tmp_path / "prom"
    monkeypatch.setenv(metrics.ENV_DIR, "unset-by-the-test")  # restored after the test
    metrics.prepare_multiprocess_dir(folder)  # sets the env var in this process, as the supervisor
    env = dict(os.environ)
    children = [spawn(2, env), spawn(3, env)]
    live = lambda: {p.pid for p in children if p.poll() is None}  # noqa: E731
    view = ReadinessView(folder, expected=2, live_pids=live)
    try:
        with HealthServer(port=0, host="127.0.0.1", readiness=view) as srv:
            base = f"http://127.0.0.1:{srv.port}"
            code, body = get(base + "/readyz")
            assert code == 503
            assert body.count("not in the consumer group") == 2, body
            say(children[0], "join")
            code, body = get(base + "/readyz")
            assert code == 503 and f"process {children[1].pid}: not in the consumer group" in body
            say(children[1], "join")
            assert get(base + "/readyz") == (200, "ready\n")

            code, body = get(base + "/metrics")
            assert code == 200
            assert sample(body, 'dali_worker_messages_in_total{topic="mp-in"}') == 5
            assert sample(body, 'dali_worker_batch_size_count{pipeline="classify"}') == 2
            assert sample(body, "dali_worker_in_flight_batches") == 2  # livesum
            assert sample(body, 'dali_worker_consumer_lag{partition="3",topic="mp-in"}') == 30
            assert sample(body, "dali_worker_ready") == 1

            # a child dies: its live gauges and readiness go, its counters stay
            dead = children[1]
            say(dead, "exit")
            dead.wait(timeout=30)
            metrics.process_dead(dead.pid)
            code, body = get(base + "/metrics")
            assert sample(body, 'dali_worker_messages_in_total{topic="mp-in"}') == 5
            assert sample(body, "dali_worker_in_flight_batches") == 1
            assert sample(body, 'dali_worker_consumer_lag{partition="3",topic="mp-in"}') is None
            code, body = get(base + "/readyz")
            assert code == 503 and "1 of 2 worker processes have not reported" in body

            # its replacement brings the count back
            children.append(spawn(4, env))
            say(children[-1], "join")
            assert get(base + "/readyz") == (200, "ready\n")
            code, body = get(base + "/metrics")
            assert sample(body, 'dali_worker_messages_in_total{topic="mp-in"}') == 9
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def test_lag_of_a_real_consumer(kafka_bootstrap, topic_name):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    if metrics.multiprocess_dir():
        pytest.skip("PROMETHEUS_MULTIPROC_DIR is set in this process")
    from prometheus_client import REGISTRY

    async def scenario():
        await create_topics(kafka_bootstrap, [topic_name], partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic_name, b"x%d" % i)
        finally:
            await producer.stop()
        tp = TopicPartition(topic_name, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_poll_records=4)
        await consumer.start()
        try:
            consumer.assign([tp])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 4 and time.monotonic() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=4 - len(got))
                got.extend(batch.get(tp, []))
            assert len(got) == 4
            by_position = await metrics.update_lag(consumer)
            # the worker's own view: processed up to the 2nd record only
            by_progress = await metrics.update_lag(consumer, positions={tp: got[1].offset + 1})
            return by_position[tp], by_progress[tp]
        finally:
            await consumer.stop()

    lag, lag_progress = run(scenario())
    assert lag == 6 and lag_progress == 8
    assert REGISTRY.get_sample_value("dali_worker_consumer_lag",
                                     {"topic": topic_name, "partition": "0"}) == 8
