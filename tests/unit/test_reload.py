"""Live reload without a broker: the Reloader against a stand-in for the stream worker's swap,
with real loads of real versions. What is swapped in and out, what stays when loading fails,
the metrics it counts, and a swapped-out runner closed only after its in-flight batch."""
from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from functools import partial

import numpy as np
import pytest

from tests.versioned_repo import make_repository, sample, write_version
from worker.config import Route, WorkerConfig
from worker.runtime import build_lanes, load_pipeline, make_lane, served_pipeline
from worker.stream.backpressure import Backpressure
from worker.stream.reload import Reloader


class Metrics:
    def __init__(self):
        self.reloads, self.failures = Counter(), Counter()

    def repository_reload(self, pipeline, action, n=1):
        self.reloads[(pipeline, action)] += n

    def repository_reload_failed(self, pipeline):
        self.failures[pipeline] += 1


class FakeWorker:
    """What the Reloader uses of a StreamWorker: its lanes and swap()."""

    def __init__(self, lanes):
        self.lanes, self.plans = lanes, []

    def swap(self, plan, lanes):
        self.plans.append(plan)
        self.lanes = lanes


def _setup(tmp_path, policy="{ latest { num_versions: 2 } }", pin=0, versions=None):
    repo = make_repository(tmp_path / "repo", versions=versions or {1: "py"}, policy=policy)
    cfg = WorkerConfig(repository=str(repo), isolate_dali=False, repository_poll_s=0.1, num_threads=1,
                       routes=[Route(["in"], pipeline="times", pipeline_version=pin)]).check()
    metrics = Metrics()
    reloader = Reloader(cfg, ["times"], load=partial(load_pipeline, cfg), describe=served_pipeline,
                        make_lane=partial(make_lane, cfg), metrics=metrics)
    plan, lanes, models = build_lanes(cfg)
    reloader.started(models)
    return repo, reloader, FakeWorker(lanes), metrics


def _answer(worker, version=None) -> int:
    rp = worker.plans[-1].route_for("in") if worker.plans else None
    lanes = worker.lanes
    if rp is not None:
        key = rp.lane_for("times", version).key
    else:   # before any swap: the start-up lanes, the highest version by default
        key = max(lanes, key=lambda k: lanes[k].plan.version) if version is None else f"0:times:{version}"
    (res,) = lanes[key].run([{"x": sample(2)}])
    return int(next(iter(res.outputs.values()))[0])


def _poll(reloader, worker) -> bool:
    return asyncio.run(reloader.poll(worker, asyncio.Event()))


def test_added_changed_and_removed_versions_swap_and_count(tmp_path):
    repo, reloader, worker, metrics = _setup(tmp_path)
    assert _answer(worker) == 1
    assert not _poll(reloader, worker)                       # nothing changed: no swap
    write_version(repo, "times", 2, "serialized")
    assert _poll(reloader, worker) and _answer(worker) == 2 and _answer(worker, 1) == 1
    write_version(repo, "times", 2, "serialized", factor=20)  # changed in place
    assert _poll(reloader, worker) and _answer(worker) == 20
    write_version(repo, "times", 3)                           # latest 2: 1 goes out
    assert _poll(reloader, worker) and _answer(worker) == 3
    assert sorted(worker.plans[-1].route_for("in").versions["times"]) == [2, 3]
    assert metrics.reloads == {("times", "loaded"): 3, ("times", "unloaded"): 1}
    assert not metrics.failures


def test_a_version_that_fails_to_load_keeps_the_old_one(tmp_path, caplog):
    repo, reloader, worker, metrics = _setup(tmp_path, policy="{ all { } }", versions={1: "py", 2: "py"})
    (repo / "times" / "2" / "dali.py").write_text("raise RuntimeError('half-written')\n")
    assert not _poll(reloader, worker)
    assert _answer(worker) == 2 and metrics.failures["times"] == 1
    assert "model times version 2 failed to load" in caplog.text and "half-written" in caplog.text
    assert "version 2 keeps serving as before" in caplog.text
    assert not _poll(reloader, worker) and metrics.failures["times"] == 1   # not retried until it changes
    write_version(repo, "times", 2, factor=200)
    assert _poll(reloader, worker) and _answer(worker) == 200


