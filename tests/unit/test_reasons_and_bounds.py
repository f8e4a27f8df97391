"""One list of reason codes for every part, and dead letters that are always writable (issue 21)."""
from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest

from worker.config import Route, WorkerConfig
from worker.reasons import Reason
from worker.stream.messages import decode_dead_letter, encode_dead_letter
from worker.stream.outcomes import Outcome, build_unit, dead_letter_record, from_pipeline
from worker.stream.results import ECHO_LIMIT, FIELD_LIMITS, ORIGINAL_LIMIT, echo_bytes, echo_id
from worker.stream.routing import Pending

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


def _cfg(**kw) -> WorkerConfig:
    cfg = WorkerConfig(routes=[Route(inputs=["in"], pipeline="p", output="out")], **kw)
    return cfg.check()


def _pending(cfg, **kw) -> Pending:
    base = dict(tp=("in", 0), offset=7, epoch=1, key=b"k", value=b"\xff\xd8\xff" + bytes(100),
                timestamp_ms=1, id="m-1", pipeline="p", route=cfg.routes[0], inputs={})
    base.update(kw)
    return Pending(**base)


def test_every_reason_is_documented_in_schema_and_readme():
    schema = json.loads((ROOT / "schemas/dead-letter.v1.schema.json").read_text())
    assert schema["properties"]["reason"]["enum"] == [r.value for r in Reason]
    readme = (ROOT / "schemas/README.md").read_text()
    for r in Reason:
        assert f"| `{r.value}` |" in readme, r


