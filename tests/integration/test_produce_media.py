"""`dali-worker produce` sends video and audio files too (issue 19): a folder's clips and
recordings by their extensions, each record with a content-type header, and envelopes with
the MIME type in meta (results copy it)."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from tests.kafka_helpers import BIG, create_topics
from tests.media import clip, encoded_audio
from worker.cli import main as cli
from worker.stream.messages import decode_input


async def _records(bootstrap: str, topic: str, n: int, timeout: float = 60):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=BIG)
    await consumer.start()
    out = []
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(out) < n and loop.time() < end:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def test_produce_a_folder_of_clips_and_recordings(kafka_bootstrap, topic_name, tmp_path, capsys):
    folder = tmp_path / "media"
    (folder / "cam").mkdir(parents=True)
    files = {"cam/a.mkv": clip(frames=6), "cam/b.webm": clip(frames=4, container="webm"),
             "c.mp4": clip(frames=4, container="mp4"), "d.wav": encoded_audio("wav", 0.5),
             "e.flac": encoded_audio("flac", 0.5), "f.ogg": encoded_audio("ogg", 0.5)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not media")
    asyncio.run(create_topics(kafka_bootstrap, [topic_name], partitions=2))
    assert cli(["produce", str(folder), "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap]) == 0
    assert "sent 6 of 6 messages" in capsys.readouterr().out
    records = asyncio.run(_records(kafka_bootstrap, topic_name, 6))
    got = {r.key.decode(): (r.value, dict(r.headers)) for r in records}
    assert {k: v for k, (v, _) in got.items()} == files
    assert {k: h["content-type"].decode() for k, (_, h) in got.items()} == {
        "cam/a.mkv": "video/x-matroska", "cam/b.webm": "video/webm", "c.mp4": "video/mp4",
        "d.wav": "audio/wav", "e.flac": "audio/flac", "f.ogg": "audio/ogg"}


def test_produce_envelopes_carry_the_mime_type(kafka_bootstrap, topic_name, tmp_path, capsys):
    path = tmp_path / "clip.webm"
    path.write_bytes(clip(frames=4, container="webm"))
    assert cli(["produce", str(path), "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap,
                "--mode", "envelope", "--input", "video", "--pipeline", "video_frames"]) == 0, capsys.readouterr().err
    (r,) = asyncio.run(_records(kafka_bootstrap, topic_name, 1))
    msg = decode_input(r.value, key=r.key, topic=r.topic, partition=r.partition, offset=r.offset)
    assert msg.meta == {"content_type": "video/webm"} and msg.inputs["video"].tobytes() == path.read_bytes()
