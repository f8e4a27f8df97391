"""Live reload of the model repository (``--repository-poll-s N``), as Triton's
``--model-control-mode=poll``: every N seconds the served pipelines' folders are looked at, and a
version that was added, changed or removed (by its files, or by config.pbtxt's version_policy)
is loaded in the background and swapped in between batches.

How a swap keeps every message exactly once:

- loading (importing a ``dali.py``, building the pipeline, starting its isolation child) runs in
  a thread while the old versions keep serving; nothing changes until everything has loaded;
- the swap itself is one synchronous step on the event loop (``StreamWorker.swap``): no record
  is admitted halfway. The open micro-batches of lanes that change or go are submitted first,
  to the runners that admitted them; records that arrive after the swap meet the new plan;
- a swapped-out runner is closed only when its in-flight batches have finished (their outcomes
  are delivered and committed as always), so nothing is lost, dropped or run twice.

A version that fails to load (an exception in ``dali.py``, a config.pbtxt that no longer fits)
leaves the versions being served as they are and logs why; it is tried again when its files
change again. A version pinned by a route (``pipeline_version``) is never unloaded, and a model
never drops to no version at all: that would turn every message into a dead letter, so the
last versions keep serving and the error says why. A route that forwards to a model takes a new
default version only if its outputs have the names, dtypes and dims its model was checked for.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Callable

from worker.config import ConfigError, WorkerConfig
from worker.repository import versions
from worker.stream.plan import Plan, compile_plan

log = logging.getLogger("worker.reload")


def _outputs(model) -> list[tuple]:
    return [(s.name, str(s.dtype), s.ndim) for s in model.outputs]


class Reloader:
    """Watches the served pipelines of ``cfg`` and swaps versions into a StreamWorker.

    ``load(name, version)`` loads one version (a LoadedModel), ``describe(model)`` gives its
    ServedPipeline, ``make_lane(lane_plan, model, runners)`` builds a Lane, reusing a runner of
    ``runners`` (by ``runner_key``) or adding one. Create it *before* the start-up load, so that
    a change made while the worker starts is seen at the first look."""

    def __init__(self, cfg: WorkerConfig, names: list[str], *, load: Callable, describe: Callable,
                 make_lane: Callable, metrics=None) -> None:
        self.cfg = cfg
        self.repo = Path(cfg.repository)
        self.poll_s = cfg.repository_poll_s
        self.load, self.describe, self.make_lane = load, describe, make_lane
        self.metrics = metrics
        self.files = {n: versions.snapshot(self.repo, n) for n in names}
        self.models: dict[str, dict[int, object]] = {}   # what is served: set by started()
        self._errors: dict[str, str] = {}
        self.swaps = 0

    def started(self, models: dict[str, dict[int, object]]) -> None:
        self.models = {n: dict(vs) for n, vs in models.items()}

    async def run(self, worker, stop: asyncio.Event) -> None:
        """Look every ``poll_s`` seconds until ``stop``; a failure never stops the worker."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.poll_s)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.poll(worker, stop)
            except Exception:  # noqa: BLE001 - the serving versions stay; say why and look again
                log.exception("live reload failed; the versions being served stay")
                self._failed("")

    def _failed(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.repository_reload_failed(name)

    def _pinned(self, name: str) -> set[int]:
        return {r.pipeline_version for r in self.cfg.routes if r.pipeline == name and r.pipeline_version}

    async def _look(self, name: str, models: dict[int, object], touched: set) -> Counter:
        """Load what changed in one model's files into ``models`` (in place); returns counts."""
        counts: Counter = Counter()
        snap = await asyncio.to_thread(versions.snapshot, self.repo, name)
        if snap.error:
            if self._errors.get(name) != snap.error:   # once per distinct error, not every poll
                log.error("live reload: model %s: %s; versions %s keep serving", name, snap.error,
                          ", ".join(map(str, sorted(models))))
                self._errors[name] = snap.error
                self._failed(name)
            return counts
        self._errors.pop(name, None)
        changes = versions.diff(self.files[name], snap)
        self.files[name] = snap   # a version that fails now is tried again when it changes again
        if not changes:
            return counts
        log.info("live reload: model %s: versions added %s, changed %s, removed %s", name,
                 list(changes.added) or "-", list(changes.changed) or "-", list(changes.removed) or "-")
        before = dict(models)
        for v in changes.added + changes.changed:
            try:
                models[v] = await asyncio.to_thread(self.load, name, v)
            except Exception as exc:  # noqa: BLE001 - any failure of trusted code: keep serving
                keep = f"version {v} keeps serving as before" if v in models else f"version {v} is not served"
                log.error("live reload: model %s version %d failed to load (%s); %s", name, v,
                          " ".join(str(exc).split()), keep)
                self._failed(name)
                continue
            touched.add((name, v))
            counts["loaded"] += 1
        for v in changes.removed:
            if v in self._pinned(name):
                log.warning("live reload: model %s version %d is no longer in the repository's served "
                            "set, but a route pins it (pipeline_version): it keeps serving", name, v)
                continue
            if models.pop(v, None) is not None:
                touched.add((name, v))
                counts["unloaded"] += 1
        if not models:
            log.error("live reload: model %s would have no version left to serve; versions %s keep "
                      "serving (put a version back, or remove the model from the routes)", name,
                      ", ".join(map(str, sorted(before))))
            models.update(before)
            touched.difference_update({(name, v) for v in before} | {(name, v) for v in changes.added})
            self._failed(name)
            return Counter()
        return counts

    def _forwarding_fits(self, plan: Plan, models: dict[str, dict[int, object]]) -> bool:
        for rp in plan.routes:
            if not rp.route.model:
                continue
            name = rp.route.pipeline
            old = self.models[name].get(max(self.models[name]) if not rp.route.pipeline_version
                                        else rp.route.pipeline_version)
            new = models[name][rp.lanes[name].version]
            if old is not None and _outputs(old) != _outputs(new):
                log.error("live reload: %s forwards to model %s and was checked against version %d "
                          "of %s; version %d has other outputs (%s, not %s): not swapped in; pin the "
                          "route's pipeline_version, or give the new version the same outputs",
                          rp.describe(), rp.route.model.get("name"), old.version, name, new.version,
                          _outputs(new), _outputs(old))
                self._failed(name)
                return False
        return True

    async def poll(self, worker, stop: asyncio.Event) -> bool:
        """One look at the repository; True when something was swapped in or out."""
        models = {n: dict(vs) for n, vs in self.models.items()}
        touched: set[tuple[str, int]] = set()
        counts: dict[str, Counter] = {}
        for name in list(models):
            counts[name] = await self._look(name, models[name], touched)
        if not touched:
            return False
        served = {n: {v: self.describe(m) for v, m in vs.items()} for n, vs in models.items()}
        try:
            plan = compile_plan(self.cfg, served)
        except ConfigError as exc:
            log.error("live reload: %s; the versions being served stay", exc)
            self._failed("")
            return False
        if not self._forwarding_fits(plan, models):
            return False
        lanes, built = await self._lanes(worker, plan, models, touched)
        if stop.is_set():   # stopping meanwhile: the old lanes drain; the new runners never ran
            for lane in built:
                await asyncio.to_thread(lane.close)
            return False
        worker.swap(plan, lanes)
        self.models = models
        self.swaps += 1
        for name, c in counts.items():
            for action, n in c.items():
                if self.metrics is not None:
                    self.metrics.repository_reload(name, action, n)
        log.info("live reload: now serving %s", "; ".join(
            f"{n} versions {', '.join(map(str, sorted(vs)))}" for n, vs in models.items()))
        return True

    async def _lanes(self, worker, plan: Plan, models, touched) -> tuple[dict, list]:
        """The lanes of ``plan``: unchanged ones as they are, the others with new runners (or a
        runner another new lane already got). Returns them and the lanes with new runners."""
        old = worker.lanes
        runners = {lane.plan.runner_key: (lane.runner, lane.pool) for lane in old.values()
                   if (lane.plan.pipeline.name, lane.plan.version) not in touched and lane.runner is not None}
        clients = {lane.plan.route_index: lane.model_client for lane in old.values() if lane.model_client}
        lanes, built = {}, []
        try:
            for key, lp in plan.lanes.items():
                current = old.get(key)
                if current is not None and current.plan == lp and (lp.pipeline.name, lp.version) not in touched:
                    lanes[key] = current
                    continue
                fresh = lp.runner_key not in runners
                lane = await asyncio.to_thread(self.make_lane, lp, models[lp.pipeline.name][lp.version], runners)
                if fresh:
                    built.append(lane)
                if lp.forwards:
                    lane.model_client = clients.get(lp.route_index)
                lanes[key] = lane
        except BaseException:
            for lane in built:   # a runner that would never be closed (its child process)
                await asyncio.to_thread(lane.close)
            raise
        return lanes, built
