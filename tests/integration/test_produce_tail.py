"""`dali-worker produce` and `dali-worker tail` end to end against the real broker."""
from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.kafka_helpers import BIG, create_topics
from worker.cli import main as cli
from worker.stream.messages import (Label, Source, decode_input, encode_dead_letter,
                                    encode_result)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Real photographs from scikit-image as small JPEGs and PNGs, in nested folders, plus a
    file that is not an image (left out)."""
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    root = tmp_path_factory.mktemp("photos")
    (root / "more").mkdir()
    for i, (name, fmt) in enumerate([("astronaut.png", "JPEG"), ("chelsea.png", "PNG"),
                                     ("coffee.png", "JPEG"), ("rocket.jpg", "PNG")]):
        img = Image.open(data / name).convert("RGB")
        img.thumbnail((160, 160))
        folder = root if i % 2 == 0 else root / "more"
        img.save(folder / (Path(name).stem + (".jpg" if fmt == "JPEG" else ".png")), format=fmt)
    (root / "notes.txt").write_text("not an image")
    return root


def _expected(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.suffix in (".jpg", ".png")}


async def _consume_all(bootstrap: str, topic: str, n: int, timeout: float = 60):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=BIG,
                                fetch_max_bytes=BIG)
    await consumer.start()
    out = []
    try:
        async with asyncio.timeout(timeout):
            while len(out) < n:
                for recs in (await consumer.getmany(timeout_ms=1000)).values():
                    out.extend(recs)
    finally:
        await consumer.stop()
    return out


def test_produce_a_folder_raw_with_repeat(kafka_bootstrap, topic_name, photo_folder, capsys):
    asyncio.run(create_topics(kafka_bootstrap, [topic_name], partitions=3))
    rc = cli(["produce", str(photo_folder), "--topic", topic_name,
              "--bootstrap-servers", kafka_bootstrap, "--repeat", "2"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert f"sent 8 of 8 messages" in out.out and topic_name in out.out
    assert "8/8 msgs" not in out.out  # progress goes to stderr, not stdout

    records = asyncio.run(_consume_all(kafka_bootstrap, topic_name, 8))
    expected = _expected(photo_folder)
    assert set(expected) == {"astronaut.jpg", "more/chelsea.png", "coffee.jpg", "more/rocket.png"}
    got = {r.key.decode(): r.value for r in records}
    assert set(got) == set(expected) | {f"{k}#2" for k in expected}
    for key, value in got.items():
        assert value == expected[key.split("#")[0]]
        msg = decode_input(value, key=key.encode(), topic=topic_name, partition=0, offset=0)
        assert msg.is_raw and msg.id == key  # PNGs too: auto mode reads them as raw
    assert len({r.partition for r in records}) > 1  # keys spread over the partitions


def test_produce_envelopes(kafka_bootstrap, topic_name, photo_folder, capsys):
    files = [str(photo_folder / "astronaut.jpg"), str(photo_folder / "more" / "chelsea.png")]
    rc = cli(["produce", *files, "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap,
              "--mode", "envelope", "--input", "images", "--pipeline", "classify",
              "--meta", "camera=7", "--reply-to", "answers", "--rate", "50"])
    assert rc == 0, capsys.readouterr().err
    records = asyncio.run(_consume_all(kafka_bootstrap, topic_name, 2))
    for r in records:
        msg = decode_input(r.value, key=r.key, topic=r.topic, partition=r.partition, offset=r.offset)
        assert not msg.is_raw and msg.id == r.key.decode()
        name = "astronaut.jpg" if msg.id == "astronaut.jpg" else "more/chelsea.png"
        mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
        assert (msg.pipeline, msg.meta, msg.reply_to) == ("classify", {"content_type": mime, "camera": "7"}, "answers")
        assert msg.inputs["images"].tobytes() == (photo_folder / name).read_bytes()


def test_produce_refuses_a_file_over_the_request_size(tmp_path, capsys):
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8" + os.urandom(1_100_000))
    rc = cli(["produce", str(big), "--topic", "unused", "--bootstrap-servers", "127.0.0.1:1",
              "--max-request-size", str(1024 * 1024)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "huge.jpg" in err and "--max-request-size" in err and "max.message.bytes" in err


def test_produce_usage_errors(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    assert cli(["produce", str(tmp_path / "missing"), "--topic", "t"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli(["produce", str(tmp_path), "--topic", "t", "--mode", "envelope"]) == 2
    assert "--input NAME" in capsys.readouterr().err
    assert cli(["produce", str(tmp_path), "--topic", "t", "--pipeline", "p"]) == 2
    assert "--mode envelope" in capsys.readouterr().err
    (tmp_path / "a.jpg").unlink()
    (tmp_path / "b.txt").write_text("x")
    assert cli(["produce", str(tmp_path), "--topic", "t"]) == 2
    assert "--ext" in capsys.readouterr().err


async def _write_results_and_dead_letters(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=BIG, acks="all")
    await producer.start()
    try:
        probs = np.zeros(1000, np.float32)
        probs[[281, 282]] = [0.81, 0.12]
        value = encode_result(
            id="cat.jpg", source=Source("images", 0, 5, 1_700_000_000_000), pipeline="classify",
            model={"name": "resnet50", "version": 1}, outputs={"probs": probs},
            meta={"camera": 7}, timings={"pipeline_ms": 8.0, "total_ms": 12.5}, worker="w-1",
            labels={"probs": [Label("tabby", 0.81, 281), Label("tiger", 0.12, 282)]})
        await producer.send_and_wait(topic, value, key=b"cat.jpg")
        value = encode_result(
            id="box-1", source=("images", 1, 9), pipeline="detect", model=None,
            outputs={"image": np.zeros((3, 224, 224), np.float16),
                     "box": np.array([0.1, 0.2, 0.5, 0.9], np.float32)},
            meta={}, timings={"total_ms": 3.0}, worker="w-1")
        await producer.send_and_wait(topic, value, key=b"box-1")
        value, headers = encode_dead_letter(
            original=b"\xff\xd8 not really a jpeg", key=b"bad.jpg", reason="decode_error",
            error="message images/0/6 (key 'bad.jpg'): DALI could not decode it",
            source=("images", 0, 6), pipeline="classify", worker="w-1", id="bad.jpg")
        await producer.send_and_wait(topic, value, key=b"bad.jpg", headers=headers)
    finally:
        await producer.stop()


def test_tail_prints_results_and_dead_letters(kafka_bootstrap, topic_name, capsys):
    asyncio.run(_write_results_and_dead_letters(kafka_bootstrap, topic_name))
    rc = cli(["tail", "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap,
              "--from-beginning", "--count", "3", "--timeout", "30"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "result cat.jpg  pipeline=classify model=resnet50:1" in out
    assert "probs: float32[1000]" in out and "top: tabby 0.810, tiger 0.120" in out
    assert "image: float16[3x224x224] min 0 max 0 mean 0" in out
    assert "box: float32[4] = [0.1, 0.2, 0.5, 0.9]" in out
    assert "dead-letter bad.jpg  reason=decode_error  source=images/0/6" in out
    assert "DALI could not decode it" in out

    rc = cli(["tail", "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap,
              "--from-beginning", "--count", "3", "--timeout", "30", "--json", "--top", "1"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and [r["kind"] for r in rows] == ["result", "result", "dead_letter"]
    assert rows[0]["labels"]["probs"] == [{"label": "tabby", "score": 0.81, "index": 281}]
    assert rows[0]["outputs"]["probs"]["shape"] == [1000] and rows[0]["meta"] == {"camera": 7}
    assert rows[1]["outputs"]["box"]["summary"] == pytest.approx([0.1, 0.2, 0.5, 0.9])
    assert rows[2]["reason"] == "decode_error" and rows[2]["original_size"] == len(b"\xff\xd8 not really a jpeg")


def test_tail_times_out_on_a_quiet_topic(kafka_bootstrap, topic_name, capsys):
    asyncio.run(create_topics(kafka_bootstrap, [topic_name]))
    rc = cli(["tail", "--topic", topic_name, "--bootstrap-servers", kafka_bootstrap,
              "--from-beginning", "--count", "1", "--timeout", "2"])
    assert rc == 1 and "0 of 1 messages" in capsys.readouterr().err


def test_produce_then_tail_as_commands(kafka_bootstrap, topic_name, photo_folder):
    """The installed entry point, in subprocesses, as a user runs it."""
    exe = Path(sys.executable).with_name("dali-worker")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    produced = subprocess.run([str(exe), "produce", str(photo_folder), "--topic", topic_name],
                              env=env, capture_output=True, text=True, timeout=120)
    assert produced.returncode == 0, produced.stderr
    assert "msg/s" in produced.stderr and "sent 4 of 4" in produced.stdout
    tailed = subprocess.run([str(exe), "tail", "--topic", topic_name, "--from-beginning",
                             "--count", "4", "--timeout", "30", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert tailed.returncode == 0, tailed.stderr
    rows = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert sorted((r["kind"], r["key"], r["media"]) for r in rows) == [
        ("raw", "astronaut.jpg", "jpeg"), ("raw", "coffee.jpg", "jpeg"),
        ("raw", "more/chelsea.png", "png"), ("raw", "more/rocket.png", "png")]