def test_a_broken_config_keeps_serving_and_is_reported_once(tmp_path, caplog):
    repo, reloader, worker, metrics = _setup(tmp_path)
    (repo / "times" / "config.pbtxt").write_text("version_policy: {")
    assert not _poll(reloader, worker) and not _poll(reloader, worker)
    assert metrics.failures["times"] == 1 and caplog.text.count("config.pbtxt does not parse") == 1
    assert _answer(worker) == 1


def test_a_pinned_version_and_the_last_version_are_never_unloaded(tmp_path, caplog):
    repo, reloader, worker, metrics = _setup(tmp_path, policy="{ all { } }", pin=1, versions={1: "py", 2: "py"})
    (repo / "times" / "config.pbtxt").write_text("version_policy: { specific { versions: [2] } }")
    _poll(reloader, worker)
    assert "a route pins it (pipeline_version): it keeps serving" in caplog.text
    assert sorted(reloader.models["times"]) == [1, 2]
    # the version folder goes, whatever loading it left there (__pycache__ where Python writes
    # bytecode: the fresh-machine check found this test failing with IsADirectoryError)
    shutil.rmtree(repo / "times" / "2")
    (repo / "times" / "config.pbtxt").write_text("version_policy: { all { } }")
    _poll(reloader, worker)
    assert sorted(reloader.models["times"]) == [1]        # 2 is gone, pinned 1 stays


def test_the_stream_worker_closes_a_swapped_out_runner_after_its_batch():
    """StreamWorker.swap: an open batch of a lane that goes is submitted to that lane, and its
    runner is closed only once that batch has finished."""
    from concurrent.futures import ThreadPoolExecutor

    from worker.stream.batching import Batch
    from worker.stream.worker import Lane, StreamWorker

    events = []

    class Runner:
        def __init__(self, name, delay):
            self.name, self.delay = name, delay

        def run(self, samples):
            import time
            time.sleep(self.delay)
            events.append(f"ran {self.name}")
            return []

        def close(self):
            events.append(f"closed {self.name}")

    def lane(key, runner):
        plan = type("P", (), {"key": key, "max_batch_size": 4, "max_delay_s": 1.0, "route_index": 0,
                              "route": Route(["in"], pipeline="times"),
                              "pipeline": type("S", (), {"name": "times"})(), "version": 1})()
        return Lane(plan=plan, run=runner.run, pool=ThreadPoolExecutor(1), close=runner.close, runner=runner)

    async def scenario():
        w = StreamWorker.__new__(StreamWorker)
        old = lane("0:times:1", Runner("v1", 0.3))
        w.lanes, w._pool_batches, w._retiring, w._tasks = {old.plan.key: old}, {}, {}, set()
        w.cfg, w.fatal = WorkerConfig(routes=[Route(["in"], pipeline="times")]), None
        w.backpressure = Backpressure(4, {"in": 0}, 256)

        async def run_batch(batch, lane):
            await asyncio.get_running_loop().run_in_executor(lane.pool, lane.run, batch.items)
        w._run_batch = run_batch
        w._backpressure = lambda: None
        from worker.stream.batching import MicroBatcher
        w.batcher = MicroBatcher({old.plan.key: 4}, {old.plan.key: 1.0})
        w.batcher.add(old.plan.key, "sample", 0.0)
        new = lane("0:times:2", Runner("v2", 0.0))
        plan = type("Plan", (), {"routes": [], "lanes": {}})()
        import worker.stream.worker as mod
        real_router = mod.Router
        mod.Router = lambda cfg, plan: None
        try:
            retired = w.swap(plan, {new.plan.key: new})
        finally:
            mod.Router = real_router
        assert retired == [old] and w.batcher.pending() == 0
        await asyncio.wait(list(w._tasks))
        await asyncio.sleep(0.1)
        return events

    assert asyncio.run(scenario()) == ["ran v1", "closed v1"]
