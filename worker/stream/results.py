"""Output messages: results (``schemas/result.v1.schema.json``) and dead letters
(``schemas/dead-letter.v1.schema.json``), their encoders (used by the worker) and decoders
(used by ``dali-worker tail`` and by anyone consuming results in Python)."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import msgpack
import numpy as np

from worker.reasons import Reason
from worker.stream.errors import MessageError
from worker.stream.wire import (MAP_MARKERS, VERSION, Source, array_from_wire, array_to_wire, as_source,
                                check_version, source_to_wire, unpack_map)

ERROR_HEADER_LIMIT = 1024  # bytes of the human message kept in the dsw-error header
# The echo policy (schemas/README.md, "Echoes"): an input's id and record key come back in its
# results and dead letters cut to the same ECHO_LIMIT bytes by the same rule (echo_bytes), so a
# consumer can match a result with a dead letter whatever the input said. Results once echoed
# a 1 MiB id and key in full (a 1.05 MB record) while dead letters cut the id to 1 KiB and
# dropped the key.
ECHO_LIMIT = 1024
# UTF-8 bytes kept of each field a dead letter echoes from its input: a 10 MiB pipeline name
# (quoted again in the error) once made a 31 MB dead letter that the broker refused, and the
# worker stopped on it after every restart
FIELD_LIMITS = {"id": ECHO_LIMIT, "pipeline": 256, "worker": 256, "key": ECHO_LIMIT, "error": 8192}
# the largest original value a dead letter carries by default (WorkerConfig
# dead_letter_original_max_bytes): a larger one is left out, and the dead letter names where to
# read it (source), so a dead letter stays small whatever the input was (a 10 MiB envelope once
# made a 10.5 MB dead letter because its original fitted under the producer's limit)
ORIGINAL_LIMIT = 1024 * 1024
# what a record adds to its value on the wire, besides its key and headers (batch and record
# framing, timestamps): generous, so that a dead letter under the limit is never refused
RECORD_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class Label:
    label: str
    score: float
    index: int


@dataclass(slots=True)
class Result:
    id: str
    source: Source | None
    pipeline: str | None
    model: dict[str, Any] | None  # {"name": ..., "version": ...} or None
    outputs: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    worker: str | None = None
    labels: dict[str, list[Label]] | None = None
    created_ms: int | None = None
    v: str = VERSION
    # since 1.2, one of many results of one input (video frames, audio windows):
    # {"index": i, "count": n, "start": first row, "stop": row after the last}; None: the only one
    part: dict[str, int] | None = None
    pipeline_version: int | None = None  # since 1.2: the version of the pipeline that answered


@dataclass(slots=True)
class DeadLetter:
    reason: str
    error: str
    id: str | None = None
    source: Source | None = None
    pipeline: str | None = None
    worker: str | None = None
    original: bytes | None = None  # None when it did not fit (see original_size)
    original_size: int | None = None
    key: bytes | None = None
    created_ms: int | None = None
    v: str = VERSION


def _labels_to_wire(labels: Mapping[str, Sequence[Any]]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name, items in labels.items():
        rows = []
        for it in items:
            if isinstance(it, Label):
                rows.append({"label": it.label, "score": float(it.score), "index": int(it.index)})
            else:
                rows.append({"label": str(it["label"]), "score": float(it["score"]),
                             "index": int(it["index"])})
        out[name] = rows
    return out


def encode_result(*, id: str, source: Source | Mapping | tuple, pipeline: str | None,
                  model: Mapping[str, Any] | None, outputs: Mapping[str, Any],
                  meta: Mapping[str, Any] | None, timings: Mapping[str, float] | None,
                  worker: str, labels: Mapping[str, Sequence[Any]] | None = None,
                  max_bytes: int | None = None, part: Mapping[str, int] | None = None,
                  pipeline_version: int | None = None) -> bytes:
    """A result value (its record key should be the id, utf-8). Outputs are packed from the
    arrays' memory (no copy for contiguous little-endian arrays). With ``max_bytes``, a result
    that would not fit raises MessageError("result_too_large")."""
    id = echo_id(id)
    obj: dict[str, Any] = {
        "v": VERSION, "kind": "result", "id": id, "source": source_to_wire(source),
        "pipeline": pipeline,
        "model": None if model is None else {"name": str(model["name"]),
                                             "version": None if model.get("version") is None
                                             else str(model["version"])},
        "outputs": {name: array_to_wire(a, f"output {name!r}") for name, a in outputs.items()},
        "meta": dict(meta or {}),
        "timings": {k: float(v) for k, v in (timings or {}).items()},
        "worker": worker, "created_ms": int(time.time() * 1000),
    }
    if labels:
        obj["labels"] = _labels_to_wire(labels)
    if part is not None:
        obj["part"] = {k: int(v) for k, v in part.items()}
    if pipeline_version is not None:
        obj["pipeline_version"] = int(pipeline_version)
    value = msgpack.packb(obj, use_bin_type=True)
    if max_bytes is not None and len(value) + len(id.encode()) > max_bytes:
        sizes = ", ".join(f"{n} {np.asarray(a).nbytes} B" for n, a in outputs.items())
        what = "" if part is None else f" (part {part['index']} of {part['count']})"
        raise MessageError("result_too_large", f"result{what} for message {id!r} from {obj['source']['topic']}"
                           f"/{obj['source']['partition']}/{obj['source']['offset']} is "
                           f"{len(value)} bytes, over the producer limit of {max_bytes} ({sizes}); "
                           "raise the producer max_request_size and the result topic's "
                           "max.message.bytes, or make the pipeline's outputs smaller",
                           id=id, pipeline=pipeline)
    return value


def decode_result(value: bytes) -> Result:
    """A result value back into numpy arrays (read-only views over the message)."""
    obj = unpack_map(value, "result")
    msg_id = obj.get("id")
    what = f"result {msg_id!r}"
    check_version(obj, what, id=msg_id if isinstance(msg_id, str) else None)
    kind = obj.get("kind", "result")
    if kind != "result":
        raise MessageError("invalid_envelope", f"{what}: this is a {kind!r} message, not a result")
    try:
        if not isinstance(msg_id, str):
            raise ValueError(f"'id' must be a string, got {msg_id!r}")
        outputs_wire = obj.get("outputs")
        if not isinstance(outputs_wire, dict):
            raise ValueError("'outputs' must be a map of name -> {dtype, shape, data}")
        outputs = {str(n): array_from_wire(d, f"output {n!r}") for n, d in outputs_wire.items()}
        labels = None
        if obj.get("labels"):
            labels = {str(n): [Label(str(r["label"]), float(r["score"]), int(r["index"]))
                               for r in rows] for n, rows in obj["labels"].items()}
        src = obj.get("source")
        part = obj.get("part")
        if part is not None and not (isinstance(part, dict) and isinstance(part.get("index"), int)
                                     and isinstance(part.get("count"), int)):
            raise ValueError(f"'part' must be a map with integer index and count, got {part!r}")
        return Result(id=msg_id, source=None if src is None else Source.from_wire(src, what),
                      pipeline=obj.get("pipeline"), model=obj.get("model"), outputs=outputs,
                      meta=obj.get("meta") or {}, timings=obj.get("timings") or {},
                      worker=obj.get("worker"), labels=labels, created_ms=obj.get("created_ms"),
                      v=obj["v"], part=part, pipeline_version=obj.get("pipeline_version"))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise MessageError("invalid_envelope", f"{what}: invalid result: {e} "
                           "(see schemas/result.v1.schema.json)", id=msg_id) from None


def _clip(text: str | None, limit: int, field: str, truncated: list[str]) -> str | None:
    """``text`` cut to ``limit`` UTF-8 bytes (on a character boundary), noting ``field``."""
    if text is None:
        return None
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text
    truncated.append(field)
    return raw[:limit].decode("utf-8", "ignore") + f"...[{len(raw) - limit} more bytes cut]"


def echo_bytes(raw: bytes) -> bytes:
    """``raw`` as results and dead letters echo it: unchanged up to :data:`ECHO_LIMIT` bytes,
    else its first bytes (cut on a UTF-8 character boundary) and a tag with its length and the
    start of its SHA-256, ``...[1048576 bytes, sha256:0123456789abcdef]``, ECHO_LIMIT bytes in
    all. Idempotent: an echo echoes as itself."""
    if len(raw) <= ECHO_LIMIT:
        return raw
    tag = f"...[{len(raw)} bytes, sha256:{hashlib.sha256(raw).hexdigest()[:16]}]".encode()
    n = ECHO_LIMIT - len(tag)
    while n > 0 and (raw[n] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
        n -= 1
    return raw[:n] + tag


def echo_id(id: str) -> str:
    """An id as results and dead letters echo it (:func:`echo_bytes` of its UTF-8)."""
    raw = id.encode("utf-8", "surrogatepass")
    return id if len(raw) <= ECHO_LIMIT else echo_bytes(raw).decode("utf-8", "replace")


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The record key of a dead letter: the original key as echoed (:func:`echo_bytes`)."""
    return None if key is None else echo_bytes(key)


