"""The model client against a real Triton Inference Server (2.51 from the nvidia-pytriton wheel,
on the CPU, models in its Python backend: see tests/triton_server.py and tests/servers/triton/),
over gRPC and HTTP. Predictions are checked against the same models run locally
(tests/servers/mean_classifier.py, ensemble_preprocess.py, encoded_stats.py)."""
from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

import numpy as np
import pytest

from tests.triton_server import (CLASSIFIER, ENSEMBLE, SERVERS_DIR, SMALL_CLASSIFIER,  # noqa: F401
                                 restartable_triton_server, triton_classifier_server)
from worker.inference import ModelClient, ModelFitError, ModelRoute, ModelUnavailableError

sys.path.insert(0, str(SERVERS_DIR))
import encoded_stats  # noqa: E402
import ensemble_preprocess  # noqa: E402
import mean_classifier  # noqa: E402
from grpc_limit_proxy import GrpcLimitProxy  # noqa: E402

PROTOCOLS = ["grpc", "http"]
SPEC = {"image": (np.float32, 3)}
# Tensors in the request body, not through shared memory (where the client has that hand-off):
# the message size tests are about the body
WIRE = ({"shared_memory": "off"}
        if "shared_memory" in {f.name for f in dataclasses.fields(ModelRoute)} else {})


def route(server, protocol, **kw) -> ModelRoute:
    table = {"url": server.url(protocol), "protocol": protocol, "name": CLASSIFIER.name,
             "outputs": ["logits", "request_size"], "timeout_s": 10, "startup_timeout_s": 30}
    table.update(kw)
    return ModelRoute.from_dict(table, where="test.model")


def images(n, seed=0, hw=(8, 8)):
    rng = np.random.default_rng(seed)
    return [{"image": rng.random((3, *hw), dtype=np.float32) * (k + 1)} for k in range(n)]


def assert_logits(got, image) -> None:
    """``got`` is the classifier's answer for one CHW ``image``, which the server computed in a
    batch of another composition than the local one-sample run. ``logits = means @ W.T + B`` is
    float32: a dot product of 3 terms plus a bias, and BLAS sums it in another order (or with
    FMA) for another batch size, so the two may differ by a few roundings of the *terms*, not of
    the result (cancellation can leave the result small; seen: 2.4e-7 apart, past rtol 1e-6).
    The classic bound for an n-term float32 sum is n * eps * sum(|term|); n = 4 here."""
    x = np.asarray(image, np.float32)[None]
    means = x.mean(axis=(2, 3), dtype=np.float64).astype(np.float32)
    terms = np.abs(means) @ np.abs(mean_classifier.W.T) + np.abs(mean_classifier.B)
    bound = 4 * np.finfo(np.float32).eps * terms[0]
    want = mean_classifier.logits(x)[0]
    diff = np.abs(np.asarray(got, np.float64) - want)
    assert np.all(diff <= bound), f"logits differ by {diff.max():.3g}, over float32's {bound.min():.3g}"


async def until_retried(client, task, timeout: float = 30.0) -> None:
    """Wait until the client has retried the request at least once (not a fixed time: a loaded
    machine may take longer for its first retry); the batch must still be waiting, not failed."""
    deadline = time.monotonic() + timeout
    while client.stats["retries"] < 1 and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not task.done(), "the batch failed instead of waiting for the server"
    assert client.stats["retries"] >= 1


def labels_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(mean_classifier.LABELS) + "\n")
    return str(path)


async def run_with_model(r: ModelRoute, samples, spec=SPEC):
    """(outcomes, request counters, the model as the client saw it at start)."""
    client = ModelClient(r)
    try:
        await client.start(spec)
        return await client.infer(samples), client.stats, client.model
    finally:
        await client.close()


async def run(r: ModelRoute, samples, spec=SPEC):
    outcomes, stats, _ = await run_with_model(r, samples, spec)
    return outcomes, stats


