"""The route plan: each route's own settings reach its own lanes (issue 21: per-route batch size
and delay were applied as the minimum over all routes; two routes sharing a pipeline shared the
first route's feed, output dtype and model client)."""
from __future__ import annotations

import numpy as np
import pytest

from worker.config import ConfigError, Route, WorkerConfig, load_config
from worker.stream.batching import MicroBatcher
from worker.stream.plan import ServedPipeline, compile_plan, served_pipelines

SPECS = {"image": (np.dtype(np.uint8), 1)}
PIPES = {"classify": ServedPipeline("classify", SPECS, 64), "identity": ServedPipeline("identity", SPECS, 8)}


def _cfg(*routes: Route) -> WorkerConfig:
    return WorkerConfig(routes=list(routes)).check()


def test_two_routes_sharing_a_pipeline_keep_their_own_settings():
    cfg = _cfg(Route(["a"], pipeline="classify", output="out-a", max_batch_size=8, max_delay_ms=5,
                     feed="padded", output_dtype="float16", model={"url": "m:8001", "name": "resnet"}),
               Route(["b"], pipeline="classify", output="out-b", max_batch_size=32, max_delay_ms=50))
    plan = compile_plan(cfg, PIPES)
    a, b = plan.route_for("a").lanes["classify"], plan.route_for("b").lanes["classify"]
    assert (a.max_batch_size, a.max_delay_s, a.feed, a.output_dtype, a.forwards) == (8, 0.005, "padded", "float16", True)
    assert (b.max_batch_size, b.max_delay_s, b.feed, b.output_dtype, b.forwards) == (32, 0.05, "ragged", None, False)
    assert a.key != b.key and a.runner_key != b.runner_key
    assert a.route.output == "out-a" and b.route.output == "out-b"


def test_batch_limit_never_exceeds_the_pipeline_and_lanes_with_equal_settings_share_a_runner():
    cfg = _cfg(Route(["a"], pipeline="identity", max_batch_size=100), Route(["b"], pipeline="identity"))
    plan = compile_plan(cfg, PIPES)
    a, b = plan.route_for("a").lanes["identity"], plan.route_for("b").lanes["identity"]
    assert a.max_batch_size == b.max_batch_size == 8
    assert a.runner_key == b.runner_key  # one DALI pipeline for both, batches still apart
    assert a.key != b.key


def test_envelopes_may_name_any_served_pipeline_except_on_a_forwarding_route():
    cfg = _cfg(Route(["a"], pipeline="classify", model={"url": "m:8001", "name": "resnet"}),
               Route(["b"], pipeline="identity"))
    plan = compile_plan(cfg, PIPES)
    assert set(plan.route_for("a").lanes) == {"classify"}
    assert set(plan.route_for("b").lanes) == {"classify", "identity"}


def test_only_named_pipelines_are_served():
    cfg = _cfg(Route(["a"], pipeline="classify", pipelines=["identity"]), Route(["b"]))
    assert served_pipelines(cfg) == ["classify", "identity"]
    with pytest.raises(ConfigError, match="no route names a pipeline"):
        served_pipelines(_cfg(Route(["a"])))
    with pytest.raises(ConfigError, match="serves its own pipeline only"):
        compile_plan(_cfg(Route(["a"], pipeline="classify", pipelines=["identity"],
                                model={"url": "m", "name": "x"})), PIPES)


def test_pipelines_from_toml_and_flags(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('[[routes]]\ninput = "a"\npipelines = ["classify", "identity"]\n')
    assert load_config(f, env={}).routes[0].pipelines == ["classify", "identity"]
    cfg = load_config(None, env={}, overrides={"input": "x", "pipelines": "classify, identity"})
    assert cfg.routes[0].pipelines == ["classify", "identity"]


def test_each_key_flushes_on_its_own_delay():
    b = MicroBatcher({"fast": 100, "slow": 100}, {"fast": 0.01, "slow": 1.0})
    b.add("fast", 1, now=0.0)
    b.add("slow", 2, now=0.0)
    assert b.next_deadline() == pytest.approx(0.01)
    assert [x.key for x in b.due(0.02)] == ["fast"]
    assert b.next_deadline() == pytest.approx(1.0)
    assert [x.key for x in b.due(1.0)] == ["slow"]


def test_a_dali_backend_route_serves_its_remote_pipeline_alone_and_no_other_route_runs_it():
    from worker.stream.plan import local_pipelines, remote_pipelines

    remote_model = {"url": "triton:8001", "name": "classify", "mode": "dali_backend"}
    cfg = _cfg(Route(["a"], pipeline="classify", model=remote_model), Route(["b"], pipeline="identity"))
    assert remote_pipelines(cfg) == {"classify": 0}
    assert local_pipelines(cfg) == ["identity"]          # the worker loads identity only
    served = {**PIPES, "classify": ServedPipeline("classify", SPECS, 64, remote=True)}
    plan = compile_plan(cfg, served)
    assert set(plan.route_for("a").lanes) == {"classify"} and plan.route_for("a").lanes["classify"].forwards
    assert set(plan.route_for("b").lanes) == {"identity"}  # an envelope on b cannot reach Triton's classify
    with pytest.raises(ConfigError, match="runs in Triton's DALI backend for routes\\[0\\]"):
        remote_pipelines(_cfg(Route(["a"], pipeline="classify", model=remote_model),
                              Route(["b"], pipeline="identity", pipelines=["classify"])))
    with pytest.raises(ConfigError, match="already runs in Triton's DALI backend"):
        remote_pipelines(_cfg(Route(["a"], pipeline="classify", model=remote_model),
                              Route(["b"], pipeline="classify", model=remote_model)))