def test_every_reason_is_listed_in_the_top_readme():
    """README's list of dead-letter reasons (Messages and dead letters) lacked three (issue 31)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Messages and dead letters"):text.index("## Delivery")]
    assert [r.value for r in Reason if f"`{r.value}`" not in section] == []


def test_model_input_mismatch_from_the_model_client_becomes_a_dead_letter():
    """The model client's reason used to be refused by the dead-letter encoder (ValueError),
    which stopped the worker without committing."""
    from worker.inference.client import InferOutcome, MODEL_INPUT_MISMATCH

    cfg = _cfg()
    infer = InferOutcome(False, reason=MODEL_INPUT_MISMATCH, error="shape [3, 7] does not fit [3, 224, 224]")
    unit = build_unit([_pending(cfg)], [Outcome(False, reason=infer.reason, error=infer.error)], cfg, {})
    (rec,) = unit.records
    assert rec.kind == "dead_letter" and rec.topic == cfg.dead_letter_topic
    assert decode_dead_letter(rec.value).reason == "model_input_mismatch"


def test_reasons_are_one_closed_list():
    with pytest.raises(ValueError, match="unknown dead-letter reason 'made_up'"):
        encode_dead_letter(original=b"", key=None, reason="made_up", error="", source=("t", 0, 0),
                           pipeline=None, worker="w")
    class R:  # a runner result with its own reason
        ok, error, reason = False, "bad", "pipeline_error"
    assert from_pipeline(R()).reason is Reason.PIPELINE_ERROR


def test_a_10_mib_pipeline_name_gives_a_small_dead_letter():
    """It once gave a 10.5 MB dead letter: the original was carried whenever it fitted."""
    cfg = _cfg(max_request_bytes=16 * MiB)
    name = "p" * (10 * MiB)
    original = msgpack.packb({"v": "1.0", "id": "x", "pipeline": name, "inputs": {"image": b"\xff\xd8"}})
    rec = dead_letter_record(cfg, "dlq", reason="unknown_pipeline", error=f"asks for {name!r}",
                             original=original, key=b"k" * 10_000, source=("in", 0, 5, 1), epoch=1,
                             id="i" * MiB, pipeline=name)
    size = len(rec.value) + len(rec.key or b"") + sum(len(k) + len(v) for k, v in rec.headers)
    print(f"dead letter of a 10 MiB pipeline name: {size} bytes")
    assert size < 16 * 1024
    dl = decode_dead_letter(rec.value)
    assert dl.original is None and dl.original_size == len(original)
    assert f"up to {ORIGINAL_LIMIT} bytes" in dl.error and "in/0/5" in dl.error
    assert len(dl.pipeline.encode()) < FIELD_LIMITS["pipeline"] + 64
    assert len(dl.error.encode()) < FIELD_LIMITS["error"] + 256
    assert dl.id == echo_id("i" * MiB) and len(dl.id.encode()) == ECHO_LIMIT
    assert dl.key == rec.key == echo_bytes(b"k" * 10_000) and len(rec.key) == ECHO_LIMIT
    assert set(msgpack.unpackb(rec.value)["truncated"]) >= {"id", "pipeline", "error", "key"}


def test_an_original_up_to_the_limit_travels_untouched():
    cfg = _cfg()
    assert cfg.dead_letter_original_max_bytes == ORIGINAL_LIMIT == MiB
    for n, carried in [(MiB, True), (MiB + 1, False)]:
        rec = dead_letter_record(cfg, "dlq", reason="decode_error", error="bad", original=bytes(n),
                                 key=b"k", source=("in", 0, 1, 1), epoch=1, id="x", pipeline="p")
        assert (decode_dead_letter(rec.value).original is not None) == carried, n
    small = _cfg(dead_letter_original_max_bytes=10)
    rec = dead_letter_record(small, "dlq", reason="decode_error", error="bad", original=bytes(11),
                             key=b"k", source=("in", 0, 1, 1), epoch=1, id="x", pipeline="p")
    assert decode_dead_letter(rec.value).original is None


def test_results_and_dead_letters_echo_ids_and_keys_alike():
    """A result once echoed a 1 MiB id and key in full (a 1.05 MB record) while its dead letter
    cut the id to about 1 KiB and dropped the key: a consumer could not match them."""
    import numpy as np

    from worker.stream.messages import decode_result

    cfg = _cfg()
    for raw in [b"k" * MiB, ("\u00e9" * MiB).encode()]:  # ASCII, and 2-byte characters
        long_id = raw.decode()
        p = _pending(cfg, id=echo_id(long_id), key=raw)  # as the router admits it
        unit = build_unit([p, _pending(cfg, id=echo_id(long_id), key=raw, offset=8)],
                          [Outcome(True, outputs={"y": np.zeros(2, np.float32)}),
                           Outcome(False, reason=Reason.DECODE_ERROR, error="bad")], cfg, {})
        res, dead = unit.records
        r, d = decode_result(res.value), decode_dead_letter(dead.value)
        assert r.id == d.id == echo_id(long_id) and len(r.id.encode()) <= ECHO_LIMIT
        assert res.key == dead.key == d.key == echo_bytes(raw) == r.id.encode()
        assert len(res.value) < 4096 and len(dead.value) < 16 * 1024
        assert echo_id(r.id) == r.id and echo_bytes(res.key) == res.key  # idempotent
        # the tag tells ids apart that share their first kilobyte
        assert echo_id(long_id + "x") != r.id
    assert echo_id("short") == "short" and echo_bytes(b"\xff" * 10) == b"\xff" * 10


def test_an_original_that_cannot_fit_is_replaced_by_its_coordinates():
    cfg = _cfg(max_request_bytes=MiB)
    rec = dead_letter_record(cfg, "dlq", reason="oversized", error="too big", original=bytes(MiB),
                             key=b"k", source=("in", 3, 99, 1), epoch=1, id="x", pipeline=None)
    dl = decode_dead_letter(rec.value)
    assert dl.original is None and dl.original_size == MiB and "in/3/99" in dl.error
    assert len(rec.value) < MiB


def test_a_dead_letter_the_broker_refuses_falls_back_to_one_without_the_original():
    cfg = _cfg()
    rec = dead_letter_record(cfg, "dlq", reason="decode_error", error="bad", original=bytes(5000),
                             key=b"k", source=("in", 0, 1, 1), epoch=1, id="x", pipeline="p")
    assert decode_dead_letter(rec.value).original == bytes(5000)
    smaller = rec.on_unwritable(Reason.RESULT_TOO_LARGE, "broker said too large")
    dl = decode_dead_letter(smaller.value)
    assert (dl.original, dl.original_size, dl.reason) == (None, 5000, "decode_error")
    assert smaller.on_unwritable is None and smaller.kind == "dead_letter"


def test_a_result_no_message_can_carry_is_a_dead_letter_not_a_stop():
    """A model's BYTES output (Triton's classification strings) once stopped the worker with
    'dtype object cannot travel in a message', again after every restart."""
    import numpy as np

    cfg = _cfg()
    strings = np.array([b"0.9:3:cat"], dtype=object)
    unit = build_unit([_pending(cfg)], [Outcome(True, outputs={"logits": strings})], cfg, {},
                      model={"name": "m", "version": None})
    (rec,) = unit.records
    dl = decode_dead_letter(rec.value)
    assert rec.kind == "dead_letter" and dl.reason == "model_error"
    assert "cannot travel in a message" in dl.error and "model outputs" in dl.error


def _decoded_peak(value: bytes) -> tuple[str, int]:
    """(reason or "ok", the most memory decoding ``value`` allocated at once)."""
    import tracemalloc

    from worker.stream.envelope import decode_input
    from worker.stream.errors import MessageError

    tracemalloc.start()
    try:
        decode_input(value, key=None, topic="t", partition=0, offset=0)
        what = "ok"
    except MessageError as exc:
        what = exc.reason
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return what, peak


def test_msgpack_decoding_limits_keep_an_envelopes_decoded_size_bounded():
    """msgpack's own limits follow the value's length: one byte each (negative fixints, empty
    maps) once became 40-72 bytes of objects, and maps of 6-10 MB cost about 37x their size.
    Under the envelope's limits a 16 MiB envelope, however built, decodes within 2x its size
    (worker/stream/wire.py says why), and any smaller one within its size + 16 MiB."""
    import struct

    from worker.stream.wire import MAX_CONTAINER_LEN, MAX_ELEMENTS

    size = 16 * MiB - 64
    head = msgpack.packb({"v": "1.2", "kind": "input", "id": "x", "inputs": {"a": b"\xff\xd8"},
                          "meta": 0})[:-1]  # the meta value follows

    def fill(meta: bytes) -> bytes:
        return head + meta + b"\xc0" * (size - len(head) - len(meta))  # nils: trailing garbage

    n = size - len(head) - 5
    hostile = {
        "array of negative fixints": head + b"\xdd" + struct.pack(">I", n) + b"\xe0" * n,
        "array of empty maps": head + b"\xdd" + struct.pack(">I", n) + b"\x80" * n,
        "map of small ints": head + b"\xdf" + struct.pack(">I", n // 4)
        + b"".join(struct.pack(">BHB", 0xcd, i % 65536, 0xe0) for i in range(n // 4)),
        "arrays of 1,000 under the per-array limit": fill(msgpack.packb([[-20] * 1000] * 1000)),
        "nested declared arrays": fill((b"\xdd" + struct.pack(">I", MAX_CONTAINER_LEN)) * 1000),
        "one 16 MiB string": head + msgpack.packb("s" * (n - 5)),
        "arrays of strings": fill(msgpack.packb([["ab" * 500] * 1000] * 15)),
        "a valid envelope of one 16 MiB input": msgpack.packb(
            {"v": "1.2", "kind": "input", "id": "x", "inputs": {"a": bytes(size - 64)}}),
    }
    for name, value in hostile.items():
        what, peak = _decoded_peak(value)
        print(f"{name}: {len(value) >> 20} MiB -> {what}, decoded peak {peak / len(value):.2f}x")
        assert peak < 2 * len(value), (name, peak)
    small = head + msgpack.packb([[{}] * 1000] * 64)  # 64 KB of empty maps
    what, peak = _decoded_peak(small)
    assert what == "invalid_envelope" and peak < len(small) + 16 * MiB
    # an ordinary envelope with a rich meta decodes
    meta = {"boxes": [[1.5, 2.5, 3.5, 4.5]] * 1000, "tags": {f"t{i}": i for i in range(1000)}}
    from worker.stream.envelope import decode_input, encode_input

    msg = decode_input(encode_input("m", {"a": b"\xff\xd8"}, meta=meta), key=None, topic="t",
                       partition=0, offset=0)
    assert msg.meta["tags"]["t999"] == 999 and MAX_ELEMENTS >= 6000
