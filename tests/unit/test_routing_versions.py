"""Versions in the route plan and the router: every served version has its lanes; an envelope's
pipeline_version picks one, a route's pipeline_version is the default of its pipeline, a
version that is not served is a dead letter naming those that are; results say which answered."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from worker.config import ConfigError, Route, WorkerConfig
from worker.stream.errors import MessageError
from worker.stream.messages import decode_result, encode_input, encode_result
from worker.stream.plan import ServedPipeline, compile_plan
from worker.stream.routing import Router

SPECS = {"x": (np.dtype(np.int32), 1)}
TIMES = {v: ServedPipeline("times", SPECS, 8, version=v) for v in (1, 2, 3)}
OTHER = {"other": ServedPipeline("other", SPECS, 4, version=7)}


def _router(*routes: Route) -> Router:
    cfg = WorkerConfig(routes=list(routes)).check()
    return Router(cfg, compile_plan(cfg, {"times": TIMES, **OTHER}))


def _admit(router: Router, topic: str = "in", **envelope):
    value = encode_input("m-1", {"x": np.arange(3, dtype=np.int32)}, **envelope)
    record = SimpleNamespace(topic=topic, partition=0, offset=5, key=None, value=value, timestamp=0)
    return router.admit(record, epoch=1)


def test_every_served_version_has_a_lane_and_the_highest_is_the_default():
    router = _router(Route(["in"], pipeline="times"))
    rp = router.plan.route_for("in")
    assert sorted(rp.versions["times"]) == [1, 2, 3] and rp.lanes["times"].version == 3
    assert {lane.key for lane in router.plan.lanes.values()} == {"0:times:1", "0:times:2", "0:times:3", "0:other:7"}
    assert len({lane.runner_key for lane in router.plan.lanes.values()}) == 4   # one DALI pipeline per version
    p = _admit(router)
    assert (p.pipeline, p.pipeline_version, p.lane.key) == ("times", 3, "0:times:3")
    for v in (1, 2):
        assert _admit(router, pipeline_version=v).lane.key == f"0:times:{v}"
    assert _admit(router, pipeline="other", pipeline_version=7).pipeline_version == 7


def test_a_route_pin_is_the_default_and_an_envelope_may_still_name_another():
    router = _router(Route(["in"], pipeline="times", pipeline_version=1))
    assert _admit(router).pipeline_version == 1
    assert _admit(router, pipeline_version=2).pipeline_version == 2
    assert _admit(router, pipeline="other").pipeline_version == 7   # the pin is for 'times' only


def test_a_version_not_served_is_a_dead_letter_naming_the_served_ones():
    router = _router(Route(["in"], pipeline="times"))
    with pytest.raises(MessageError) as e:
        _admit(router, pipeline_version=4)
    assert e.value.reason == "version_not_served" and e.value.pipeline == "times"
    assert ("asks for version 4 of pipeline 'times', which is not served: the repository's "
            "version_policy serves versions 1, 2, 3 of 'times'") in str(e.value)
    assert "leave 'pipeline_version' out for version 3" in str(e.value)


def test_a_forwarding_route_runs_one_version():
    router = _router(Route(["in"], pipeline="times", pipeline_version=2, model={"url": "m:8001", "name": "r"}))
    assert list(router.plan.route_for("in").versions["times"]) == [2]
    with pytest.raises(MessageError, match=r"forwards to a model and runs only version 2 of 'times'"):
        _admit(router, pipeline_version=3)


def test_a_pin_that_is_not_served_stops_the_start():
    with pytest.raises(ConfigError, match=r"routes\[0\] \(in\): pipeline_version 5 of pipeline 'times' "
                                          r"is not served \(the repository's version_policy serves 1, 2, 3\)"):
        _router(Route(["in"], pipeline="times", pipeline_version=5))
    with pytest.raises(ConfigError, match="pipeline_version=2 needs the route's 'pipeline'"):
        WorkerConfig(routes=[Route(["in"], pipelines=["times"], pipeline_version=2)]).check()


@pytest.mark.parametrize("value, ok", [(2, True), ("2", True), (0, False), (-1, False), ("v2", False),
                                       (True, False), (2.0, False)])
def test_envelope_pipeline_version_must_be_a_version_number(value, ok):
    router = _router(Route(["in"], pipeline="times"))
    if ok:
        assert _admit(router, pipeline_version=value if isinstance(value, int) else 2).pipeline_version == 2
        return
    import msgpack

    obj = msgpack.unpackb(encode_input("m-1", {"x": np.arange(3, dtype=np.int32)}), raw=False)
    obj["pipeline_version"] = value
    record = SimpleNamespace(topic="in", partition=0, offset=5, key=None,
                             value=msgpack.packb(obj, use_bin_type=True), timestamp=0)
    with pytest.raises(MessageError, match="'pipeline_version' must be a version number >= 1") as e:
        router.admit(record, epoch=1)
    assert e.value.reason == "invalid_envelope"


def test_string_version_like_triton_model_version():
    import msgpack

    obj = msgpack.unpackb(encode_input("m-1", {"x": np.arange(3, dtype=np.int32)}), raw=False)
    obj["pipeline_version"] = "1"
    record = SimpleNamespace(topic="in", partition=0, offset=5, key=None,
                             value=msgpack.packb(obj, use_bin_type=True), timestamp=0)
    assert _router(Route(["in"], pipeline="times")).admit(record, epoch=1).pipeline_version == 1


def test_results_carry_the_version_that_answered():
    value = encode_result(id="m-1", source=("in", 0, 5, 0), pipeline="times", pipeline_version=2,
                          model=None, outputs={"y": np.arange(3)}, meta={}, timings={}, worker="w")
    assert decode_result(value).pipeline_version == 2
    old = encode_result(id="m-1", source=("in", 0, 5, 0), pipeline="times", model=None,
                        outputs={"y": np.arange(3)}, meta={}, timings={}, worker="w")
    assert decode_result(old).pipeline_version is None