def local_top(want, k):
    return [(i, mean_classifier.LABELS[i]) for i, _ in mean_classifier.top_k(want, k)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("model, route_limit", [(CLASSIFIER.name, 4), (SMALL_CLASSIFIER.name, None)],
                         ids=["route-limit", "model-limit"])
def test_predictions_match_local_model_and_respect_max_batch_size(
        triton_classifier_server, protocol, model, route_limit, tmp_path):
    # Triton reports max_batch_size in the model config: the smaller of it and the route's wins
    r = route(triton_classifier_server, protocol, name=model, max_batch_size=route_limit,
              top_k=3, classify_output="logits", labels_file=labels_file(tmp_path))
    samples = images(10)

    outcomes, stats, spec = asyncio.run(run_with_model(r, samples))
    assert spec.batched and spec.max_batch_size == 4
    assert stats["requests"] == 3  # 4 + 4 + 2
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        want = mean_classifier.logits(s["image"][None])[0]
        assert o.outputs["logits"].dtype == np.float32
        assert_logits(o.outputs["logits"], s["image"])
        assert o.outputs["request_size"][0] <= 4
        assert [(lab["index"], lab["label"]) for lab in o.labels] == local_top(want, 3)
    assert sorted(int(o.outputs["request_size"][0]) for o in outcomes) == [2] * 2 + [4] * 8


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("model", [CLASSIFIER.name, ENSEMBLE.name])
def test_top_k_from_tritons_classification_extension(triton_classifier_server, protocol, model):
    """Without a labels file the client asks Triton for ``class_count``: the server answers
    "score:index:label" strings (labels from the model's label_filename, the ensemble's own too;
    scores printed with 6 decimals) in place of the scores."""
    r = route(triton_classifier_server, protocol, name=model, top_k=3, classify_output="logits")
    samples = images(5, seed=4)
    outcomes, stats = asyncio.run(run(r, samples))
    assert stats["requests"] == 1
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        x = s["image"][None]
        want = mean_classifier.logits(ensemble_preprocess.preprocess(x) if model == ENSEMBLE.name
                                      else x)[0]
        assert [(lab["index"], lab["label"]) for lab in o.labels] == local_top(want, 3)
        for lab in o.labels:  # Triton prints the score with 6 decimals
            assert lab["score"] == pytest.approx(float(want[lab["index"]]), abs=2e-6)
        assert o.outputs["request_size"][0] == 5
        # Triton's strings are the labels; what stays in the outputs can travel in a message
        assert all(a.dtype != np.object_ for a in o.outputs.values()), o.outputs


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ensemble_predictions_match_local_preprocessing_and_model(triton_classifier_server,
                                                                  protocol):
    r = route(triton_classifier_server, protocol, name=ENSEMBLE.name)
    samples = images(6, seed=9, hw=(12, 10)) + images(3, seed=10, hw=(7, 9))

    outcomes, stats, spec = asyncio.run(run_with_model(r, samples))
    assert spec.batched and spec.max_batch_size == 64  # the ensemble's own config
    assert stats["requests"] == 2  # one per shape
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        want = mean_classifier.logits(ensemble_preprocess.preprocess(s["image"][None]))[0]
        np.testing.assert_allclose(o.outputs["logits"], want, rtol=1e-6, atol=1e-6)
        assert o.outputs["request_size"][0] == (6 if s["image"].shape == (3, 12, 10) else 3)
    # not the plain classifier's answer: the preprocessing step ran
    plain = mean_classifier.logits(samples[0]["image"][None])[0]
    assert not np.allclose(outcomes[0].outputs["logits"], plain, rtol=1e-3)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("poison", ["marker", "nan"])
def test_rejected_sample_is_found_by_splitting(triton_classifier_server, protocol, poison):
    samples = images(5)
    samples[3]["image"][0, 0, 0] = mean_classifier.REJECT_MARKER if poison == "marker" else np.nan
    outcomes, stats = asyncio.run(run(route(triton_classifier_server, protocol), samples))
    assert [o.ok for o in outcomes] == [True, True, True, False, True]
    bad = outcomes[3]
    assert bad.reason == "model_error" and CLASSIFIER.name in bad.error
    assert "invalid" in bad.error  # the model's own words
    assert "[INVALID_ARGUMENT]" in bad.error or "[400]" in bad.error, bad.error
    assert stats["splits"] == 1
    assert stats["requests"] == 1 + 5 and stats["retries"] == 0
    for s, o in zip(samples, outcomes):
        if o.ok:
            assert_logits(o.outputs["logits"], s["image"])
            assert o.outputs["request_size"][0] == 1  # asked one by one


def test_ragged_per_sample_and_padded(triton_classifier_server):
    samples = images(2, hw=(4, 4)) + images(2, seed=1, hw=(6, 4)) + images(1, seed=2, hw=(4, 5))
    outcomes, stats = asyncio.run(run(route(triton_classifier_server, "grpc"), samples))
    assert stats["requests"] == 3  # one request per distinct shape
    for s, o in zip(samples, outcomes):
        assert_logits(o.outputs["logits"], s["image"])
        assert o.outputs["request_size"][0] == (2 if s["image"].shape != (3, 4, 5) else 1)

    outcomes, stats = asyncio.run(run(route(triton_classifier_server, "grpc", ragged="pad"),
                                      samples))
    assert stats["requests"] == 1
    padded = np.zeros((len(samples), 3, 6, 5), np.float32)
    for k, s in enumerate(samples):
        _, h, w = s["image"].shape
        padded[k, :, :h, :w] = s["image"]
    want = mean_classifier.logits(padded)
    for k, o in enumerate(outcomes):
        np.testing.assert_allclose(o.outputs["logits"], want[k], rtol=1e-6)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fit_errors_at_start_name_model_and_url(triton_classifier_server, protocol):
    r = route(triton_classifier_server, protocol)
    with pytest.raises(ModelFitError) as e:
        asyncio.run(run(r, [], spec={"image": (np.uint8, 3)}))
    assert CLASSIFIER.name in str(e.value) and r.url in str(e.value)
    assert "uint8" in str(e.value) and "FP32" in str(e.value)
    with pytest.raises(ModelFitError, match="no output 'probs'"):
        asyncio.run(run(route(triton_classifier_server, protocol, outputs=["probs"]), []))
    # Triton's config gives the per-sample dims (the batch axis is not counted): a 4-D pipeline
    # output does not fit [3, -1, -1]
    with pytest.raises(ModelFitError, match=r"4 dims per sample but the model wants 3"):
        asyncio.run(run(r, [], spec={"image": (np.float32, 4)}))


def test_unknown_model_or_down_server_fails_start_clearly(triton_classifier_server):
    r = route(triton_classifier_server, "grpc", name="no-such-model", startup_timeout_s=1)
    with pytest.raises(ModelUnavailableError, match="no-such-model.*not (ready|found)"):
        asyncio.run(run(r, []))
    r = ModelRoute.from_dict({"url": "127.0.0.1:9", "name": "m", "startup_timeout_s": 1})
    with pytest.raises(ModelUnavailableError, match="127.0.0.1:9"):
        asyncio.run(run(r, []))


def test_timeout_is_retried_then_unavailable(triton_classifier_server):
    samples = images(2)
    samples[0]["image"][0, 0, 0] = mean_classifier.SLOW_MARKER  # the model takes 3 s
    r = route(triton_classifier_server, "grpc", timeout_s=0.5, max_retry_s=1.2, backoff_max_s=0.3)
    from prometheus_client import REGISTRY

    def counted(name):  # the worker's /metrics (single-process registry here)
        return REGISTRY.get_sample_value(f"dali_worker_model_{name}_total", {"model": r.name}) or 0.0

    before = counted("requests"), counted("retries")
    t0 = time.monotonic()
    outcomes, stats = asyncio.run(run(r, samples))
    assert time.monotonic() - t0 < 6
    assert all(o.reason == "model_unavailable" for o in outcomes)
    assert "timed out" in outcomes[0].error and stats["retries"] >= 1
    assert (counted("requests") - before[0], counted("retries") - before[1]) == \
        (stats["requests"], stats["retries"])
    # the timed-out gRPC calls were cancelled, and Triton passed that on to the model (which
    # stops sleeping), so its one instance is free again for the next test at once
    t0 = time.monotonic()
    fine, _ = asyncio.run(run(route(triton_classifier_server, "grpc", timeout_s=10), images(1)))
    assert fine[0].ok, fine[0].error
    assert time.monotonic() - t0 < mean_classifier.SLOW_S, "the slow requests still held the model"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_restart_mid_stream_recovers_without_losing_samples(
        restartable_triton_server, protocol):
    server = restartable_triton_server
    r = route(server, protocol, max_retry_s=0, backoff_max_s=0.5, timeout_s=2)

    events = []

    async def scenario():
        client = ModelClient(r, on_status=lambda ok, detail: events.append((ok, detail)))
        await client.start(SPEC)
        try:
            first = await client.infer(images(3))
            assert all(o.ok for o in first)
            server.stop()
            samples = images(6, seed=7)
            task = asyncio.create_task(client.infer(samples))
            await until_retried(client, task)  # waiting for the server, not failing the batch
            before = client.stats["retries"]
            await asyncio.sleep(2.0)  # a window to count retries in (fewer on a slow machine)
            assert not task.done()
            assert client.stats["retries"] - before <= 40  # backoff, not a busy loop
            await asyncio.get_running_loop().run_in_executor(None, server.start)
            outcomes = await asyncio.wait_for(task, 30)
            return samples, outcomes
        finally:
            await client.close()

    samples, outcomes = asyncio.run(scenario())
    # readiness hears of the change each way once, not once per retry
    assert [ok for ok, _ in events] == [True, False, True], events
    assert server.url(protocol) in events[1][1]
    assert len(outcomes) == len(samples)
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        assert_logits(o.outputs["logits"], s["image"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_model_unloaded_then_loaded_is_waited_for(restartable_triton_server, protocol):
    """Triton's model control API: while the model is unloaded Triton answers NOT_FOUND / 404
    "Request for unknown model: ... has no available versions"; the client holds the batch and
    retries (a redeploy, not a bad sample) and gets the answers once the model is back."""
    server = restartable_triton_server
    r = route(server, protocol, max_retry_s=0, backoff_max_s=0.3, timeout_s=5)
    events = []

    async def scenario():
        client = ModelClient(r, on_status=lambda ok, detail: events.append((ok, detail)))
        await client.start(SPEC)
        loop = asyncio.get_running_loop()
        try:
            assert all(o.ok for o in await client.infer(images(2)))
            await loop.run_in_executor(None, server.unload, CLASSIFIER.name)
            assert not await client.ready()
            samples = images(7, seed=3)
            task = asyncio.create_task(client.infer(samples))
            await until_retried(client, task)
            await loop.run_in_executor(None, server.load, CLASSIFIER.name)
            outcomes = await asyncio.wait_for(task, 30)
            assert await client.ready()
            return samples, outcomes
        finally:
            await client.close()

    samples, outcomes = asyncio.run(scenario())
    assert [ok for ok, _ in events] == [True, False, True], events
    assert "NOT_FOUND" in events[1][1] or "404" in events[1][1], events[1][1]
    assert "no available versions" in events[1][1]
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        assert_logits(o.outputs["logits"], s["image"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_triton_takes_a_batch_over_grpcs_default_4mib_in_one_request(triton_classifier_server,
                                                                     protocol):
    # Triton 2.51's gRPC server accepts messages up to INT32_MAX (no option lowers it) and its
    # HTTP server has no body limit: 8 samples of 1.08 MB go as one request, nothing learned
    samples = images(8, hw=(300, 300))
    r = route(triton_classifier_server, protocol, **WIRE)

    async def go():
        client = ModelClient(r)
        await client.start(SPEC)
        try:
            return await client.infer(samples), client
        finally:
            await client.close()

    outcomes, client = asyncio.run(go())
    assert client.stats == {"requests": 1, "retries": 0, "splits": 0}
    assert client.max_request_bytes is None
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        assert o.outputs["request_size"][0] == 8
        assert_logits(o.outputs["logits"], s["image"])


def test_batch_over_a_proxys_message_limit_is_split_by_bytes(triton_classifier_server):
    # In front of Triton, a gRPC intermediary with gRPC's default 4 MiB receive limit (see
    # tests/servers/grpc_limit_proxy.py): 8 samples of 1.08 MB do not fit in one request. Its
    # "message larger than max" is RESOURCE_EXHAUSTED, which must not be retried forever as if
    # the server were busy; the client learns the limit and splits.
    samples = images(8, hw=(300, 300))
    huge = images(1, seed=5, hw=(1200, 1200))  # 17 MB: no split can help

    async def go(r):
        client = ModelClient(r)
        await client.start(SPEC)
        try:
            first = await client.infer(samples)
            splits = client.stats["splits"]
            requests = client.stats["requests"]
            second = await client.infer(samples)
            alone = await client.infer(huge)
            return first, second, alone, splits, client.stats["requests"] - requests, client
        finally:
            await client.close()

    with GrpcLimitProxy(triton_classifier_server.grpc_url, max_receive_bytes=4 * 2**20) as proxy:
        r = ModelRoute.from_dict({"url": proxy.url, "protocol": "grpc", "name": CLASSIFIER.name,
                                  "outputs": ["logits", "request_size"], "timeout_s": 10,
                                  "max_retry_s": 5, **WIRE})
        first, second, alone, splits, second_requests, client = asyncio.run(go(r))
    assert splits == 1 and client.stats["splits"] == 1  # learned once, then planned to fit
    assert client.max_request_bytes and client.max_request_bytes < 4 * 2**20
    assert second_requests == 3 + 1  # 3 + 3 + 2 samples, then the huge one
    for s, a, b in zip(samples, first, second):
        assert a.ok and b.ok, (a.error, b.error)
        want = mean_classifier.logits(s["image"][None])[0]
        assert_logits(a.outputs["logits"], s["image"])
        assert_logits(b.outputs["logits"], s["image"])
        assert b.outputs["request_size"][0] <= 3
    (bad,) = alone
    assert bad.reason == "model_error", bad.error
    assert "over the server's message size limit" in bad.error and "4194304" in bad.error
    assert client.stats["retries"] == 0


def test_server_down_past_budget_gives_model_unavailable(restartable_triton_server):
    server = restartable_triton_server
    r = route(server, "http", max_retry_s=1.0, backoff_max_s=0.2)

    async def scenario():
        client = ModelClient(r)
        await client.start(SPEC)
        try:
            server.stop()
            return await client.infer(images(4))
        finally:
            await client.close()

    outcomes = asyncio.run(scenario())
    assert all(not o.ok and o.reason == "model_unavailable" for o in outcomes)
    assert "retry budget" in outcomes[0].error and server.http_url in outcomes[0].error


@pytest.mark.parametrize("labels", ["labels_file", "triton"])
def test_forward_replaces_pipeline_outcomes_in_order(triton_classifier_server, labels, tmp_path):
    """The worker's call: failed pipeline outcomes pass through, ok ones get the model's answer.
    Top-k labels come from the route's labels file (scores kept) or, without one, from Triton's
    classification extension (the classified output then holds Triton's strings)."""
    from dataclasses import dataclass, field

    @dataclass
    class Outcome:  # the shape of worker.stream.outcomes.Outcome
        ok: bool
        outputs: dict = field(default_factory=dict)
        labels: dict | None = None
        reason: str | None = None
        error: str | None = None

    samples = images(4)
    samples[2]["image"][0, 0, 0] = mean_classifier.REJECT_MARKER
    outcomes = [Outcome(True, s) for s in samples]
    outcomes.insert(1, Outcome(False, reason="decode_error", error="bad jpeg"))
    extra = {"labels_file": labels_file(tmp_path)} if labels == "labels_file" else {}
    r = route(triton_classifier_server, "grpc", outputs=["logits"], top_k=2, **extra)

    async def go():
        client = ModelClient(r)
        await client.start(SPEC)
        try:
            return await client.forward(outcomes), client.model_info
        finally:
            await client.close()

    got, info = asyncio.run(go())
    assert info == {"name": CLASSIFIER.name, "version": None}
    assert [(o.ok, o.reason) for o in got] == [(True, None), (False, "decode_error"),
                                               (True, None), (False, "model_error"),
                                               (True, None)]
    assert set(got[0].outputs) <= {"logits"} and len(got[0].labels["logits"]) == 2
    assert labels != "labels_file" or set(got[0].outputs) == {"logits"}
    want = mean_classifier.logits(samples[3]["image"][None])[0]
    top = got[4].labels["logits"]
    assert [(lab["index"], lab["label"]) for lab in top] == local_top(want, 2)
    assert top[0]["score"] == pytest.approx(float(want.max()), abs=2e-6)
    if labels == "labels_file":
        assert_logits(got[4].outputs["logits"], samples[3]["image"])
    assert all(a.dtype != np.object_ for o in got if o.ok for a in o.outputs.values())


@pytest.mark.parametrize("ragged, requests", [("pad", 1), ("per_sample", 3)])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_dali_backend_mode_sends_zero_padded_encoded_bytes(triton_classifier_server, protocol,
                                                           ragged, requests):
    from worker.inference.dali_backend import DaliBackendClient

    rng = np.random.default_rng(3)
    payloads = [bytes(rng.integers(1, 256, n, dtype=np.uint8)) for n in (10, 37, 10, 5)]
    r = ModelRoute.from_dict({"url": triton_classifier_server.url(protocol), "protocol": protocol,
                              "name": "encoded-stats", "mode": "dali_backend", "ragged": ragged,
                              "outputs": ["length", "checksum", "request_size"]})

    async def go():
        client = DaliBackendClient(r)
        await client.start(["jpeg"])  # the only encoded field feeds the only model input
        try:
            return await client.infer([{"jpeg": p} for p in payloads]), client.client.stats
        finally:
            await client.close()

    outcomes, stats = asyncio.run(go())
    assert stats["requests"] == requests
    for p, o in zip(payloads, outcomes):
        assert o.ok, o.error
        want = encoded_stats.stats(np.frombuffer(p, np.uint8)[None])
        assert o.outputs["length"][0] == len(p)  # the zero padding is invisible to the model
        assert o.outputs["checksum"][0] == want["checksum"][0, 0]
        assert o.outputs["request_size"][0] == (4 if ragged == "pad" else
                                                (2 if len(p) == 10 else 1))


def test_dali_backend_mode_rejects_non_uint8_model(triton_classifier_server):
    from worker.inference.dali_backend import DaliBackendClient

    r = ModelRoute.from_dict({"url": triton_classifier_server.grpc_url, "name": CLASSIFIER.name,
                              "mode": "dali_backend"})

    async def go():
        client = DaliBackendClient(r)
        try:
            await client.start(["encoded"])
        finally:
            await client.close()

    with pytest.raises(ModelFitError, match="UINT8 inputs with dims"):
        asyncio.run(go())


def test_close_during_retries_ends_the_waiting_batch(restartable_triton_server):
    """Found in review: close() at shutdown while a batch waited for a stopped server made
    infer retry forever ('NoneType' object has no attribute 'infer', taken for 'server down')."""
    server = restartable_triton_server

    async def go():
        client = ModelClient(route(server, "grpc", max_retry_s=0, backoff_max_s=0.2))
        await client.start(SPEC)
        server.stop()
        task = asyncio.create_task(client.infer(images(3)))
        await asyncio.sleep(1.0)  # retrying against the stopped server
        await client.close()
        return await asyncio.wait_for(task, 10)

    outcomes = asyncio.run(go())
    assert [o.reason for o in outcomes] == ["model_unavailable"] * 3
    assert all("closed" in o.error for o in outcomes)
