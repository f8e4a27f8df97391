"""/healthz follows liveness (issue 21: it always answered 200, its hook was not wired): it fails
while a DALI batch hangs past the liveness timeout, and comes back when the batch ends. In-process
worker with a stand-in lane on the real broker; plus the rules themselves and the bind address."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.http_helpers import get
from tests.kafka_helpers import create_topics
from worker.config import Route, WorkerConfig
from worker.health import HealthServer, Readiness, ReadinessView
from worker.pipeline.runner import SampleResult
from worker.stream.plan import ServedPipeline, compile_plan
from worker.stream.worker import Lane, StreamWorker


def test_liveness_rules(tmp_path):
    r = Readiness()
    assert r.alive() == (True, [])  # not started yet: loading is not a hang
    now = time.time()
    r.set_stall_limits(30, 5)
    r.heartbeat(now, {})
    assert r.alive()[0]
    r.heartbeat(now - 31, {})
    ok, why = r.alive()
    assert not ok and "has not turned for 31 s" in why[0]
    r.heartbeat(now, {"0:classify": now - 6})
    ok, why = r.alive()
    assert not ok and "lane 0:classify: a DALI batch has been running for 6 s" in why[0]
    r.heartbeat(now, {})
    r.failed("could not write the result")
    assert not r.alive()[0]
    # the supervisor's view: a child's report in the shared folder
    child = Readiness(tmp_path, pid=4242)
    child.heartbeat(now - 100, {})
    view = ReadinessView(tmp_path, expected=1, live_pids=lambda: [4242])
    ok, why = view.alive()
    assert not ok and why[0].startswith("process 4242: the stream loop has not turned")


def test_bind_address_is_an_option():
    with HealthServer(port=0, host="127.0.0.1", gpu=False) as srv:
        assert srv._httpd.server_address[0] == "127.0.0.1"
        assert get(f"http://127.0.0.1:{srv.port}/healthz") == (200, "ok\n")


def test_healthz_fails_while_a_batch_hangs(kafka_bootstrap, tmp_path):
    tag = uuid.uuid4().hex[:6]
    tin, tout, tdlq, group = f"lv-{tag}-in", f"lv-{tag}-out", f"lv-{tag}-dlq", f"g-{tag}"
    release = threading.Event()

    def hanging(samples):
        release.wait(60)
        return [SampleResult(i, True, outputs={"o": np.zeros(2, np.float32)}) for i in range(len(samples))]

    async def go():
        await create_topics(kafka_bootstrap, [tin, tout, tdlq], partitions=1)
        cfg = WorkerConfig(bootstrap_servers=kafka_bootstrap, group_id=group, liveness_timeout_s=1.0,
                           routes=[Route(inputs=[tin], pipeline="stand_in", output=tout, dead_letter=tdlq,
                                         format="raw", max_delay_ms=1)],
                           state_dir=str(tmp_path), commit_interval_ms=200).check()
        plan = compile_plan(cfg, {"stand_in": ServedPipeline("stand_in", {"data": (np.dtype(np.uint8), 1)}, 4)})
        readiness = Readiness()
        worker = StreamWorker(cfg, plan, {k: Lane(lp, hanging, ThreadPoolExecutor(1)) for k, lp in plan.lanes.items()},
                              readiness=readiness)
        with HealthServer(port=0, host="127.0.0.1", readiness=readiness, gpu=False) as srv:
            url = f"http://127.0.0.1:{srv.port}/healthz"
            task = asyncio.create_task(worker.run())
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            await producer.send_and_wait(tin, b"x", key=b"1")
            await producer.stop()
            seen = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                code, body = await asyncio.to_thread(get, url)
                seen.append(code)
                if code == 503:
                    break
                await asyncio.sleep(0.2)
            release.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                code2, _ = await asyncio.to_thread(get, url)
                if code2 == 200:
                    break
                await asyncio.sleep(0.2)
            worker.request_stop()
            rc = await task
        return seen, body, code2, rc

    seen, body, after, rc = asyncio.run(go())
    assert seen[-1] == 503 and 200 in seen, seen
    assert "a DALI batch has been running for" in body, body
    assert after == 200 and rc == 0
