"""Metrics helpers, readiness logic and the HTTP endpoints, in one process (no multiprocess
folder: that mode is tested with real child processes in tests/integration)."""
from __future__ import annotations

import json
import os

import pytest
from prometheus_client import REGISTRY

from tests.http_helpers import get
from worker import metrics
from worker.health import HealthServer, Readiness, ReadinessView

pytestmark = pytest.mark.skipif(bool(metrics.multiprocess_dir()),
                                reason="PROMETHEUS_MULTIPROC_DIR is set: these test single-process mode")


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0



def test_counters_and_histograms_move():
    before = value("dali_worker_messages_in_total", topic="u-in")
    metrics.message_in("u-in")
    metrics.message_in("u-in", 4)
    assert value("dali_worker_messages_in_total", topic="u-in") == before + 5

    metrics.message_out("u-out", 2)
    assert value("dali_worker_messages_out_total", topic="u-out") >= 2
    metrics.dead_letter("decode")
    assert value("dali_worker_dead_letters_total", reason="decode") >= 1

    n = value("dali_worker_batch_size_count", pipeline="u-p")
    metrics.observe_batch("u-p", 32, 0.2)
    assert value("dali_worker_batch_size_count", pipeline="u-p") == n + 1
    assert value("dali_worker_batch_size_bucket", pipeline="u-p", le="32.0") >= 1
    assert value("dali_worker_batch_seconds_bucket", pipeline="u-p", le="0.25") >= 1


def test_end_to_end_from_kafka_timestamps():
    s = value("dali_worker_end_to_end_seconds_sum", pipeline="u-e2e")
    # records stamped 1.5 s and 0.5 s before "now"; a -1 timestamp (none) is skipped
    metrics.observe_end_to_end_ms("u-e2e", [8500, 9500, -1], now=10.0)
    assert value("dali_worker_end_to_end_seconds_count", pipeline="u-e2e") == 2
    assert value("dali_worker_end_to_end_seconds_sum", pipeline="u-e2e") == pytest.approx(s + 2.0)


def test_gauges():
    with metrics.in_flight():
        with metrics.in_flight():
            assert value("dali_worker_in_flight_batches") == 2
    assert value("dali_worker_in_flight_batches") == 0

    class TP:
        def __init__(self, topic, partition):
            self.topic, self.partition = topic, partition

    metrics.set_assigned([TP("u-a", 0), TP("u-a", 1), TP("u-b", 0)])
    assert value("dali_worker_assigned_partitions", topic="u-a") == 2
    metrics.set_assigned([TP("u-a", 1)])  # u-b revoked: back to 0, not left at 1
    assert value("dali_worker_assigned_partitions", topic="u-b") == 0
    metrics.set_paused(1)
    assert value("dali_worker_paused_partitions") == 1
    metrics.set_lag("u-a", 3, 42)
    assert value("dali_worker_consumer_lag", topic="u-a", partition="3") == 42


def test_no_gpu_collector_without_nvml_or_gpu():
    # this machine has no GPU; on a GPU machine with nvidia-ml-py it must find one
    gpu = metrics.GpuCollector.create()
    if gpu is None:
        return
    names = {m.name for m in gpu.collect()}
    assert "dali_worker_gpu_memory_used_bytes" in names


def test_readiness_says_what_is_missing(tmp_path):
    r = Readiness(tmp_path, model_configured=True, pid=12345)
    ok, gaps = r.check()
    assert not ok
    assert "pipelines not loaded" in gaps and any("consumer group" in g for g in gaps)
    assert any(g.startswith("model not reachable") for g in gaps)
    r.pipelines_loaded(["classify"])
    r.group_joined(0)  # more members than partitions is still ready
    r.model_status(False, "http://triton:8000 refused the connection")
    assert r.missing() == ["model not reachable: http://triton:8000 refused the connection"]
    r.model_status(True)
    assert r.check() == (True, [])
    state = json.loads((tmp_path / "ready-12345.json").read_text())
    assert state["missing"] == [] and state["pipelines"] == ["classify"]
    r.stopping()
    assert r.missing() == ["stopping"]


