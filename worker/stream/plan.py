"""The route plan: every route compiled at start-up into the lanes it feeds, each with its own
settings, so that the stream loop reads a plan and never the whole configuration.

A *lane* is one (route, pipeline) pair: its batch limit and delay, feed, output dtype, output
and dead-letter topics, and whether it forwards to the route's model. Two routes that use the
same pipeline get two lanes: each batches with its own limits, and a route without a model
never forwards to another route's model. Lanes with the same pipeline, feed and output dtype
share one DALI pipeline and its thread (``runner_key``): settings stay per route, memory does
not double.

Which pipelines a route serves: its ``pipeline`` (for messages that name none) and the ones an
envelope may name: every pipeline the worker serves, i.e. the routes' ``pipeline`` and
``pipelines`` together. A route that forwards to a model serves its own pipeline only (the
model's fit was checked against that pipeline's outputs). Nothing else is loaded: a model
repository's ``dali.py`` files are code, and only those served are imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worker.config import ConfigError, Route, WorkerConfig


@dataclass(frozen=True)
class ServedPipeline:
    """What routing needs to know of a loaded pipeline."""

    name: str
    input_specs: dict[str, tuple[np.dtype, int | None]]
    max_batch_size: int
    image_inputs: frozenset[str] = frozenset()  # inputs that feed an image decoder
    # inputs that feed a video or audio decoder: name -> MediaInput (kind, decoder stride)
    media_inputs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LanePlan:
    key: str  # "<route index>:<pipeline>", the batch key
    route_index: int
    route: Route
    pipeline: ServedPipeline
    max_batch_size: int
    max_delay_s: float
    feed: str
    output_dtype: str | None
    forwards: bool  # to the route's model

    @property
    def runner_key(self) -> tuple[str, str, str | None]:
        """Lanes with equal keys can share one DALI pipeline (the same samples give the same outputs)."""
        return (self.pipeline.name, self.feed, self.output_dtype)


@dataclass
class RoutePlan:
    index: int
    route: Route
    lanes: dict[str, LanePlan] = field(default_factory=dict)  # pipeline name -> lane

    def describe(self) -> str:
        return f"routes[{self.index}] ({', '.join(self.route.inputs)})"


@dataclass
class Plan:
    routes: list[RoutePlan]

    def __post_init__(self) -> None:
        self._by_topic = {t: rp for rp in self.routes for t in rp.route.inputs}

    def route_for(self, topic: str) -> RoutePlan:
        return self._by_topic[topic]

    @property
    def lanes(self) -> dict[str, LanePlan]:
        return {lane.key: lane for rp in self.routes for lane in rp.lanes.values()}


def served_pipelines(cfg: WorkerConfig) -> list[str]:
    """The pipelines to load, in the order the routes name them."""
    names: list[str] = []
    for r in cfg.routes:
        for n in ([r.pipeline] if r.pipeline else []) + list(r.pipelines):
            if n not in names:
                names.append(n)
    if not names:
        raise ConfigError("no route names a pipeline: give --pipeline NAME (or 'pipeline' / "
                          "'pipelines = [...]' in a [[routes]] entry); the worker loads only the "
                          "pipelines it serves")
    return names


def compile_plan(cfg: WorkerConfig, pipelines: dict[str, ServedPipeline]) -> Plan:
    """One RoutePlan per route of ``cfg``, with a lane per pipeline the route serves."""
    every = list(pipelines)
    routes = []
    for i, r in enumerate(cfg.routes):
        rp = RoutePlan(i, r)
        if r.model and r.pipelines:
            raise ConfigError(f"{rp.describe()}: a route that forwards to a model serves its own "
                              f"pipeline only; remove 'pipelines' or give the other pipelines a route "
                              "of their own")
        names = [r.pipeline] if r.model else every
        for name in names:
            if name not in pipelines:
                raise ConfigError(f"{rp.describe()}: pipeline {name!r} is not loaded")
            served = pipelines[name]
            limit = min(r.max_batch_size, served.max_batch_size) if r.max_batch_size else served.max_batch_size
            rp.lanes[name] = LanePlan(
                key=f"{i}:{name}", route_index=i, route=r, pipeline=served,
                max_batch_size=max(1, limit), max_delay_s=r.max_delay_ms / 1000.0, feed=r.feed,
                output_dtype=r.output_dtype, forwards=bool(r.model) and name == r.pipeline)
        routes.append(rp)
    return Plan(routes)
