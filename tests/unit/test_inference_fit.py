"""Pure parts of the model client: route config, fit checks, batch planning, retry policy,
top-k. No server."""
from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from worker.inference import fit, labels
from worker.inference.config import ModelRoute
from worker.inference.errors import (
    InferenceConfigError,
    ModelFitError,
    ModelUnavailableError,
    RequestRejected,
    RequestTooLarge,
    TransientServerError,
)
from worker.inference.retry import Backoff, RetryBudget, call_with_retry, classify

META = {
    "name": "clf",
    "inputs": [{"name": "image", "datatype": "FP32", "shape": ["-1", "3", "224", "224"]}],
    "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}],
}


def model(config=None, route_mbs=None, meta=META):
    return fit.model_spec(meta, config, route_max_batch_size=route_mbs)


def check(pipeline, m, **kw):
    kw.setdefault("inputs", {})
    return fit.check_fit(fit.pipeline_outputs(pipeline), m, **kw)


# --- config -------------------------------------------------------------------------------

def test_route_defaults_and_scheme():
    r = ModelRoute.from_dict({"url": "http://h:8000/", "name": "m", "version": 2}, where="r.m")
    assert (r.url, r.protocol, r.version, r.ragged, r.max_retry_s) == ("h:8000", "http", "2",
                                                                        "per_sample", 300.0)
    assert ModelRoute.from_dict({"url": "h:8001", "name": "m"}).protocol == "grpc"


@pytest.mark.parametrize("table, words", [
    ({"url": "h:1", "name": "m", "colour": 1}, ["unknown key", "colour"]),
    ({"url": "h", "name": "m"}, ["r.url", "host:port"]),
    ({"url": "ftp://h:1", "name": "m"}, ["scheme", "ftp"]),
    ({"url": "h:1"}, ["r.name", "required"]),
    ({"url": "h:1", "name": "m", "ragged": "crop"}, ["r.ragged", "crop"]),
    ({"url": "h:1", "name": "m", "max_retry_s": -1}, ["r.max_retry_s"]),
    ({"url": "h:1", "name": "m", "labels_file": "/nope.txt", "top_k": 1}, ["labels_file",
                                                                            "not a file"]),
    ({"url": "grpc://h:1", "name": "m", "protocol": "http"}, ["contradicts"]),
])
def test_route_errors_name_the_key(table, words):
    with pytest.raises(InferenceConfigError) as e:
        ModelRoute.from_dict(table, where="r")
    for w in words:
        assert w in str(e.value)


# --- model spec and fit -------------------------------------------------------------------

def test_spec_from_triton_config_strips_batch_axis_and_caps():
    m = model({"config": {"max_batch_size": 8}}, route_mbs=4)
    assert m.batched and m.max_batch_size == 4
    assert m.inputs[0].shape == (3, 224, 224) and m.outputs[0].shape == (10,)


def test_spec_unbatched_triton_model():
    m = model({"max_batch_size": 0})
    assert not m.batched and m.inputs[0].shape == (-1, 3, 224, 224)


def test_spec_without_config_reads_leading_minus_one_as_batch():
    m = model(None, route_mbs=None)
    assert m.batched and m.max_batch_size is None


def test_fit_ok_and_default_mapping_by_single_input():
    plan = check({"images": (np.float32, 3, (3, 224, 224))}, model(), top_k=3)
    assert plan.bindings[0].source == "images" and plan.bindings[0].target.name == "image"
    assert plan.classify_output == "logits"


def test_fit_reports_every_problem_with_the_fix():
    with pytest.raises(ModelFitError) as e:
        check({"a": (np.uint8, 2), "b": (np.float32, 3)}, model(), where="routes.x.model")
    msg = str(e.value)
    assert "model input 'image'" in msg and "routes.x.model.inputs" in msg
    with pytest.raises(ModelFitError) as e:
        check({"image": (np.uint8, 2)}, model())
    assert "dtype uint8" in str(e.value) and "FP32" in str(e.value)
    assert "2 dims per sample" in str(e.value)


