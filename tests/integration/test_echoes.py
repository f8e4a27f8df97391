"""The echo policy and dead-letter sizes on the real broker (issue 28): an input's id and key
come back in its result and in its dead letter by one rule (schemas/README.md, "Echoes"), a
dead letter carries its original only up to 1 MiB, and a hostile 16 MiB envelope is refused
under the decoding limits. Before: a result echoed a 1 MiB id and key in full (a 1.05 MB record)
while its dead letter cut the id to about 1 KiB and dropped the key, and a 10 MiB pipeline name
gave a 10.5 MB dead letter."""
from __future__ import annotations

import asyncio
import struct
import time
import uuid

import msgpack
from aiokafka import AIOKafkaConsumer

from tests.kafka_helpers import BIG
from tests.worker_harness import WorkerProcess, corrupt_jpeg, produce, setup_topics, small_jpegs
from worker.stream.messages import decode_dead_letter, decode_result, encode_input
from worker.stream.results import ECHO_LIMIT, echo_bytes, echo_id

MiB = 2**20


async def _records(bootstrap: str, topics: list[str], n: int, timeout: float) -> list:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=BIG,
                                fetch_max_bytes=BIG * 2)
    await consumer.start()
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < deadline:
            for _tp, records in (await consumer.getmany(timeout_ms=200)).items():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def test_results_and_dead_letters_echo_alike_and_dead_letters_stay_small(kafka_bootstrap, tmp_path):
    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"echo-{uuid.uuid4().hex[:6]}", 1)
    jpeg = small_jpegs(1)[0]
    long = "k" * MiB  # ids and keys of 1 MiB that share their first kilobyte
    head = msgpack.packb({"v": "1.2", "kind": "input", "id": "hostile", "inputs": {"image": jpeg},
                          "meta": 0})[:-1]
    n = 16 * MiB - 64 * 1024 - len(head) - 5
    hostile = head + b"\xdd" + struct.pack(">I", n) + b"\xe0" * n  # meta: 16 M negative fixints
    big_corrupt = encode_input("big-corrupt", {"image": corrupt_jpeg(1) + bytes(5 * MiB)})
    items = [
        (long + "-raw-good", jpeg),                                         # raw: the id is the key
        (long + "-raw-bad", corrupt_jpeg(2)),
        (long + "-env-key", encode_input(long + "-env-good", {"image": jpeg})),
        ("nopipe", encode_input(long + "-nopipe", {"image": jpeg}, pipeline="p" * (10 * MiB))),
        ("hostile", hostile),
        ("big-corrupt", big_corrupt),
    ]
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=1))
    args = ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", f"g-{tin}",
            "--pipeline", "classify_reduce", "--max-delay-ms", "20", "--commit-interval-ms", "300",
            "--num-threads", "2"]
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log") as w:
        records = asyncio.run(_records(kafka_bootstrap, [tout, tdlq], len(items), timeout=180))
        assert w.terminate() == 0, w.log()[-3000:]
    results = {decode_result(r.value).id: r for r in records if r.topic == tout}
    dead = {decode_dead_letter(r.value, r.headers).id: r for r in records if r.topic == tdlq}
    assert len(results) + len(dead) == len(items), (list(results), list(dead))
    sizes = {}

    def size(r) -> int:
        return len(r.value) + len(r.key or b"") + sum(len(k) + len(v) for k, v in r.headers)

    # raw inputs: the id is the key; result and dead letter echo both the same way
    good, bad = results[echo_id(long + "-raw-good")], dead[echo_id(long + "-raw-bad")]
    assert good.key == echo_bytes((long + "-raw-good").encode()) and len(good.key) == ECHO_LIMIT
    assert bad.key == echo_bytes((long + "-raw-bad").encode())
    assert decode_dead_letter(bad.value).key == bad.key
    assert echo_id(long + "-raw-good") != echo_id(long + "-raw-bad")  # the tag tells them apart
    assert dict(bad.headers)["dsw-id"].decode() == echo_id(long + "-raw-bad")
    sizes["result of a 1 MiB id and key"] = size(good)
    sizes["dead letter of a 1 MiB id and key"] = size(bad)
    # an envelope: the result's id and key are the echoed envelope id
    env = results[echo_id(long + "-env-good")]
    assert env.key == echo_id(long + "-env-good").encode()
    # a 10 MiB pipeline name: a small dead letter, its original left out (source says where)
    nopipe = dead[echo_id(long + "-nopipe")]
    dl = decode_dead_letter(nopipe.value)
    assert dl.reason == "unknown_pipeline" and dl.original is None and dl.original_size > 10 * MiB
    assert f"{tin}/0/3" in dl.error
    sizes["dead letter of a 10 MiB pipeline name"] = size(nopipe)
    # 16 MiB of one-byte entries: refused under the decoding limits, a small dead letter
    dl = decode_dead_letter(dead["hostile"].value)
    assert dl.reason == "invalid_envelope" and "decoding limits" in dl.error and dl.original is None
    sizes["dead letter of a 16 MiB hostile envelope"] = size(dead["hostile"])
    # a corrupt 5 MiB input: its dead letter leaves the original out (over 1 MiB)
    dl = decode_dead_letter(dead["big-corrupt"].value)
    assert dl.reason == "decode_error" and dl.original is None and "up to 1048576 bytes" in dl.error
    sizes["dead letter of a 5 MiB corrupt input"] = size(dead["big-corrupt"])
    print({k: f"{v} B" for k, v in sizes.items()})
    assert max(sizes.values()) < 24 * 1024, sizes
