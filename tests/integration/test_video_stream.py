"""Video clips through the worker on the real broker (issue 19): one clip in, one result per
sampled frame out, exactly once. The video_frames pipeline keeps every 2nd frame, so a clip of
N frames gives ceil(N / 2) results, each carrying the clip's id, its index and the count.
Bad clips are one dead letter each, never a partial result set: damaged mid-way (DALI fails),
truncated (its container runs past the end), H.264 (not decoded on the CPU), over the
message size limit, over the decoded-size cap."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from aiokafka import AIOKafkaConsumer

from tests.kafka_helpers import BIG
from tests.media import clip, damaged_frames
from tests.worker_harness import WorkerProcess, committed_positions, produce, setup_topics
from worker.stream.messages import decode_dead_letter, decode_result

PARTS = 2
MAX_MESSAGE = 38_000  # the 260-frame clip (35 KB) fits, the 256x256 one (42 KB) does not
MAX_DECODED = 3_000_000  # bytes of RGB frames: a 64x64 clip of more than 244 frames is over


async def _read_all(bootstrap, results, dead, expect_results: int, expect_dead: int, timeout: float,
                    output: str = "frames"):
    """Committed results as (id, part index, count, shape of ``output``) -> times seen, and dead letters."""
    consumer = AIOKafkaConsumer(results, dead, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", isolation_level="read_committed",
                                max_partition_fetch_bytes=BIG, fetch_max_bytes=BIG)
    await consumer.start()
    parts, dl = Counter(), {}
    deadline, done_at = time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for r in records:
                    if tp.topic == results:
                        res = decode_result(r.value)
                        parts[(res.id, res.part["index"], res.part["count"], res.outputs[output].shape)] += 1
                    else:
                        d = decode_dead_letter(r.value, r.headers)
                        dl.setdefault(d.id, []).append((d.reason, d.error))
            if done_at is None and sum(parts.values()) >= expect_results and len(dl) >= expect_dead:
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at > 2.0:  # duplicates would show
                break
    finally:
        await consumer.stop()
    return parts, dl


def test_every_frame_exactly_once_and_bad_clips_dead_lettered(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"video-{uuid.uuid4().hex[:6]}", PARTS)
    good = {f"clip-{i}-{c}": clip(frames=n, container=c, seed=i)
            for i, (n, c) in enumerate([(30, "mkv"), (17, "webm"), (24, "mp4"), (1, "mkv"),
                                        (45, "mkv"), (8, "webm")])}
    big = clip(frames=40, size=(256, 256), seed=9)
    assert len(big) > MAX_MESSAGE, len(big)
    whole = clip(frames=40, seed=7)
    # issue 31: 300 zero bytes in the middle of a 30-frame VP9 clip, inside its key frame: the
    # container reads whole and DALI decodes 30 wrong frames without an error
    holed = clip(frames=30, size=(160, 120), seed=5)
    holed = holed[:len(holed) // 2] + bytes(300) + holed[len(holed) // 2 + 300:]
    bad = {"damaged": (damaged_frames(whole, 15), "decode_error"),
           "zero-hole": (holed, "decode_error"),
           "truncated": (whole[: len(whole) * 2 // 3], "incomplete_media"),
           "h264": (clip(frames=10, codec="libx264", container="mp4"), "decode_error"),
           "oversized": (big, "oversized"),
           "too-long": (clip(frames=260, seed=3), "media_too_large")}
    items = list(good.items())
    for i, (k, (v, _)) in enumerate(bad.items()):
        items.insert(2 * i + 1, (k, v))
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=PARTS))
    args = ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", f"g-{tin}",
            "--pipeline", "video_frames", "--delivery", "exactly-once", "--max-delay-ms", "50",
            "--commit-interval-ms", "300", "--num-threads", "2", "--max-message-bytes", str(MAX_MESSAGE)]
    env = {"DSW_ROUTE_CUT": "frame", "DSW_ROUTE_MAX_DECODED_BYTES": str(MAX_DECODED)}
    expected = {k: -(-len_ // 2) for k, len_ in
                {f"clip-{i}-{c}": n for i, (n, c) in enumerate([(30, "mkv"), (17, "webm"), (24, "mp4"),
                                                               (1, "mkv"), (45, "mkv"), (8, "webm")])}.items()}
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log", env=env) as w:
        parts, dead = asyncio.run(_read_all(kafka_bootstrap, tout, tdlq, sum(expected.values()),
                                            len(bad), timeout=180))
        assert w.proc.poll() is None, w.log()[-3000:]
        assert w.terminate() == 0, w.log()[-3000:]
    # every sampled frame of every good clip, exactly once, as a [112, 112, 3] frame
    want = Counter({(k, i, n, (112, 112, 3)): 1 for k, n in expected.items() for i in range(n)})
    assert parts == want, (sorted(set(parts) ^ set(want))[:10], [p for p, c in parts.items() if c > 1][:5])
    # each bad clip is exactly one dead letter, and none of its frames went out
    assert {k: [r for r, _ in v] for k, v in dead.items()} == {k: [reason] for k, (_, reason) in bad.items()}, dead
    assert not {k for k, *_ in parts} & set(bad)
    assert "--device gpu" in dead["h264"][0][1] and "H.264" in dead["h264"][0][1]
    assert "truncated" in dead["truncated"][0][1]
    assert "zero-filled hole" in dead["zero-hole"][0][1]
    assert "max_decoded_bytes" in dead["too-long"][0][1]
    # and the offsets of all of them are committed (in the transactions that carried them)
    committed = asyncio.run(committed_positions(kafka_bootstrap, f"g-{tin}", tin, PARTS))
    assert sum(v or 0 for v in committed.values()) == len(items), committed