def test_ragged_into_fixed_shape_needs_a_padding_rule():
    ragged = {"image": (np.float32, 3, (3, -1, -1))}
    with pytest.raises(ModelFitError, match='ragged = "pad"'):
        check(ragged, model())
    assert check(ragged, model(), ragged="pad").ragged == "pad"
    with pytest.raises(ModelFitError, match="crop"):
        check({"image": (np.float32, 3, (3, 256, 224))}, model(), ragged="pad")


def test_fit_unknown_names_and_outputs():
    with pytest.raises(ModelFitError) as e:
        check({"x": (np.float32, 3)}, model(), inputs={"y": "img"}, outputs=["probs"])
    msg = str(e.value)
    assert "no output 'y'" in msg and "no input 'img'" in msg and "no output 'probs'" in msg


def test_top_k_needs_classify_output_when_several_outputs_and_label_count():
    meta = dict(META, outputs=META["outputs"] + [{"name": "emb", "datatype": "FP32",
                                                   "shape": [-1, 4]}])
    with pytest.raises(ModelFitError, match="classify_output"):
        check({"image": (np.float32, 3)}, model(meta=meta), top_k=1)
    with pytest.raises(ModelFitError, match="5 labels"):
        check({"image": (np.float32, 3)}, model(), top_k=1, num_labels=5)


# --- planning -----------------------------------------------------------------------------

FREE = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, -1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]}


def _samples(lengths):
    return [{"x": np.full((3, n), k, np.float32)} for k, n in enumerate(lengths)]


def test_split_by_max_batch_size_keeps_order():
    plan = check({"x": (np.float32, 2)}, model(None, 3, FREE))
    reqs, rejected = fit.plan_requests(_samples([4] * 7), plan)
    assert not rejected and [r.indices for r in reqs] == [[0, 1, 2], [3, 4, 5], [6]]
    assert reqs[0].arrays["x"].shape == (3, 3, 4)


def test_per_sample_groups_identical_shapes():
    plan = check({"x": (np.float32, 2)}, model(None, None, FREE))
    reqs, _ = fit.plan_requests(_samples([4, 5, 4, 6, 5]), plan)
    assert sorted(r.indices for r in reqs) == [[0, 2], [1, 4], [3]]


def test_pad_to_largest_with_pad_value():
    plan = check({"x": (np.float32, 2)}, model(None, None, FREE), ragged="pad", pad_value=-1)
    reqs, _ = fit.plan_requests(_samples([2, 4]), plan)
    (r,) = reqs
    assert r.arrays["x"].shape == (2, 3, 4)
    assert (r.arrays["x"][0, :, 2:] == -1).all() and (r.arrays["x"][1] == 1).all()


def test_pad_to_fixed_model_dims_and_reject_too_big():
    plan = check({"image": (np.float32, 3)}, model(), ragged="pad")
    samples = [{"image": np.ones((3, 200, 224), np.float32)},
               {"image": np.ones((3, 225, 224), np.float32)}]
    reqs, rejected = fit.plan_requests(samples, plan)
    assert reqs[0].arrays["image"].shape == (1, 3, 224, 224) and list(rejected) == [1]
    assert "axis 1" in rejected[1]


def test_runtime_shape_mismatch_without_pad_is_rejected_per_sample():
    plan = check({"image": (np.float32, 3)}, model())
    samples = [{"image": np.ones((3, 224, 224), np.float32)},
               {"image": np.ones((3, 100, 224), np.float32)},
               {"image": np.ones((3, 224, 224), np.float64)}]
    reqs, rejected = fit.plan_requests(samples, plan)
    assert [r.indices for r in reqs] == [[0]] and sorted(rejected) == [1, 2]


def test_unbatched_model_sends_one_sample_without_batch_axis():
    m = model({"max_batch_size": 0}, meta=FREE)
    plan = check({"x": (np.float32, 3)}, m)
    reqs, _ = fit.plan_requests([{"x": np.ones((2, 3, 4), np.float32)}] * 2, plan)
    assert len(reqs) == 2 and reqs[0].arrays["x"].shape == (2, 3, 4)