def encode_dead_letter(*, original: bytes | None, key: bytes | None, reason: str, error: str,
                       source: Source | Mapping | tuple, pipeline: str | None, worker: str,
                       id: str | None = None, max_bytes: int | None = None,
                       max_original: int | None = None,
                       ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A dead letter: ``(value, headers)``; publish it with :func:`dead_letter_key` of ``key``.

    A dead letter must always be writable, whatever the message held: the id and key are
    echoed as results echo them (:func:`echo_bytes`), every other field echoed from the input
    (pipeline, and the error text, which may quote them) is cut to a bound of its own
    (:data:`FIELD_LIMITS`), and ``truncated`` names what was cut. The original value travels
    untouched when it is at most ``max_original`` bytes and the whole record fits under
    ``max_bytes``; otherwise it is left out, ``original_size`` and the error say so, and
    ``source`` (topic/partition/offset) is where to read it. ``None``: no such limit (tests,
    tools)."""
    reason = Reason.of(reason).value
    src = as_source(source)
    truncated: list[str] = []
    if id is not None and echo_id(id) != id:
        id = echo_id(id)
        truncated.append("id")
    pipeline = _clip(pipeline, FIELD_LIMITS["pipeline"], "pipeline", truncated)
    worker = _clip(worker, FIELD_LIMITS["worker"], "worker", truncated) or ""
    if key is not None and len(key) > ECHO_LIMIT:
        truncated.append("key")
        key = echo_bytes(key)
    error = _clip(error, FIELD_LIMITS["error"], "error", truncated) or ""
    size = None if original is None else len(original)
    src_wire = src.to_wire()
    src_wire["topic"] = _clip(src_wire["topic"], 255, "source.topic", truncated)
    headers = [("dsw-reason", reason.encode()),
               ("dsw-error", error.encode("utf-8")[:ERROR_HEADER_LIMIT]
                .decode("utf-8", "ignore").encode("utf-8")),
               ("dsw-source", str(src).encode()[:300]),
               ("dsw-worker", worker.encode())]
    if id is not None:
        headers.append(("dsw-id", id.encode("utf-8")))

    def pack(keep: bytes | None, err: str) -> bytes:
        return msgpack.packb({"v": VERSION, "kind": "dead_letter", "id": id, "reason": reason,
                              "error": err, "source": src_wire, "pipeline": pipeline,
                              "worker": worker, "original": keep, "original_size": size,
                              "key": key, "truncated": truncated or None,
                              "created_ms": int(time.time() * 1000)}, use_bin_type=True)

    if original is None:
        return pack(original, error), headers
    if max_original is not None and size > max_original:
        error = (f"{error} [the original value ({size} bytes) was left out of this dead letter: "
                 f"dead letters carry originals up to {max_original} bytes; read it from {src}]")
        return pack(None, error), headers
    if max_bytes is None:
        return pack(original, error), headers
    record_extra = RECORD_OVERHEAD + sum(len(k) + len(v) for k, v in headers) + len(dead_letter_key(key) or b"")
    value = pack(original, error)
    if len(value) + record_extra <= max_bytes:
        return value, headers
    error = (f"{error} [the original value ({size} bytes) was left out of this dead letter: "
             f"it does not fit under {max_bytes} bytes; read it from {src}]")
    return pack(None, error), headers


def dead_letter_from_error(err: MessageError, *, original: bytes | None, key: bytes | None,
                           source: Source | Mapping | tuple, worker: str,
                           pipeline: str | None = None, max_bytes: int | None = None,
                           max_original: int | None = None,
                           ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Shortcut: the dead letter for a MessageError (its reason, message, id and pipeline)."""
    return encode_dead_letter(original=original, key=key, reason=err.reason, error=str(err),
                              source=source, pipeline=err.pipeline or pipeline, worker=worker,
                              id=err.id, max_bytes=max_bytes, max_original=max_original)


def decode_dead_letter(value: bytes | None,
                       headers: Sequence[tuple[str, bytes]] | None = None) -> DeadLetter:
    """A dead letter from its value; with ``headers``, also one whose value is not ours (the
    reason then comes from the ``dsw-*`` headers and the value is taken as the original)."""
    h = {k: v for k, v in (headers or [])}
    is_ours = bool(value) and value[0] in MAP_MARKERS
    if is_ours:
        try:
            obj = unpack_map(value, "dead letter")
            is_ours = obj.get("kind") == "dead_letter" or "reason" in obj
        except MessageError:
            is_ours = False
    if not is_ours:
        if "dsw-reason" not in h:
            raise MessageError("invalid_envelope", "not a dead letter: the value is not a "
                               "dead-letter map and there is no dsw-reason header")
        src = h.get("dsw-source", b"").decode(errors="replace").rsplit("/", 2)
        return DeadLetter(reason=h["dsw-reason"].decode(errors="replace"),
                          error=h.get("dsw-error", b"").decode(errors="replace"),
                          id=h["dsw-id"].decode(errors="replace") if "dsw-id" in h else None,
                          source=Source(src[0], int(src[1]), int(src[2]))
                          if len(src) == 3 and src[1].isdigit() and src[2].isdigit() else None,
                          worker=h.get("dsw-worker", b"").decode(errors="replace") or None,
                          original=value, original_size=None if value is None else len(value))
    what = f"dead letter {obj.get('id')!r}"
    check_version(obj, what)
    try:
        src = obj.get("source")
        return DeadLetter(reason=str(obj["reason"]), error=str(obj.get("error", "")),
                          id=obj.get("id"), source=None if src is None else Source.from_wire(src, what),
                          pipeline=obj.get("pipeline"), worker=obj.get("worker"),
                          original=obj.get("original"), original_size=obj.get("original_size"),
                          key=obj.get("key"), created_ms=obj.get("created_ms"), v=obj["v"])
    except (ValueError, TypeError, KeyError) as e:
        raise MessageError("invalid_envelope", f"{what}: invalid dead letter: {e} "
                           "(see schemas/dead-letter.v1.schema.json)") from None
