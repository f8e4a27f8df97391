"""Input messages: the msgpack envelope (``schemas/input-envelope.v1.schema.json``) and raw
mode, where the record value is the media file itself.

:func:`decode_input` runs once per consumed record on the event loop, so it does no more than
decode msgpack and wrap bins in ``np.frombuffer`` views; :func:`check_inputs` then matches the
message against the chosen pipeline's inputs."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import msgpack
import numpy as np

from worker.stream.errors import MessageError
from worker.stream.wire import (VERSION, array_from_wire, array_to_wire, bytes_view,
                                check_version, looks_like_map, unpack_map)

Mode = Literal["auto", "raw", "envelope"]


@dataclass(slots=True)
class InputMessage:
    """One decoded input record. Exactly one of ``inputs`` (envelope) and ``raw`` is set."""
    id: str
    pipeline: str | None = None
    pipeline_version: int | None = None  # None: the route's, else the highest served
    inputs: dict[str, np.ndarray] | None = None
    raw: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    created_ms: int | None = None
    nbytes: int = 0  # size of the record value

    @property
    def is_raw(self) -> bool:
        return self.raw is not None


def _where(topic: str, partition: int, offset: int, key: bytes | None) -> str:
    where = f"message {topic}/{partition}/{offset}"
    if key:
        where += f" (key {key[:80].decode('utf-8', 'replace')!r})"
    return where


def _key_id(key: bytes | None, topic: str, partition: int, offset: int) -> str:
    if key:
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            return key.hex()
    return f"{topic}/{partition}/{offset}"


def decode_input(value: bytes | None, *, key: bytes | None, topic: str, partition: int,
                 offset: int, mode: Mode = "auto", max_bytes: int | None = None) -> InputMessage:
    """Decode one input record, or raise :class:`MessageError` (reason and human message).

    Raw mode: the id is the key (utf-8; hex if it is not utf-8) or ``topic/partition/offset``.
    Auto mode reads a value as an envelope when its first byte is a msgpack map marker and it
    is not a PNG/MNG/JNG signature (0x89 'PNG' starts like a 9-entry map)."""
    fallback_id = _key_id(key, topic, partition, offset)
    if not value:
        where = _where(topic, partition, offset, key)
        raise MessageError("empty_value", f"{where}: the value is empty or null (a tombstone?); "
                           "send the media file or an envelope", id=fallback_id)
    if max_bytes is not None and len(value) > max_bytes:
        where = _where(topic, partition, offset, key)
        raise MessageError("oversized", f"{where}: value of {len(value)} bytes is larger than the "
                           f"worker's limit of {max_bytes} bytes; raise the worker's max message "
                           "size (and the consumer fetch sizes) or send smaller media",
                           id=fallback_id)
    if mode == "raw" or (mode == "auto" and not looks_like_map(value)):
        return InputMessage(id=fallback_id, raw=bytes_view(value), nbytes=len(value))
    if mode not in ("auto", "envelope"):
        raise ValueError(f"mode must be 'auto', 'raw' or 'envelope', not {mode!r}")
    return _decode_envelope(value, _where(topic, partition, offset, key), fallback_id)


def _decode_envelope(value: bytes, where: str, fallback_id: str) -> InputMessage:
    obj = unpack_map(value, where, id=fallback_id, limited=True)
    raw_id = obj.get("id")
    check_version(obj, where, id=raw_id if isinstance(raw_id, str) else fallback_id)
    kind = obj.get("kind", "input")
    if kind != "input":
        raise _invalid(where, f"this is a {kind!r} message, not an input; is the worker reading "
                       "its own result or dead-letter topic?", fallback_id)
    if raw_id is None:
        msg_id = fallback_id
    elif isinstance(raw_id, str) and raw_id:
        msg_id = raw_id
        where = f"{where} id {msg_id!r}"
    else:
        raise _invalid(where, f"'id' must be a non-empty string, got {raw_id!r}", fallback_id)
    pipeline = obj.get("pipeline")
    if pipeline is not None and not isinstance(pipeline, str):
        raise _invalid(where, f"'pipeline' must be a string, got {pipeline!r}", msg_id)
    version = _pipeline_version(obj.get("pipeline_version"), where, msg_id, pipeline)
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, dict) or not raw_inputs:
        raise _invalid(where, "'inputs' must be a non-empty map of input name -> bin or "
                       "{dtype, shape, data}", msg_id, pipeline)
    inputs: dict[str, np.ndarray] = {}
    for name, v in raw_inputs.items():
        if not isinstance(name, str):
            raise _invalid(where, f"input names must be strings, got {name!r}", msg_id, pipeline)
        try:
            inputs[name] = bytes_view(v) if isinstance(v, bytes) else array_from_wire(
                v, f"input {name!r}")
        except ValueError as e:
            raise _invalid(where, str(e), msg_id, pipeline) from None
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise _invalid(where, f"'meta' must be a map, got {type(meta).__name__}", msg_id, pipeline)
    reply_to = obj.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, str) or not reply_to):
        raise _invalid(where, f"'reply_to' must be a topic name, got {reply_to!r}", msg_id, pipeline)
    created = obj.get("created_ms")
    if created is not None and (not isinstance(created, int) or isinstance(created, bool)):
        raise _invalid(where, f"'created_ms' must be an integer, got {created!r}", msg_id, pipeline)
    return InputMessage(id=msg_id, pipeline=pipeline, pipeline_version=version, inputs=inputs, meta=meta,
                        reply_to=reply_to, created_ms=created, nbytes=len(value))


def _pipeline_version(value, where: str, msg_id: str, pipeline: str | None) -> int | None:
    """Envelope 1.2's ``pipeline_version``: an integer >= 1, or its decimal string (Triton's
    ``model_version`` is a string); None when absent."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _invalid(where, f"'pipeline_version' must be a version number >= 1 (an integer or "
                       f"its decimal string), got {value!r}", msg_id, pipeline)
    return value


