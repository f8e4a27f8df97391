"""Outcomes of one batch: a result record for every sample that went through, a dead letter
for every sample that did not. Runs in a thread (encoding copies output bytes), never on the loop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.config import WorkerConfig
from worker.stream.delivery import OutRecord, Unit
from worker.stream.messages import encode_dead_letter, encode_result
from worker.stream.routing import Pending


@dataclass
class Outcome:
    """What happened to one sample: outputs (and labels) or a reason and an error."""

    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list] | None = None
    reason: str | None = None
    error: str | None = None


def from_pipeline(result) -> Outcome:
    """A runner's SampleResult as an Outcome (a DALI failure of one sample is a decode_error:
    the bisection has already told it apart from its batch)."""
    if result.ok:
        return Outcome(True, outputs=result.outputs)
    return Outcome(False, reason=getattr(result, "reason", None) or "decode_error", error=result.error)


def build_unit(items: list[Pending], outcomes: list[Outcome], cfg: WorkerConfig,
               timings: dict[str, float], model: dict[str, Any] | None = None) -> Unit:
    records = []
    now_ms = time.time() * 1000
    for p, out in zip(items, outcomes, strict=True):
        source = (p.tp[0], p.tp[1], p.offset, p.timestamp_ms)
        if out.ok:
            t = dict(timings, queue_ms=round(max(0.0, p.received * 1000 - p.timestamp_ms), 3),
                     total_ms=round(max(0.0, now_ms - p.timestamp_ms), 3))
            value = encode_result(id=p.id, source=source, pipeline=p.pipeline, model=model,
                                  outputs=out.outputs, meta=p.meta, timings=t,
                                  worker=cfg.worker_id, labels=out.labels)
            records.append(OutRecord(p.reply_to or p.route.output, value, p.id.encode("utf-8"),
                                     p.tp, p.offset, p.epoch, kind="result",
                                     on_unwritable=_unwritable(p, cfg), from_reply_to=bool(p.reply_to)))
        else:
            error = f"message {p.id!r} ({p.tp[0]}/{p.tp[1]}/{p.offset}) in pipeline {p.pipeline!r}: {out.error}"
            value, headers = encode_dead_letter(original=p.value, key=p.key, reason=out.reason,
                                                error=error, source=source, pipeline=p.pipeline,
                                                worker=cfg.worker_id, id=p.id,
                                                max_bytes=cfg.max_request_bytes)
            records.append(OutRecord(cfg.dead_letter_for(p.route), value, p.key, p.tp, p.offset,
                                     p.epoch, headers, kind="dead_letter", reason=out.reason))
    return Unit(records)


def _unwritable(p: Pending, cfg: WorkerConfig):
    """The dead letter for a result that cannot be written: (reason, why) -> record parts."""
    def make(reason: str, why: str):
        if reason == "result_too_large":
            error = (f"message {p.id!r}: its result cannot be written ({why}); cast outputs smaller "
                     "(route output_dtype = float16/uint8) or raise the producer's max_request_bytes "
                     "and the broker's message.max.bytes together")
        else:
            error = f"message {p.id!r}: its result cannot be written: {why}; fix the envelope's reply_to"
        value, headers = encode_dead_letter(original=p.value, key=p.key, reason=reason, error=error,
                                            source=(p.tp[0], p.tp[1], p.offset, p.timestamp_ms),
                                            pipeline=p.pipeline, worker=cfg.worker_id, id=p.id,
                                            max_bytes=cfg.max_request_bytes)
        return cfg.dead_letter_for(p.route), value, p.key, headers
    return make
