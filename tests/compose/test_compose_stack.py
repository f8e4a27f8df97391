"""``docker compose up`` for real: the shipped docker-compose.yml with CI's override only for what
cannot be fetched here (tests/compose_stack.py). Driven as a user would: up, wait for the shipped
healthchecks, produce tests/data from the host to the published port, tail the predictions;
``--scale worker=2`` while messages flow (nothing lost, nothing duplicated); ``down`` then ``up``
(Kafka's volume keeps the topics and the committed offsets: nothing is processed twice); ``down -v``
leaves no container, volume or network. The tests run in order on one stack."""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.compose_stack import ROOT, ComposeStack, dali_worker, require_compose

pytestmark = pytest.mark.slow
PHOTOS = sorted((ROOT / "tests" / "data").iterdir())
GROUP = "dali-workers"  # the shipped DSW_GROUP_ID default


@pytest.fixture(scope="module")
def stack():
    require_compose()
    s = ComposeStack(procs=1, partitions=8)
    s.build_images()
    try:
        yield s
    finally:
        s.cleanup()
        print("\n".join(s.log))


def results(stack, expect: int, timeout: float = 300) -> list[dict]:
    """Every record of dali.predictions, read from the beginning once at least ``expect`` are
    there (the topic's end offsets say how many: a duplicate would make more, and be read)."""
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        total = asyncio.run(_records("dali.predictions", stack.bootstrap))
        if total >= expect:
            break
        time.sleep(2)
    assert total >= expect, f"{total} of {expect} predictions arrived in {timeout:.0f} s\n{stack.logs()}"
    r = dali_worker("tail", "--topic", "dali.predictions", "--from-beginning", "--json",
                    "--count", str(total), "--timeout", "60", "--bootstrap-servers", stack.bootstrap)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == total, f"tail read {len(rows)} of {total} records:\n{r.stderr[-2000:]}"
    return rows


def produce(stack, *paths: Path, repeat: int = 1) -> None:
    r = dali_worker("produce", *map(str, paths), "--topic", "images", "--repeat", str(repeat),
                    "--bootstrap-servers", stack.bootstrap)
    assert r.returncode == 0, f"produce failed:\n{r.stdout}\n{r.stderr}"


def renamed(tmp: Path, prefix: str) -> Path:
    """tests/data under new file names: produce keys are file names and results echo them as ids."""
    folder = tmp / prefix
    folder.mkdir()
    for photo in PHOTOS:
        shutil.copyfile(photo, folder / f"{prefix}-{photo.name}")
    return folder


async def _partitions(bootstrap: str, topic: str):
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (desc,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for p in desc.get("partitions", ())]


async def _records(topic: str, bootstrap: str) -> int:
    from aiokafka import AIOKafkaConsumer

    parts = await _partitions(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(parts)).values()) if parts else 0
    finally:
        await consumer.stop()


async def _lag(bootstrap: str) -> dict:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(GROUP)
        parts = await _partitions(bootstrap, "images")
        ends = await consumer.end_offsets(parts)
        return {tp.partition: ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in parts}
    finally:
        await consumer.stop()
        await admin.close()


def wait_all_committed(stack, timeout: float = 240) -> None:
    """Until the group's committed offsets reach the end of every input partition."""
    deadline = time.monotonic() + timeout
    lag = None
    while time.monotonic() < deadline:
        lag = asyncio.run(_lag(stack.bootstrap))
        if lag and not any(lag.values()):
            return
        time.sleep(2)
    raise AssertionError(f"offsets not all committed after {timeout:.0f} s: lag {lag}\n{stack.logs()}")


def test_up_produce_tail_every_image_has_a_prediction(stack):
    stack.compose("up", "-d", timeout=1800)
    stack.wait_healthy("worker", 1)
    states = {s["Service"]: s for s in stack.services()}
    for one_shot in ("kafka-init", "export-classifier"):
        assert states[one_shot]["State"] == "exited" and states[one_shot]["ExitCode"] == 0, states[one_shot]
    assert states["kafka"]["Health"] == "healthy" and states["triton"]["Health"] == "healthy"
    # published as the shipped file says: on loopback only, and nothing of Triton's
    published = {(s["Service"], p.get("URL"), p.get("PublishedPort")) for s in states.values()
                 for p in s.get("Publishers") or () if p.get("PublishedPort")}
    assert published and all(url == "127.0.0.1" for _svc, url, _port in published), published
    assert {svc for svc, _url, _port in published} == {"kafka", "worker"}, published

    produce(stack, *PHOTOS)
    stack.sent = len(PHOTOS)
    rows = results(stack, len(PHOTOS))
    assert sorted(r["id"] for r in rows) == sorted(p.name for p in PHOTOS)
    for r in rows:
        assert r["kind"] == "result" and r["model"]["name"] == "resnet50", r
        top = r["labels"]["logits"]
        assert len(top) == 5 and all(t["label"].startswith("class_") for t in top), r


def test_scale_to_two_workers_while_messages_flow_loses_and_duplicates_nothing(stack, tmp_path):
    before = stack.sent
    stack.compose("up", "-d", "--no-recreate", "--scale", "worker=2", "--no-build", timeout=600)
    # keep producing (event-driven, not timed): until a result comes from the second container,
    # so that the group rebalances while records are in flight; then one more round
    sent, rounds, workers = before, 0, set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rounds += 1
        produce(stack, renamed(tmp_path, f"scale{rounds}"), repeat=8)
        sent += len(PHOTOS) * 8
        workers = {r["worker"] for r in results(stack, sent)}
        if len(workers) >= 2:
            break
    else:
        raise AssertionError(f"the second worker served nothing in 600 s ({workers})\n{stack.logs()}")
    produce(stack, renamed(tmp_path, "after-scale"), repeat=8)
    sent += len(PHOTOS) * 8
    wait_all_committed(stack)
    rows = results(stack, sent)
    ids = Counter(r["id"] for r in rows)
    assert len(ids) == sent, f"{sent - len(ids)} lost"
    assert not [i for i, n in ids.items() if n > 1], f"duplicates: {[i for i, n in ids.items() if n > 1][:10]}"
    assert len(rows) == sent
    stack.sent = sent


def test_down_then_up_keeps_topics_and_offsets(stack, tmp_path):
    wait_all_committed(stack)
    before = stack.sent
    stack.compose("down", "--timeout", "45", timeout=300)
    assert not stack.leftovers()["containers"]
    assert stack.leftovers()["volumes"], "down (without -v) must keep Kafka's data volume"
    stack.compose("up", "-d", "--no-build", timeout=900)
    stack.wait_healthy("worker", 1)
    produce(stack, renamed(tmp_path, "after-restart"))
    wait_all_committed(stack)
    rows = results(stack, before + len(PHOTOS))
    ids = Counter(r["id"] for r in rows)
    assert len(rows) == before + len(PHOTOS), "records processed again after down/up"
    assert not [i for i, n in ids.items() if n > 1]


def test_down_v_leaves_nothing(stack):
    stack.compose("down", "-v", "--timeout", "45", timeout=300)
    assert stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
