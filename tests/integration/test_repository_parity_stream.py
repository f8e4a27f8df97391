"""Issue 31's backend-shaped models through the worker on the real broker: a split video model
(config.pbtxt's split_along_outer_axis) gives one result per frame with the route's default
cut, each frame equal to a direct DALI run of the same pipeline; an unbatched model
(max_batch_size 0) takes a (3, 5) request as a Triton client sends it and answers (3, 5)."""
from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
from aiokafka import AIOKafkaConsumer

from tests.kafka_helpers import create_topics
from tests.media import clip
from tests.unit.test_backend_parity import SPLIT_CONFIG, SPLIT_VIDEO, UNBATCHED, direct, model
from tests.worker_harness import WorkerProcess, produce
from worker.stream.messages import decode_dead_letter, decode_result, encode_input


async def _read(bootstrap: str, topics: list[str], want: int, timeout: float):
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    got, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) < want:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got += [(r.topic, r.value, r.headers) for r in records]
        await asyncio.sleep(1.0)            # duplicates would show
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            got += [(r.topic, r.value, r.headers) for r in records]
    finally:
        await consumer.stop()
    return got


def test_split_frames_and_unbatched_requests_on_the_broker(kafka_bootstrap, tmp_path):
    p = f"par-{uuid.uuid4().hex[:6]}"
    vin, uin, out, dlq = f"{p}-video", f"{p}-unbatched", f"{p}-out", f"{p}-dlq"
    asyncio.run(create_topics(kafka_bootstrap, [vin, uin, out, dlq], partitions=1))
    repo = tmp_path / "repo"
    path = model(repo, "video_split", SPLIT_VIDEO, SPLIT_CONFIG)
    model(repo, "unbatched", UNBATCHED, "max_batch_size: 0\n")
    config = tmp_path / "worker.toml"
    config.write_text(f"""
repository = "{repo}"
dead_letter_topic = "{dlq}"
commit_interval_ms = 300
num_threads = 2

[[routes]]
input = "{vin}"
pipeline = "video_split"
output = "{out}"
max_delay_ms = 20

[[routes]]
input = "{uin}"
pipeline = "unbatched"
output = "{out}"
max_delay_ms = 20
""")
    data = clip(frames=7, size=(64, 48), seed=4)
    request = np.arange(15, dtype=np.float32).reshape(3, 5)
    asyncio.run(produce(kafka_bootstrap, vin, [("clip", data)]))
    asyncio.run(produce(kafka_bootstrap, uin, [("req", encode_input("req", {"INPUT": request}))]))
    with WorkerProcess(kafka_bootstrap, ["--config", str(config), "--group-id", f"g-{p}"], tmp_path / "w.log") as w:
        got = asyncio.run(_read(kafka_bootstrap, [out, dlq], want=7 + 1, timeout=120))
        assert w.proc.poll() is None, w.log()[-3000:]
        assert w.terminate() == 0, w.log()[-3000:]
    dead = [decode_dead_letter(v, h) for t, v, h in got if t == dlq]
    assert not dead, [(d.id, d.reason, d.error) for d in dead]
    results = [decode_result(v) for t, v, _ in got if t == out]
    frames = sorted((r for r in results if r.id == "clip"), key=lambda r: r.part["index"])
    (want_frames,), _ = direct(path, {"INPUT": [np.frombuffer(data, np.uint8)]}, 1)
    assert [(r.part["index"], r.part["count"]) for r in frames] == [(i, 7) for i in range(7)]
    for i, r in enumerate(frames):
        assert np.array_equal(r.outputs["FRAMES"], want_frames[i])
    (answer,) = [r for r in results if r.id == "req"]
    (name,) = answer.outputs
    assert np.array_equal(answer.outputs[name], request * 2 + 1)