def test_split_outputs_checks_batch_axis():
    req = fit.Request([5, 9], {})
    parts = fit.split_outputs({"y": np.arange(4).reshape(2, 2)}, req, True)
    assert [p["y"].tolist() for p in parts] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="2 samples"):
        fit.split_outputs({"y": np.zeros((3, 2))}, req, True)


# --- labels -------------------------------------------------------------------------------

def test_top_k_from_scores_and_file(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("cat\ndog\nbird\n\n")
    names = labels.load_labels(f)
    got = labels.top_k(np.array([[0.1, 0.7, 0.7]], np.float32), 2, names)
    assert [(g["index"], g["label"]) for g in got] == [(1, "dog"), (2, "bird")]


def test_parse_triton_classification_strings():
    got = labels.parse_classification(np.array([b"0.9:3:cat", b"0.1:0"], dtype=object))
    assert got == [{"index": 3, "score": 0.9, "label": "cat"},
                   {"index": 0, "score": 0.1, "label": None}]


# --- retry --------------------------------------------------------------------------------

class _Err(Exception):
    def __init__(self, status, msg="boom"):
        super().__init__(msg)
        self._s, self._m = status, msg

    def status(self):
        return self._s

    def message(self):
        return self._m


@pytest.mark.parametrize("exc, kind", [
    (_Err("StatusCode.UNAVAILABLE"), TransientServerError),
    (_Err("StatusCode.INVALID_ARGUMENT"), RequestRejected),
    (_Err("StatusCode.INTERNAL"), RequestRejected),
    (_Err("400", "Model m is not ready yet."), TransientServerError),
    (_Err("503"), TransientServerError),
    (ConnectionRefusedError(111, "refused"), TransientServerError),
    (asyncio.TimeoutError(), TransientServerError),
])
def test_classify(exc, kind):
    assert isinstance(classify(exc), kind)


def test_message_too_large_is_not_retried_and_names_the_limit():
    # gRPC answers RESOURCE_EXHAUSTED (also "overloaded", which is transient) for a request over
    # the server's message size: retrying it forever used to stall the worker
    err = classify(_Err("StatusCode.RESOURCE_EXHAUSTED",
                        "Received message larger than max (4816967 vs. 4194304)"))
    assert isinstance(err, RequestTooLarge) and err.limit == 4194304
    assert isinstance(classify(_Err("StatusCode.RESOURCE_EXHAUSTED", "quota")), TransientServerError)
    err = classify(_Err("413", "Payload Too Large"))
    assert isinstance(err, RequestTooLarge) and err.limit is None


def test_backoff_grows_to_cap_with_jitter():
    b = Backoff(0.1, 2.0, random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    assert 0.05 <= delays[0] <= 0.1 and all(1.0 <= d <= 2.0 for d in delays[6:])


def test_retry_until_budget_then_unavailable():
    calls = []

    async def down():
        calls.append(1)
        raise ConnectionRefusedError(111, "refused")

    async def go():
        await call_with_retry(down, what="model 'm'", timeout_s=1, budget=RetryBudget(0.3),
                              backoff=Backoff(0.05, 0.1))

    with pytest.raises(ModelUnavailableError, match="model 'm'.*refused"):
        asyncio.run(go())
    assert 2 <= len(calls) <= 10  # waited between attempts: no spinning


def test_zero_budget_means_forever():
    assert RetryBudget(0).remaining() == float("inf") and not RetryBudget(0).exhausted()


def test_dali_backend_mode_pads_with_zeros_by_default():
    r = ModelRoute.from_dict({"url": "h:1", "name": "m", "mode": "dali_backend"})
    assert r.ragged == "pad" and r.pad_value == 0
    with pytest.raises(InferenceConfigError, match="zeros"):
        ModelRoute.from_dict({"url": "h:1", "name": "m", "mode": "dali_backend", "pad_value": 1})
