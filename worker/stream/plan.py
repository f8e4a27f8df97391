"""The route plan: every route compiled at start-up into the lanes it feeds, each with its own
settings, so that the stream loop reads a plan and never the whole configuration.

A *lane* is one (route, pipeline, version): its batch limit and delay, feed, output dtype, output
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

Versions: every version the repository's ``version_policy`` serves gets its lanes, so a message
can name any of them (``pipeline_version``); one that names none gets the route's
``pipeline_version`` for the route's own pipeline, else the highest version served. A route that
forwards to a model runs one version, that default (the model's fit was checked against it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from worker.config import ConfigError, Route, WorkerConfig


@dataclass(frozen=True)
class ServedPipeline:
    """What routing needs to know of a loaded pipeline."""

    name: str
    input_specs: dict[str, tuple[np.dtype, int | None]]
    max_batch_size: int
    image_inputs: frozenset[str] = frozenset()  # inputs that feed an image decoder
    version: int = 1
    # inputs that feed a video or audio decoder: name -> MediaInput (kind, decoder stride)
    media_inputs: dict = field(default_factory=dict)
    # the pipeline runs in Triton's DALI backend (a route's model mode "dali_backend"): its
    # lane passes the encoded fields through to the model; only that route serves it
    remote: bool = False
    # outputs config.pbtxt splits along their outer axis (split_along_outer_axis): each row
    # of one is a result of its own (fanout.cut)
    split_outputs: frozenset = frozenset()


@dataclass(frozen=True)
class LanePlan:
    key: str  # "<route index>:<pipeline>:<version>", the batch key
    route_index: int
    route: Route
    pipeline: ServedPipeline
    max_batch_size: int
    max_delay_s: float
    feed: str
    output_dtype: str | None
    forwards: bool  # to the route's model

    @property
    def version(self) -> int:
        return self.pipeline.version

    @property
    def runner_key(self) -> tuple[str, int, str, str | None]:
        """Lanes with equal keys can share one DALI pipeline (the same samples give the same outputs)."""
        return (self.pipeline.name, self.pipeline.version, self.feed, self.output_dtype)


@dataclass
class RoutePlan:
    index: int
    route: Route
    lanes: dict[str, LanePlan] = field(default_factory=dict)  # pipeline name -> default version's lane
    versions: dict[str, dict[int, LanePlan]] = field(default_factory=dict)  # name -> version -> lane

    def describe(self) -> str:
        return f"routes[{self.index}] ({', '.join(self.route.inputs)})"

    def lane_for(self, name: str, version: int | None = None) -> LanePlan | None:
        """The lane of ``name`` at ``version`` (None: its default version), or None."""
        if version is None:
            return self.lanes.get(name)
        return self.versions.get(name, {}).get(version)


@dataclass
class Plan:
    routes: list[RoutePlan]

    def __post_init__(self) -> None:
        self._by_topic = {t: rp for rp in self.routes for t in rp.route.inputs}

    def route_for(self, topic: str) -> RoutePlan:
        return self._by_topic[topic]

    @property
    def lanes(self) -> dict[str, LanePlan]:
        return {lane.key: lane for rp in self.routes for by_version in rp.versions.values()
                for lane in by_version.values()}


def is_remote_route(route: Route) -> bool:
    return bool(route.model) and route.model.get("mode") == "dali_backend"


def remote_pipelines(cfg: WorkerConfig) -> dict[str, int]:
    """Pipelines that run in Triton's DALI backend: name -> the index of the route that sends
    them there. Such a name is the model's in Triton; no other route may run it here."""
    remote: dict[str, int] = {}
    for i, r in enumerate(cfg.routes):
        if is_remote_route(r):
            if not r.pipeline:
                raise ConfigError(f"routes[{i}]: mode \"dali_backend\" needs the route's 'pipeline' "
                                  "(the DALI model's name in Triton's repository)")
            if r.pipeline in remote:
                raise ConfigError(f"routes[{i}]: pipeline {r.pipeline!r} already runs in Triton's DALI "
                                  f"backend for routes[{remote[r.pipeline]}]; give each dali_backend "
                                  "route its own name (a route can read several topics)")
            remote[r.pipeline] = i
    for i, r in enumerate(cfg.routes):
        if is_remote_route(r):
            continue
        clash = [n for n in ([r.pipeline] if r.pipeline else []) + list(r.pipelines) if n in remote]
        if clash:
            raise ConfigError(f"routes[{i}]: pipeline {clash[0]!r} runs in Triton's DALI backend for "
                              f"routes[{remote[clash[0]]}] (mode \"dali_backend\"), so this worker "
                              "does not load it; send those messages to that route's topic, or run "
                              "the other route on a worker of its own")
    return remote


def local_pipelines(cfg: WorkerConfig) -> list[str]:
    """The pipelines this worker loads and runs itself: served minus the remote ones."""
    remote = remote_pipelines(cfg)
    return [n for n in served_pipelines(cfg) if n not in remote]


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


Served = Mapping[str, "ServedPipeline | Mapping[int, ServedPipeline]"]


def by_version(pipelines: Served) -> dict[str, dict[int, ServedPipeline]]:
    """``{name: {version: ServedPipeline}}`` from either that or ``{name: ServedPipeline}``."""
    return {name: dict(p) if isinstance(p, Mapping) else {p.version: p} for name, p in pipelines.items()}


def default_version(route: Route, name: str, served: Mapping[int, ServedPipeline], where: str) -> int:
    """The version of ``name`` for a message that names none: the route's ``pipeline_version``
    for its own pipeline, else the highest served. A pin that is not served stops the start."""
    if route.pipeline_version and name == route.pipeline:
        if route.pipeline_version not in served:
            raise ConfigError(f"{where}: pipeline_version {route.pipeline_version} of pipeline {name!r} is "
                              f"not served (the repository's version_policy serves "
                              f"{', '.join(map(str, sorted(served)))}): pin one of those, or change "
                              "version_policy in its config.pbtxt")
        return route.pipeline_version
    return max(served)


def compile_plan(cfg: WorkerConfig, pipelines: Served) -> Plan:
    """One RoutePlan per route of ``cfg``, with a lane per pipeline version the route serves."""
    versions = by_version(pipelines)
    # an envelope on a route without a model may name any pipeline run here (not a remote one)
    every = [n for n, vs in versions.items() if not any(p.remote for p in vs.values())]
    routes = []
    for i, r in enumerate(cfg.routes):
        rp = RoutePlan(i, r)
        if r.model and r.pipelines:
            raise ConfigError(f"{rp.describe()}: a route that forwards to a model serves its own "
                              f"pipeline only; remove 'pipelines' or give the other pipelines a route "
                              "of their own")
        names = [r.pipeline] if r.model else every
        for name in names:
            if name not in versions or not versions[name]:
                raise ConfigError(f"{rp.describe()}: pipeline {name!r} is not loaded")
            default = default_version(r, name, versions[name], rp.describe())
            for version in [default] if r.model else sorted(versions[name]):
                served = versions[name][version]
                limit = min(r.max_batch_size, served.max_batch_size) if r.max_batch_size else served.max_batch_size
                rp.versions.setdefault(name, {})[version] = LanePlan(
                    key=f"{i}:{name}:{version}", route_index=i, route=r, pipeline=served,
                    max_batch_size=max(1, limit), max_delay_s=r.max_delay_ms / 1000.0, feed=r.feed,
                    output_dtype=r.output_dtype, forwards=bool(r.model) and name == r.pipeline)
            rp.lanes[name] = rp.versions[name][default]
        routes.append(rp)
    return Plan(routes)
