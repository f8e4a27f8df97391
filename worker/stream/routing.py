"""Routing: one consumed record -> a pending sample for one pipeline, or a MessageError.

The route of a record is chosen by its topic (configuration); an envelope may name another
pipeline that the worker serves. Everything here runs on the event loop once per record, so it
decodes and checks and does nothing more (no copies: inputs are views of the record value).
"""
from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.config import Route, WorkerConfig
from worker.pipeline.headers import HeaderError, read_header
from worker.pipeline.media import describe_head, image_format
from worker.stream.errors import MessageError
from worker.stream.media_checks import admit_media
from worker.stream.messages import check_inputs, decode_input
from worker.stream.offsets import TopicPartition
from worker.stream.results import echo_id
from worker.stream.plan import LanePlan, Plan


_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(slots=True)
class Pending:
    """A record admitted into a micro-batch, with what its outcome needs."""

    tp: TopicPartition
    offset: int
    epoch: int
    key: bytes | None
    value: bytes  # the original value, for a dead letter
    timestamp_ms: int
    id: str
    pipeline: str
    route: Route
    inputs: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    received: float = 0.0  # time.time() when consumed
    lane: LanePlan | None = None  # the lane whose batch it joins
    pipeline_version: int | None = None  # the version that runs it (the lane's)
    expect_frames: int | None = None  # a video input's frames, as its container declares them
    decoded_bytes: int = 0  # what its inputs decode to, as declared (the batch's memory budget)


