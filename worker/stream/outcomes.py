"""Outcomes of one batch: the result records of every sample that went through (one, or one
per part when the route cuts video frames or audio windows, ``fanout.py``), a dead letter for
every sample that did not. Runs in a thread (encoding copies output bytes), never on the loop.

All records of one input are in the same Unit, so delivery writes them before the input's
offset may be committed (at-least-once) or in the transaction that commits it (exactly-once).
An input is all results or one dead letter, never some of each: a clip that decoded short, or
one part too large to write, makes one dead letter for the input.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.config import WorkerConfig
from worker.reasons import Reason
from worker.stream.delivery import OutRecord, Unit
from worker.stream.errors import MessageError
from worker.stream.fanout import cut, shortfall
from worker.stream.messages import encode_dead_letter, encode_result
from worker.stream.results import dead_letter_key, echo_bytes
from worker.stream.routing import Pending, clip


@dataclass
class Outcome:
    """What happened to one sample: outputs (and labels) or a reason and an error."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list] | None = None
    reason: Reason | None = None
    error: str | None = None


def from_pipeline(result) -> Outcome:
    """A runner's SampleResult as an Outcome (a DALI failure of one sample is a decode_error:
    the bisection has already told it apart from its batch)."""
    if result.ok:
        return Outcome(True, outputs=result.outputs)
    return Outcome(False, reason=Reason.of(getattr(result, "reason", None) or Reason.DECODE_ERROR),
                   error=result.error)


def build_unit(items: list[Pending], outcomes: list[Outcome], cfg: WorkerConfig,
               timings: dict[str, float], model: dict[str, Any] | None = None) -> Unit:
    records = []
    now_ms = time.time() * 1000
    for p, out in zip(items, outcomes, strict=True):
        source = (p.tp[0], p.tp[1], p.offset, p.timestamp_ms)
        if out.ok:
            t = dict(timings, queue_ms=round(max(0.0, p.received * 1000 - p.timestamp_ms), 3),
                     total_ms=round(max(0.0, now_ms - p.timestamp_ms), 3))
            records.extend(_results(p, out, cfg, t, model, source))
        else:
            error = f"message {clip(p.id)} ({p.tp[0]}/{p.tp[1]}/{p.offset}) in pipeline {p.pipeline!r}: {out.error}"
            records.append(dead_letter_record(
                cfg, cfg.dead_letter_for(p.route), reason=out.reason, error=error, original=p.value,
                key=p.key, source=source, epoch=p.epoch, id=p.id, pipeline=p.pipeline))
    return Unit(records)


def _results(p: Pending, out: Outcome, cfg: WorkerConfig, timings: dict[str, float],
             model: dict[str, Any] | None, source: tuple) -> list[OutRecord]:
    """The result records of one good sample, or the one dead letter that replaces them all."""
    def dead(reason, error: str) -> list[OutRecord]:
        return [dead_letter_record(cfg, cfg.dead_letter_for(p.route), reason=reason, error=error,
                                   original=p.value, key=p.key, source=source, epoch=p.epoch, id=p.id,
                                   pipeline=p.pipeline)]

    short = shortfall(out.outputs, p.expect_frames)
    if short:
        return dead(Reason.INCOMPLETE_MEDIA, f"message {clip(p.id)} ({p.tp[0]}/{p.tp[1]}/{p.offset}) in "
                    f"pipeline {p.pipeline!r}: {short}")
    split = p.lane.pipeline.split_outputs if p.lane is not None else frozenset()
    parts = cut(out.outputs, p.route, split)
    many = len(parts) > 1 or p.route.cut != "clip" or bool(split)
    values = []
    for part in parts:
        try:
            values.append(encode_result(id=p.id, source=source, pipeline=p.pipeline,
                                        pipeline_version=p.pipeline_version, model=model,
                                        outputs=part.outputs, meta=p.meta, timings=timings,
                                        worker=cfg.worker_id, labels=out.labels,
                                        part=part.to_wire() if many else None,
                                        max_bytes=cfg.max_request_bytes if many else None))
        except MessageError as exc:  # one part too large: the input's dead letter, not part of a set
            return dead(exc.reason, f"message {clip(p.id)}: {exc}")
        except (TypeError, ValueError) as exc:
            # an output no message can carry (e.g. a model's BYTES tensor): this sample's
            # dead letter, never a stop (the next worker would stop on it again)
            fix = ("leave that output out of the route's model outputs, or change the model"
                   if model is not None else "cast it with the route's output_dtype, or change the pipeline")
            return dead(Reason.MODEL_ERROR if model is not None else Reason.PIPELINE_ERROR,
                        f"message {clip(p.id)}: its result cannot be encoded: {exc}; {fix}")
    headers = lambda part: [("dsw-part", f"{part.index}/{part.count}".encode())] if many else []  # noqa: E731
    return [OutRecord(p.reply_to or p.route.output, value, echo_bytes(p.id.encode("utf-8")), p.tp, p.offset, p.epoch,
                      headers(part), kind="result", on_unwritable=_unwritable(p, cfg),
                      from_reply_to=bool(p.reply_to))
            for part, value in zip(parts, values)]


def dead_letter_record(cfg: WorkerConfig, topic: str, *, reason, error: str, original: bytes | None,
                       key: bytes | None, source: tuple, epoch: int, id: str | None,
                       pipeline: str | None) -> OutRecord:
    """The record of one dead letter (every dead letter the worker writes is made here).

    Its fallback, should the broker still refuse it as too large (a topic whose
    max.message.bytes is below the producer's limit), is the same dead letter without the
    original value, which then carries only its coordinates: a dead letter is always writable."""
    def encode(max_bytes: int | None):
        return encode_dead_letter(original=original, key=key, reason=reason, error=error,
                                  source=source, pipeline=pipeline, worker=cfg.worker_id, id=id,
                                  max_bytes=max_bytes, max_original=cfg.dead_letter_original_max_bytes)

    def record(max_bytes: int | None, fallback) -> OutRecord:
        value, headers = encode(max_bytes)
        return OutRecord(topic, value, dead_letter_key(key), (source[0], source[1]), source[2], epoch,
                         headers, kind="dead_letter", reason=Reason.of(reason), on_unwritable=fallback)

    return record(cfg.max_request_bytes, lambda _reason, _why: record(1, None))


def _unwritable(p: Pending, cfg: WorkerConfig):
    """The dead letter for a result that cannot be written: (reason, why) -> its OutRecord."""
    def make(reason: str, why: str):
        if reason == "result_too_large":
            error = (f"message {clip(p.id)}: its result cannot be written ({why}); cast outputs smaller "
                     "(route output_dtype = float16/uint8) or raise the producer's max_request_bytes "
                     "and the broker's message.max.bytes together")
        else:
            error = f"message {clip(p.id)}: its result cannot be written: {why}; fix the envelope's reply_to"
        return dead_letter_record(cfg, cfg.dead_letter_for(p.route), reason=reason, error=error,
                                  original=p.value, key=p.key,
                                  source=(p.tp[0], p.tp[1], p.offset, p.timestamp_ms), epoch=p.epoch,
                                  id=p.id, pipeline=p.pipeline)
    return make
