"""/metrics, /healthz and /readyz of a running worker on the real broker: one process, and a
supervisor aggregating two."""
from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from tests.http_helpers import get
from tests.integration.test_stream_worker import PARTS, _args, _items
from tests.worker_harness import WorkerProcess, collect, produce, setup_topics
from worker.devkafka import free_port


def _get(port: int, path: str) -> tuple[int, str]:
    return get(f"http://127.0.0.1:{port}{path}", timeout=5)


def _value(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("procs", [1, 2])
def test_metrics_and_health_of_a_running_worker(kafka_bootstrap, tmp_path, procs):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"m-{uuid.uuid4().hex[:6]}", PARTS)
    group = f"g-{uuid.uuid4().hex[:6]}"
    items, bad = _items(300, corrupt_every=100)
    port = free_port()
    args = _args(tin, tout, tdlq, group, "--metrics-port", str(port), "--procs", str(procs))
    if procs > 1:
        i = args.index("--num-threads")
        del args[i:i + 2]
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                status, body = _get(port, "/readyz")
            except OSError:
                status = None
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, (status, w.log()[-3000:])
        assert _get(port, "/healthz")[0] == 200
        asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
        asyncio.run(collect(kafka_bootstrap, tout, tdlq, expect_ids={k for k, _ in items}, timeout=120))
        # the counters of the last batch and the lag gauge (refreshed with the commits) may come
        # a moment after its outcomes are readable: wait for them, not for a fixed time
        deadline = time.monotonic() + 60
        while True:
            code, text = _get(port, "/metrics")
            settled = (code == 200 and re.search(r"dali_worker_consumer_lag\{", text) and _value(
                text, "dali_worker_end_to_end_seconds_count", pipeline="classify_reduce") == 300)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert code == 200
        assert _value(text, "dali_worker_messages_in_total", topic=tin) == 300
        assert _value(text, "dali_worker_dead_letters_total", reason="decode_error") == len(bad)
        assert _value(text, "dali_worker_messages_out_total", topic=tout) == 300 - len(bad)
        assert _value(text, "dali_worker_batch_size_count", pipeline="classify_reduce") > 0
        assert _value(text, "dali_worker_end_to_end_seconds_count", pipeline="classify_reduce") == 300
        assert _value(text, "dali_worker_assigned_partitions", topic=tin) == PARTS
        assert re.search(r"dali_worker_consumer_lag\{", text)
        assert w.terminate() == 0