def test_readiness_view_counts_only_live_children(tmp_path):
    a = Readiness(tmp_path, pid=101)
    b = Readiness(tmp_path, pid=102)
    for r in (a, b):
        r.pipelines_loaded(["classify"])
        r.group_joined(2)
    view = ReadinessView(tmp_path, expected=2, live_pids=lambda: {101, 102})
    assert view.check() == (True, [])
    view = ReadinessView(tmp_path, expected=2, live_pids=lambda: {101})
    ok, gaps = view.check()
    assert not ok and gaps == ["1 of 2 worker processes have not reported (starting or restarting)"]
    b.group_left()
    ok, gaps = ReadinessView(tmp_path, expected=2, live_pids=lambda: {101, 102}).check()
    assert gaps == ["process 102: not in the consumer group (no assignment yet)"]


def test_http_endpoints_single_process():
    r = Readiness()  # single-process: in memory, no files
    alive = {"ok": True}
    with HealthServer(port=0, host="127.0.0.1", readiness=r, alive=lambda: alive["ok"]) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        assert get(base + "/healthz") == (200, "ok\n")
        code, body = get(base + "/readyz")
        assert code == 503 and "- pipelines not loaded" in body
        r.pipelines_loaded(["classify"])
        r.group_joined(1)
        assert get(base + "/readyz") == (200, "ready\n")
        metrics.message_in("u-http", 3)
        code, body = get(base + "/metrics")
        assert code == 200
        assert 'dali_worker_messages_in_total{topic="u-http"}' in body
        assert "dali_worker_ready 1.0" in body
        alive["ok"] = False
        assert get(base + "/healthz")[0] == 503
        assert get(base + "/nope")[0] == 404


def test_prepare_multiprocess_dir_empties_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics.ENV_DIR, "unset-by-the-test")  # restored after the test
    d = tmp_path / "prom"
    d.mkdir()
    (d / "counter_999.db").write_bytes(b"stale")
    got = metrics.prepare_multiprocess_dir(d)
    assert got == d and list(d.iterdir()) == []
    assert os.environ[metrics.ENV_DIR] == str(d)


def test_stream_metrics_has_the_calls_the_loop_makes():
    m = metrics.StreamMetrics()
    n = value("dali_worker_messages_out_total", topic="u-res")
    m.results_out(3, topic="u-res")
    assert value("dali_worker_messages_out_total", topic="u-res") == n + 3
    m.set_inflight(2, 5)
    assert value("dali_worker_in_flight_batches") == 2 and value("dali_worker_paused_partitions") == 5
    m.set_inflight(0, 0)
    c = value("dali_worker_end_to_end_seconds_count", pipeline="u-sm")
    m.observe_end_to_end(0.3, pipeline="u-sm")
    assert value("dali_worker_end_to_end_seconds_count", pipeline="u-sm") == c + 1


def test_observe_many_counts_as_observe_one_by_one():
    """worker/metrics.observe_many (one write per bucket) against Histogram.observe per value,
    the bounds themselves and values past the last bound included."""
    import random

    from prometheus_client import CollectorRegistry, Histogram

    from worker.metrics import observe_many

    regs = CollectorRegistry(), CollectorRegistry()
    one, many = (Histogram("lat", "lat", registry=r, buckets=(0.01, 0.1, 1.0, 10.0)) for r in regs)
    rng = random.Random(7)
    values = [rng.choice([0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0, 1e9]) for _ in range(500)]
    for v in values:
        one.observe(v)
    observe_many(many, values)

    def samples(reg):
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for m in reg.collect() for s in m.samples if not s.name.endswith("_created")}

    assert samples(regs[0]) == samples(regs[1])
