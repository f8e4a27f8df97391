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
from worker.stream.results import FIELD_LIMITS
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


def test_a_10_mib_pipeline_name_gives_a_dead_letter_under_the_limit():
    cfg = _cfg(max_request_bytes=16 * MiB)
    name = "p" * (10 * MiB)
    original = msgpack.packb({"v": "1.0", "id": "x", "pipeline": name, "inputs": {"image": b"\xff\xd8"}})
    rec = dead_letter_record(cfg, "dlq", reason="unknown_pipeline", error=f"asks for {name!r}",
                             original=original, key=b"k" * 10_000, source=("in", 0, 5, 1), epoch=1,
                             id="i" * MiB, pipeline=name)
    size = len(rec.value) + len(rec.key or b"") + sum(len(k) + len(v) for k, v in rec.headers)
    assert size < 16 * MiB - 1024
    dl = decode_dead_letter(rec.value)
    assert dl.original == original, "it fits: the original travels untouched"
    assert len(dl.pipeline.encode()) < FIELD_LIMITS["pipeline"] + 64
    assert len(dl.error.encode()) < FIELD_LIMITS["error"] + 256
    assert len(dl.id.encode()) < FIELD_LIMITS["id"] + 64
    assert dl.key is None and rec.key is None and "key" in msgpack.unpackb(rec.value)["truncated"]
    assert set(msgpack.unpackb(rec.value)["truncated"]) >= {"id", "pipeline", "error", "key"}


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