def _invalid(where: str, what: str, id: str | None, pipeline: str | None = None) -> MessageError:
    return MessageError("invalid_envelope", f"{where}: invalid envelope: {what} "
                        "(see schemas/input-envelope.v1.schema.json)", id=id, pipeline=pipeline)


def check_inputs(msg: InputMessage, specs: Mapping[str, tuple[Any, int | None]], *,
                 pipeline: str | None = None) -> dict[str, np.ndarray]:
    """Match a message to a pipeline's inputs ``{name: (dtype, ndim)}`` (ndim None: any).

    A raw message becomes the single input of the pipeline (1-D uint8 bytes). Raises
    MessageError: unknown_input, missing_input, wrong_dtype, wrong_shape."""
    pipe = pipeline or msg.pipeline
    # for the error messages only: every message passes here (issue 29)
    where = lambda: f"message {msg.id!r}" + (f" for pipeline {pipe!r}" if pipe else "")  # noqa: E731
    names = lambda: ", ".join(sorted(specs)) or "(none)"  # noqa: E731
    if msg.is_raw:
        if len(specs) != 1:
            raise MessageError("unknown_input", f"{where()}: a raw message can only feed a pipeline "
                               f"with one input, and this one has {len(specs)}: {names()}; send an "
                               "envelope that names each input", id=msg.id, pipeline=pipe)
        given = {next(iter(specs)): msg.raw}
    else:
        given = msg.inputs or {}
        unknown = sorted(set(given) - set(specs))
        if unknown:
            raise MessageError("unknown_input", f"{where()}: unknown input(s) {', '.join(unknown)}; "
                               f"the pipeline's inputs are: {names()}", id=msg.id, pipeline=pipe)
        missing = sorted(set(specs) - set(given))
        if missing:
            raise MessageError("missing_input", f"{where()}: missing input(s) {', '.join(missing)}; "
                               f"the pipeline's inputs are: {names()}", id=msg.id, pipeline=pipe)
    for name, arr in given.items():
        dtype, ndim = specs[name]
        if dtype is not None and arr.dtype != np.dtype(dtype):
            hint = (" (encoded media travel as bin, i.e. uint8 bytes)" if arr.dtype == np.uint8
                    or np.dtype(dtype) == np.uint8 else "")
            raise MessageError("wrong_dtype", f"{where()}: input {name!r} is {arr.dtype.name} but "
                               f"the pipeline wants {np.dtype(dtype).name}{hint}",
                               id=msg.id, pipeline=pipe)
        allowed = ndim if isinstance(ndim, tuple) else (ndim,)   # unbatched: (sample, request)
        if ndim is not None and arr.ndim not in allowed:
            raise MessageError("wrong_shape", f"{where()}: input {name!r} has shape "
                               f"{list(arr.shape)} ({arr.ndim}-D) but the pipeline wants "
                               f"{' or '.join(map(str, allowed))}-D samples", id=msg.id, pipeline=pipe)
    return given


def encode_input(id: str, inputs: Mapping[str, Any], *, pipeline: str | None = None,
                 pipeline_version: int | None = None, meta: Mapping[str, Any] | None = None, reply_to: str | None = None,
                 created_ms: int | None = None) -> bytes:
    """An envelope. ``bytes``/``bytearray``/``memoryview`` values travel as bin (encoded media);
    numpy arrays as typed arrays (a 1-D uint8 array is sent as plain bin)."""
    wire: dict[str, Any] = {}
    for name, v in inputs.items():
        if isinstance(v, (bytes, bytearray, memoryview)):
            wire[name] = v
        else:
            a = np.asarray(v)
            wire[name] = (memoryview(np.ascontiguousarray(a))
                          if a.dtype == np.uint8 and a.ndim == 1 else array_to_wire(a, name))
    obj: dict[str, Any] = {"v": VERSION, "kind": "input", "id": id, "inputs": wire,
                           "created_ms": int(time.time() * 1000) if created_ms is None
                           else int(created_ms)}
    if pipeline is not None:
        obj["pipeline"] = pipeline
    if pipeline_version is not None:
        obj["pipeline_version"] = int(pipeline_version)
    if meta:
        obj["meta"] = dict(meta)
    if reply_to is not None:
        obj["reply_to"] = reply_to
    return msgpack.packb(obj, use_bin_type=True)
