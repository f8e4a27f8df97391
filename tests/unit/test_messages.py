"""Message formats: input envelopes and raw inputs, results, dead letters (schemas/)."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest

from worker.stream.messages import (REASONS, InputMessage, Label, MessageError, Source,
                                    check_inputs, dead_letter_from_error, decode_dead_letter,
                                    decode_input, decode_result, encode_dead_letter, encode_input,
                                    encode_result, looks_like_map)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
COORDS = dict(topic="in", partition=2, offset=41)


def _image_bytes(fmt: str) -> bytes:
    from PIL import Image

    img = Image.fromarray((np.arange(32 * 24 * 3) % 251).astype(np.uint8).reshape(24, 32, 3))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _reason(exc_info) -> str:
    return exc_info.value.reason


# ---- a small JSON Schema checker (the subset our schemas use; no extra dependency) ----

def _jsonable(obj):
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
          "null": type(None), "boolean": bool}


def _validate(inst, schema, root, path="$"):
    if "$ref" in schema:
        _validate(inst, root["$defs"][schema["$ref"].split("/")[-1]], root, path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(inst, _TYPES[t]) and not (t in ("integer", "number") and isinstance(inst, bool))
                 for t in types)
        assert ok, f"{path}: {inst!r} is not {types}"
    if "const" in schema:
        assert inst == schema["const"], f"{path}: {inst!r} != {schema['const']!r}"
    if "enum" in schema:
        assert inst in schema["enum"], f"{path}: {inst!r} not in enum"
    if "pattern" in schema:
        assert re.search(schema["pattern"], inst), f"{path}: {inst!r} !~ {schema['pattern']}"
    if "oneOf" in schema:
        passed = 0
        for sub in schema["oneOf"]:
            try:
                _validate(inst, sub, root, path)
                passed += 1
            except AssertionError:
                pass
        assert passed == 1, f"{path}: {inst!r} matches {passed} of oneOf"
    if isinstance(inst, dict):
        for k in schema.get("required", []):
            assert k in inst, f"{path}: missing required {k!r}"
        props = schema.get("properties", {})
        for k, v in inst.items():
            if k in props:
                _validate(v, props[k], root, f"{path}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                _validate(v, schema["additionalProperties"], root, f"{path}.{k}")
    if isinstance(inst, list) and "items" in schema:
        for i, v in enumerate(inst):
            _validate(v, schema["items"], root, f"{path}[{i}]")


def _check_schema(value: bytes, name: str):
    schema = json.loads((SCHEMAS / name).read_text())
    _validate(_jsonable(msgpack.unpackb(value, raw=False)), schema, schema)


# ---- input envelopes ----

def test_envelope_round_trip_bytes_and_typed_arrays():
    jpeg = _image_bytes("JPEG")
    boxes = np.arange(12, dtype=np.float32).reshape(3, 4)
    value = encode_input("cat-1", {"images": jpeg, "boxes": boxes}, pipeline="detect",
                         meta={"camera": 7}, reply_to="answers")
    _check_schema(value, "input-envelope.v1.schema.json")
    msg = decode_input(value, key=b"ignored", **COORDS)
    assert not msg.is_raw and msg.raw is None
    assert (msg.id, msg.pipeline, msg.meta, msg.reply_to) == ("cat-1", "detect", {"camera": 7}, "answers")
    assert isinstance(msg.created_ms, int) and msg.nbytes == len(value)
    assert msg.inputs["images"].dtype == np.uint8 and msg.inputs["images"].tobytes() == jpeg
    np.testing.assert_array_equal(msg.inputs["boxes"], boxes)
    assert msg.inputs["boxes"].dtype == np.float32


def test_envelope_inputs_are_views_not_copies():
    value = encode_input("x", {"images": b"\xff\xd8" + bytes(100_000)})
    arr = decode_input(value, key=None, **COORDS).inputs["images"]
    assert not arr.flags.owndata and not arr.flags.writeable


def test_envelope_without_id_takes_key_then_coordinates():
    value = msgpack.packb({"v": "1.0", "inputs": {"images": b"\xff\xd8"}})
    assert decode_input(value, key=b"k.jpg", **COORDS).id == "k.jpg"
    assert decode_input(value, key=None, **COORDS).id == "in/2/41"


def test_unknown_minor_version_is_read_unknown_major_is_rejected():
    ok = msgpack.packb({"v": "1.7", "id": "a", "inputs": {"x": b"1"}, "future_field": [1, 2]})
    assert decode_input(ok, key=None, **COORDS).id == "a"
    bad = msgpack.packb({"v": "2.0", "id": "a", "inputs": {"x": b"1"}})
    with pytest.raises(MessageError) as e:
        decode_input(bad, key=None, **COORDS)
    assert _reason(e) == "unsupported_version"
    assert "2.0" in str(e.value) and "in/2/41" in str(e.value) and e.value.id == "a"
    with pytest.raises(MessageError) as e:
        decode_input(msgpack.packb({"id": "a", "inputs": {"x": b"1"}}), key=None, **COORDS)
    assert _reason(e) == "invalid_envelope" and "'v'" in str(e.value)


def test_malformed_and_truncated_msgpack():
    with pytest.raises(MessageError) as e:
        decode_input(b"\x82\xa1v\xa31.0\xc1garbage", key=b"k", **COORDS)
    assert _reason(e) == "malformed_msgpack" and "in/2/41" in str(e.value) and "'k'" in str(e.value)
    value = encode_input("t", {"images": bytes(1000)})
    with pytest.raises(MessageError) as e:
        decode_input(value[:-10], key=None, **COORDS)
    assert _reason(e) == "malformed_msgpack"
    with pytest.raises(MessageError) as e:  # forced envelope mode on a JPEG
        decode_input(_image_bytes("JPEG"), key=None, mode="envelope", **COORDS)
    assert _reason(e) in ("malformed_msgpack", "invalid_envelope")


@pytest.mark.parametrize("obj, needle", [
    ({"v": "1.0", "id": "a"}, "'inputs'"),
    ({"v": "1.0", "id": "a", "inputs": {}}, "'inputs'"),
    ({"v": "1.0", "id": 5, "inputs": {"x": b"1"}}, "'id'"),
    ({"v": "1.0", "id": "a", "pipeline": 3, "inputs": {"x": b"1"}}, "'pipeline'"),
    ({"v": "1.0", "id": "a", "inputs": {"x": "text"}}, "input 'x'"),
    ({"v": "1.0", "id": "a", "inputs": {"x": {"dtype": "complex64", "shape": [1], "data": b"12345678"}}}, "complex64"),
    ({"v": "1.0", "id": "a", "inputs": {"x": {"dtype": "float32", "shape": [3], "data": b"1234"}}}, "needs 12"),
    ({"v": "1.0", "id": "a", "inputs": {"x": {"dtype": "float32", "shape": [-1], "data": b""}}}, "shape"),
    ({"v": "1.0", "id": "a", "inputs": {"x": b"1"}, "meta": [1]}, "'meta'"),
    ({"v": "1.0", "id": "a", "inputs": {"x": b"1"}, "reply_to": 1}, "'reply_to'"),
    ({"v": "1.0", "kind": "result", "id": "a", "inputs": {"x": b"1"}}, "not an input"),
])
def test_invalid_envelopes_name_the_field(obj, needle):
    with pytest.raises(MessageError) as e:
        decode_input(msgpack.packb(obj), key=None, **COORDS)
    assert _reason(e) == "invalid_envelope"
    assert needle in str(e.value)


def test_empty_value_and_oversized():
    with pytest.raises(MessageError) as e:
        decode_input(None, key=b"k", **COORDS)
    assert _reason(e) == "empty_value"
    with pytest.raises(MessageError) as e:
        decode_input(b"\xff\xd8" + bytes(2000), key=b"big.jpg", max_bytes=1000, **COORDS)
    assert _reason(e) == "oversized" and e.value.id == "big.jpg" and "1000" in str(e.value)


# ---- raw mode and auto-detection ----

@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"])
def test_auto_detects_real_media_as_raw(fmt):
    data = _image_bytes(fmt)
    assert not looks_like_map(data)
    msg = decode_input(data, key=b"photo", **COORDS)
    assert msg.is_raw and msg.inputs is None and msg.id == "photo"
    assert msg.raw.dtype == np.uint8 and msg.raw.tobytes() == data


def test_png_signature_starts_with_a_fixmap_byte_but_is_raw():
    png = _image_bytes("PNG")
    assert png[0] == 0x89  # a msgpack fixmap of 9 entries...
    assert decode_input(png, key=None, mode="auto", **COORDS).is_raw  # ...but a PNG


def test_envelopes_are_detected_in_auto_mode():
    assert looks_like_map(encode_input("a", {"x": b"1"}))
    big = msgpack.packb({"v": "1.0", "id": "a", "inputs": {"x": b"1"}, **{f"f{i}": i for i in range(20)}})
    assert big[0] == 0xDE and decode_input(big, key=None, **COORDS).id == "a"


def test_raw_ids_from_key_or_coordinates():
    jpeg = _image_bytes("JPEG")
    assert decode_input(jpeg, key=b"a/b.jpg", **COORDS).id == "a/b.jpg"
    assert decode_input(jpeg, key=None, **COORDS).id == "in/2/41"
    assert decode_input(jpeg, key=b"\xff\xfe", **COORDS).id == "fffe"
    # forced raw mode keeps even a msgpack-looking value as bytes
    env = encode_input("a", {"x": b"1"})
    assert decode_input(env, key=None, mode="raw", **COORDS).is_raw


# ---- checking against a pipeline's inputs ----

SPECS_ONE = {"images": (np.uint8, 1)}
SPECS_TWO = {"images": (np.uint8, 1), "boxes": ("float32", 2)}


def test_raw_maps_onto_the_single_input():
    msg = decode_input(_image_bytes("JPEG"), key=None, **COORDS)
    got = check_inputs(msg, SPECS_ONE)
    assert list(got) == ["images"] and got["images"] is msg.raw
    with pytest.raises(MessageError) as e:
        check_inputs(msg, SPECS_TWO, pipeline="detect")
    assert _reason(e) == "unknown_input" and "boxes, images" in str(e.value)
    assert e.value.pipeline == "detect"
    with pytest.raises(MessageError) as e:
        check_inputs(msg, {"x": (np.float32, 1)})
    assert _reason(e) == "wrong_dtype"


def test_check_inputs_reasons():
    boxes = np.zeros((2, 4), np.float32)
    good = decode_input(encode_input("a", {"images": b"\xff\xd8", "boxes": boxes}), key=None, **COORDS)
    assert set(check_inputs(good, SPECS_TWO)) == {"images", "boxes"}
    cases = [
        ({"images": b"1", "boxes": boxes, "extra": b"2"}, "unknown_input", "extra"),
        ({"images": b"1"}, "missing_input", "boxes"),
        ({"images": b"1", "boxes": boxes.astype(np.float64)}, "wrong_dtype", "float64"),
        ({"images": b"1", "boxes": boxes.reshape(-1)}, "wrong_shape", "2-D"),
        ({"images": np.zeros((2, 2), np.uint8), "boxes": boxes}, "wrong_shape", "'images'"),
    ]
    for inputs, reason, needle in cases:
        msg = decode_input(encode_input("a", inputs, pipeline="det"), key=None, **COORDS)
        with pytest.raises(MessageError) as e:
            check_inputs(msg, SPECS_TWO)
        assert (_reason(e), e.value.id, e.value.pipeline) == (reason, "a", "det"), inputs
        assert needle in str(e.value)
    # ndim None: anything goes
    msg = decode_input(encode_input("a", {"t": np.zeros((2, 3, 4), np.int16)}), key=None, **COORDS)
    assert check_inputs(msg, {"t": (np.int16, None)})["t"].shape == (2, 3, 4)


# ---- results ----

def _result(**over):
    kw = dict(id="cat.jpg", source=Source("in", 2, 41, 1700000000000), pipeline="classify",
              model={"name": "resnet", "version": 1},
              outputs={"probs": np.linspace(0, 1, 10, dtype=np.float32),
                       "image": np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
                       "mask": np.array([True, False]), "ids": np.array([1, -2], ">i8")},
              meta={"camera": 7}, timings={"pipeline_ms": 3.5, "total_ms": 4}, worker="w-1",
              labels={"probs": [Label("tabby", 0.8, 281), {"label": "tiger", "score": 0.1, "index": 282}]})
    kw.update(over)
    return kw


def test_result_round_trip():
    kw = _result()
    value = encode_result(**kw)
    _check_schema(value, "result.v1.schema.json")
    r = decode_result(value)
    assert (r.id, r.pipeline, r.worker, r.meta) == ("cat.jpg", "classify", "w-1", {"camera": 7})
    assert r.source == Source("in", 2, 41, 1700000000000)
    assert r.model == {"name": "resnet", "version": "1"}
    assert r.timings == {"pipeline_ms": 3.5, "total_ms": 4.0}
    for name, arr in kw["outputs"].items():
        np.testing.assert_array_equal(r.outputs[name], arr)
        assert r.outputs[name].dtype.name == arr.dtype.name and r.outputs[name].shape == arr.shape
    assert r.labels["probs"] == [Label("tabby", 0.8, 281), Label("tiger", 0.1, 282)]


def test_result_without_model_or_labels_and_non_contiguous_outputs():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    r = decode_result(encode_result(**_result(model=None, labels=None, outputs={"x": x},
                                              source={"topic": "t", "partition": 0, "offset": 1})))
    assert r.model is None and r.labels is None and r.source.timestamp_ms is None
    np.testing.assert_array_equal(r.outputs["x"], x)


def test_result_errors():
    with pytest.raises(TypeError, match="object"):
        encode_result(**_result(outputs={"s": np.array(["a"], dtype=object)}))
    with pytest.raises(MessageError) as e:
        encode_result(**_result(outputs={"big": np.zeros(10_000, np.float32)}), max_bytes=20_000)
    assert _reason(e) == "result_too_large" and "cat.jpg" in str(e.value)
    future = msgpack.packb({"v": "3.1", "kind": "result", "id": "a"})
    with pytest.raises(MessageError) as e:
        decode_result(future)
    assert _reason(e) == "unsupported_version"
    with pytest.raises(MessageError) as e:
        decode_result(msgpack.packb({"v": "1.0", "id": "a", "outputs": {"x": {"dtype": "float32"}}}))
    assert _reason(e) == "invalid_envelope" and "'x'" in str(e.value)
    with pytest.raises(MessageError) as e:
        decode_result(b"\x81\xc1")
    assert _reason(e) == "malformed_msgpack"


# ---- dead letters ----

def test_dead_letter_round_trip_and_headers():
    original = _image_bytes("JPEG")[:100]
    value, headers = encode_dead_letter(original=original, key=b"bad.jpg", reason="decode_error",
                                        error="x" * 5000 + "é", source=("in", 2, 41, 5),
                                        pipeline="classify", worker="w-1", id="bad.jpg")
    _check_schema(value, "dead-letter.v1.schema.json")
    h = dict(headers)
    assert h["dsw-reason"] == b"decode_error" and h["dsw-source"] == b"in/2/41"
    assert h["dsw-worker"] == b"w-1" and h["dsw-id"] == b"bad.jpg"
    assert len(h["dsw-error"]) <= 1024
    d = decode_dead_letter(value, headers)
    assert d.original == original and d.original_size == len(original) and d.key == b"bad.jpg"
    assert (d.reason, d.id, d.pipeline, d.worker) == ("decode_error", "bad.jpg", "classify", "w-1")
    assert d.source == Source("in", 2, 41, 5) and d.error.endswith("é")


def test_dead_letter_from_message_error_and_unknown_reason():
    bad = b"\x82\xa1v\xa31.0\xc1"
    with pytest.raises(MessageError) as e:
        decode_input(bad, key=None, **COORDS)
    value, headers = dead_letter_from_error(e.value, original=bad, key=None, source=("in", 2, 41),
                                            worker="w")
    d = decode_dead_letter(value)
    assert d.reason == "malformed_msgpack" and d.original == bad and d.id == "in/2/41"
    assert "in/2/41" in d.error
    with pytest.raises(ValueError, match="unknown dead-letter reason"):
        encode_dead_letter(original=b"", key=None, reason="oops", error="", source=("t", 0, 0),
                           pipeline=None, worker="w")
    with pytest.raises(ValueError):
        MessageError("oops", "x")


def test_dead_letter_leaves_out_an_original_that_cannot_fit():
    value, _ = encode_dead_letter(original=bytes(100_000), key=b"k", reason="oversized", error="big",
                                  source=("in", 0, 9), pipeline=None, worker="w", max_bytes=50_000)
    d = decode_dead_letter(value)
    assert d.original is None and d.original_size == 100_000
    assert "left out" in d.error and "in/0/9" in d.error and len(value) < 50_000
    _check_schema(value, "dead-letter.v1.schema.json")


def test_dead_letter_from_headers_only():
    headers = [("dsw-reason", b"oversized"), ("dsw-error", b"too big"), ("dsw-source", b"my.topic/3/7")]
    d = decode_dead_letter(b"\xff\xd8 raw jpeg", headers)
    assert (d.reason, d.error, d.source, d.original) == ("oversized", "too big", Source("my.topic", 3, 7),
                                                         b"\xff\xd8 raw jpeg")
    with pytest.raises(MessageError):
        decode_dead_letter(b"\xff\xd8")


def test_reason_codes_are_documented_everywhere():
    schema = json.loads((SCHEMAS / "dead-letter.v1.schema.json").read_text())
    assert schema["properties"]["reason"]["enum"] == list(REASONS)
    readme = (SCHEMAS / "README.md").read_text()
    for code in REASONS:
        assert f"`{code}`" in readme, code


def test_input_message_is_small():
    msg = InputMessage(id="a", raw=np.zeros(3, np.uint8))
    assert msg.is_raw and msg.meta == {} and not hasattr(msg, "__dict__")
