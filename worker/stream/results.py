"""Output messages: results (``schemas/result.v1.schema.json``) and dead letters
(``schemas/dead-letter.v1.schema.json``), their encoders (used by the worker) and decoders
(used by ``dali-worker tail`` and by anyone consuming results in Python)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import msgpack
import numpy as np

from worker.stream.errors import REASONS, MessageError
from worker.stream.wire import (MAP_MARKERS, VERSION, Source, array_from_wire, array_to_wire, as_source,
                                check_version, unpack_map)

ERROR_HEADER_LIMIT = 1024  # bytes of the human message kept in the dsw-error header
# room the dead letter needs besides the original value (fields, headers, record overhead)
DEAD_LETTER_OVERHEAD = 8 * 1024


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
                  max_bytes: int | None = None) -> bytes:
    """A result value (its record key should be the id, utf-8). Outputs are packed from the
    arrays' memory (no copy for contiguous little-endian arrays). With ``max_bytes``, a result
    that would not fit raises MessageError("result_too_large")."""
    obj: dict[str, Any] = {
        "v": VERSION, "kind": "result", "id": id, "source": as_source(source).to_wire(),
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
    value = msgpack.packb(obj, use_bin_type=True)
    if max_bytes is not None and len(value) + len(id.encode()) > max_bytes:
        sizes = ", ".join(f"{n} {np.asarray(a).nbytes} B" for n, a in outputs.items())
        raise MessageError("result_too_large", f"result for message {id!r} from {obj['source']['topic']}"
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
        return Result(id=msg_id, source=None if src is None else Source.from_wire(src, what),
                      pipeline=obj.get("pipeline"), model=obj.get("model"), outputs=outputs,
                      meta=obj.get("meta") or {}, timings=obj.get("timings") or {},
                      worker=obj.get("worker"), labels=labels, created_ms=obj.get("created_ms"),
                      v=obj["v"])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise MessageError("invalid_envelope", f"{what}: invalid result: {e} "
                           "(see schemas/result.v1.schema.json)", id=msg_id) from None


def encode_dead_letter(*, original: bytes | None, key: bytes | None, reason: str, error: str,
                       source: Source | Mapping | tuple, pipeline: str | None, worker: str,
                       id: str | None = None, max_bytes: int | None = None,
                       ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A dead letter: ``(value, headers)``; publish it with the original ``key``.

    The original value travels untouched; only when value + overhead would exceed ``max_bytes``
    (e.g. an "oversized" input close to the broker limit) is it left out, and ``original_size``
    and the error say so."""
    if reason not in REASONS:
        raise ValueError(f"unknown dead-letter reason {reason!r}; known: {', '.join(REASONS)}")
    src = as_source(source)
    size = None if original is None else len(original)
    keep = original
    if original is not None and max_bytes is not None and size + DEAD_LETTER_OVERHEAD > max_bytes:
        keep = None
        error = (f"{error} [the original value ({size} bytes) was left out of this dead letter: "
                 f"it does not fit under {max_bytes} bytes; read it from {src}]")
    obj = {"v": VERSION, "kind": "dead_letter", "id": id, "reason": reason, "error": error,
           "source": src.to_wire(), "pipeline": pipeline, "worker": worker,
           "original": keep, "original_size": size, "key": key,
           "created_ms": int(time.time() * 1000)}
    headers = [("dsw-reason", reason.encode()),
               ("dsw-error", error.encode("utf-8")[:ERROR_HEADER_LIMIT]
                .decode("utf-8", "ignore").encode("utf-8")),
               ("dsw-source", str(src).encode()),
               ("dsw-worker", worker.encode())]
    if id is not None:
        headers.append(("dsw-id", id.encode("utf-8")))
    return msgpack.packb(obj, use_bin_type=True), headers


def dead_letter_from_error(err: MessageError, *, original: bytes | None, key: bytes | None,
                           source: Source | Mapping | tuple, worker: str,
                           pipeline: str | None = None, max_bytes: int | None = None,
                           ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Shortcut: the dead letter for a MessageError (its reason, message, id and pipeline)."""
    return encode_dead_letter(original=original, key=key, reason=err.reason, error=str(err),
                              source=source, pipeline=err.pipeline or pipeline, worker=worker,
                              id=err.id, max_bytes=max_bytes)


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