def clip(text: str | None, limit: int = 80) -> str:
    """``repr(text)`` cut to about ``limit`` characters: messages quote what the input said,
    and the input may say megabytes (a dead letter must stay small, see results.py)."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit]}...({len(text)} chars)"


def _compile_globs(route: Route) -> re.Pattern | None:
    """One regex for the route's reply_to globs (fnmatch, case-sensitive, whole name), or None
    when the route allows no reply_to. The patterns were checked at start (Route.check)."""
    if not route.reply_to or route.allow_reply_to is False:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in route.reply_to))


class Router:
    def __init__(self, cfg: WorkerConfig, plan: Plan) -> None:
        self.cfg = cfg
        self.plan = plan
        self.pipelines = {lane.pipeline.name: lane.pipeline for lane in plan.lanes.values()}
        # topics an envelope's reply_to may never name: writing there would feed the worker
        # its own output, or corrupt another part of the system with the worker's rights
        self._not_replies = set(cfg.input_topics) | {cfg.dead_letter_for(r) for r in cfg.routes}
        # route index -> one regex of its reply_to globs (None: the route allows no reply_to)
        self._reply_to = {rp.index: _compile_globs(rp.route) for rp in plan.routes}

    def _check_reply_to(self, topic: str, msg_id: str, pipeline: str, rp=None) -> None:
        why = None
        if not _TOPIC.fullmatch(topic):
            why = "is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)"
        elif topic.startswith("__"):
            why = "is an internal topic (names starting with '__' belong to Kafka and its tools)"
        elif topic in self._not_replies:
            why = "is one of this worker's input or dead-letter topics"
        elif rp is not None:
            allowed = self._reply_to.get(rp.index)
            if allowed is None:
                off = rp.route.allow_reply_to is False and rp.route.reply_to
                raise MessageError(
                    "reply_to_refused",
                    f"message {clip(msg_id)}: reply_to {clip(topic)} refused: {rp.describe()} allows "
                    + ("no reply_to (allow_reply_to = false)" if off else "no reply_to topic")
                    + "; leave reply_to out to use the route's output, or list the topics it may name "
                    "in the route's reply_to patterns (e.g. reply_to = [\"replies.*\"])",
                    id=msg_id, pipeline=pipeline)
            if not allowed.fullmatch(topic):
                raise MessageError(
                    "reply_to_refused",
                    f"message {clip(msg_id)}: reply_to {clip(topic)} matches none of the reply_to "
                    f"patterns of {rp.describe()} ({', '.join(rp.route.reply_to)}); name a topic "
                    "that matches, or leave reply_to out to use the route's output",
                    id=msg_id, pipeline=pipeline)
        if why:
            raise MessageError("reply_to_refused",
                               f"message {clip(msg_id)}: reply_to {clip(topic)} {why}; the worker does "
                               "not write there. Name a result topic, or leave reply_to out to use "
                               "the route's output", id=msg_id, pipeline=pipeline)

    @staticmethod
    def _check_size(data, fmt: str, input_name: str, route: Route, msg_id: str, pipeline: str) -> int:
        """The decoded-size cap: the header's dimensions, read before DALI decodes anything.
        Returns the decoded size: width x height x max(3, channels) bytes (DALI decodes to RGB)."""
        try:
            h = read_header(data, fmt)
        except HeaderError as exc:
            raise MessageError(
                "unreadable_header",
                f"message {clip(msg_id)}: input {input_name!r} of pipeline {pipeline!r}: its image "
                f"header cannot be read ({exc}), so its decoded size is unknown and it is not "
                "decoded; check the file", id=msg_id, pipeline=pipeline) from None
        if route.max_pixels and h.pixels > route.max_pixels:
            raise MessageError(
                "image_too_large",
                f"message {clip(msg_id)}: input {input_name!r} of pipeline {pipeline!r} is a {h.format} "
                f"of {h.width}x{h.height} = {h.pixels / 1e6:.1f} MP, over the route's max_pixels "
                f"({route.max_pixels / 1e6:g} MP); it was not decoded. Send a smaller image, or raise "
                "the route's max_pixels (decoding takes about 6 bytes of memory per pixel)",
                id=msg_id, pipeline=pipeline)
        return h.pixels * max(3, h.channels or 3)

    @staticmethod
    def _version_not_served(rp, name: str, version: int, msg_id: str) -> None:
        served = ", ".join(map(str, sorted(rp.versions[name])))
        if rp.route.model:
            why = (f"{rp.describe()} forwards to a model and runs only version {served} of "
                   f"{name!r} (the version its fit was checked against)")
        else:
            why = f"the repository's version_policy serves versions {served} of {name!r}"
        raise MessageError(
            "version_not_served",
            f"message {clip(msg_id)} asks for version {version} of pipeline {name!r}, which is not "
            f"served: {why}; name a served version, or leave 'pipeline_version' out for "
            f"version {rp.lanes[name].version}", id=msg_id, pipeline=name)

    def admit(self, record, epoch: int) -> Pending:
        """Decode and check one aiokafka ConsumerRecord; raises MessageError for a dead letter."""
        rp = self.plan.route_for(record.topic)
        route = rp.route
        msg = decode_input(record.value, key=record.key, topic=record.topic,
                           partition=record.partition, offset=record.offset,
                           mode=route.format, max_bytes=self.cfg.max_message_bytes)
        name = msg.pipeline or route.pipeline
        if not name:
            raise MessageError("unknown_pipeline",
                               f"message {clip(msg.id)} on {record.topic} names no pipeline and route "
                               f"for {record.topic} has no default; set 'pipeline' in the envelope "
                               "or the route", id=msg.id)
        lane = rp.lane_for(name, msg.pipeline_version)
        if lane is None and name in rp.versions:
            self._version_not_served(rp, name, msg.pipeline_version, msg.id)
        if lane is None and name in self.pipelines:
            raise MessageError("unknown_pipeline",
                               f"message {clip(msg.id)} asks for pipeline {clip(name)}, but "
                               f"{rp.describe()} forwards to a model and runs only its pipeline "
                               f"{route.pipeline!r}; send it to another route's topic, or leave "
                               "'pipeline' out", id=msg.id, pipeline=name)
        if lane is None:
            raise MessageError("unknown_pipeline",
                               f"message {clip(msg.id)} asks for pipeline {clip(name)}, which this worker "
                               f"does not serve (it serves: {', '.join(sorted(self.pipelines))}); "
                               "add a route for it or fix the envelope's 'pipeline'",
                               id=msg.id, pipeline=name)
        served = lane.pipeline
        inputs = check_inputs(msg, served.input_specs, pipeline=name)
        # the batch's memory budget: images and media count what they decode to, others their bytes
        decoded = sum(a.nbytes for n, a in inputs.items()
                      if n not in served.image_inputs and n not in served.media_inputs)
        for input_name in served.image_inputs:
            fmt = image_format(inputs[input_name])
            if fmt is None:
                raise MessageError(
                    "decode_error",
                    f"message {clip(msg.id)}: input {input_name!r} of pipeline {name!r} is not an image "
                    f"file (first bytes {describe_head(inputs[input_name])}); send JPEG, PNG, TIFF, "
                    "BMP, GIF, WebP, JPEG 2000 or PNM bytes", id=msg.id, pipeline=name)
            decoded += self._check_size(inputs[input_name], fmt, input_name, route, msg.id, name)
        expect = None
        for input_name, media in served.media_inputs.items():
            expect, size = admit_media(inputs[input_name], media.kind, media.stride, route, self.cfg.device,
                                       msg_id=msg.id, input_name=input_name, pipeline=name, label=clip(msg.id))
            decoded += inputs[input_name].nbytes if size is None else size
        reply_to = msg.reply_to
        if reply_to is not None:
            self._check_reply_to(reply_to, msg.id, name, rp)
        return Pending(tp=(record.topic, record.partition), offset=record.offset, epoch=epoch,
                       key=record.key, value=record.value, timestamp_ms=record.timestamp,
                       id=echo_id(msg.id), pipeline=name, route=route, inputs=inputs, meta=msg.meta or {},
                       reply_to=reply_to, received=time.time(), lane=lane, pipeline_version=lane.version, expect_frames=expect,
                       decoded_bytes=decoded)
