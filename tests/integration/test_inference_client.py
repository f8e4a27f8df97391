"""The model client against a real KServe-V2 server (MLServer in its own venv, see
tests/inference_server.py), over gRPC and HTTP. Predictions are checked against the same model
run locally (tests/servers/mean_classifier.py)."""
from __future__ import annotations

import asyncio
import sys
import time

import numpy as np
import pytest

from tests.inference_server import SERVERS_DIR, classifier_server, mlserver_venv  # noqa: F401
from tests.inference_server import restartable_classifier_server  # noqa: F401
from worker.inference import ModelClient, ModelFitError, ModelRoute, ModelUnavailableError

sys.path.insert(0, str(SERVERS_DIR))
import mean_classifier  # noqa: E402

PROTOCOLS = ["grpc", "http"]
SPEC = {"image": (np.float32, 3)}


def route(server, protocol, **kw) -> ModelRoute:
    table = {"url": server.url(protocol), "protocol": protocol, "name": "mean-classifier",
             "outputs": ["logits", "request_size"], "timeout_s": 10, "startup_timeout_s": 30}
    table.update(kw)
    return ModelRoute.from_dict(table, where="test.model")


def images(n, seed=0, hw=(8, 8)):
    rng = np.random.default_rng(seed)
    return [{"image": rng.random((3, *hw), dtype=np.float32) * (k + 1)} for k in range(n)]


async def run(r: ModelRoute, samples, spec=SPEC):
    client = ModelClient(r)
    try:
        await client.start(spec)
        return await client.infer(samples), client.stats
    finally:
        await client.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_predictions_match_local_model_and_respect_max_batch_size(classifier_server, protocol,
                                                                  tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(mean_classifier.LABELS) + "\n")
    r = route(classifier_server, protocol, max_batch_size=4, top_k=3,
              classify_output="logits", labels_file=str(labels))
    samples = images(10)
    outcomes, stats = asyncio.run(run(r, samples))
    assert stats["requests"] == 3  # 4 + 4 + 2
    for s, o in zip(samples, outcomes):
        assert o.ok, o.error
        want = mean_classifier.logits(s["image"][None])[0]
        np.testing.assert_allclose(o.outputs["logits"], want, rtol=1e-6, atol=1e-6)
        assert o.outputs["request_size"][0] <= 4
        local = mean_classifier.top_k(want, 3)
        assert [(lab["index"], lab["label"]) for lab in o.labels] == \
               [(i, mean_classifier.LABELS[i]) for i, _ in local]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rejected_sample_is_found_by_splitting(classifier_server, protocol):
    samples = images(5)
    samples[3]["image"][0, 0, 0] = mean_classifier.REJECT_MARKER
    outcomes, stats = asyncio.run(run(route(classifier_server, protocol), samples))
    assert [o.ok for o in outcomes] == [True, True, True, False, True]
    bad = outcomes[3]
    assert bad.reason == "model_error" and "mean-classifier" in bad.error
    assert "invalid" in bad.error
    assert stats["splits"] == 1


def test_ragged_per_sample_and_padded(classifier_server):
    samples = images(2, hw=(4, 4)) + images(2, seed=1, hw=(6, 4)) + images(1, seed=2, hw=(4, 5))
    outcomes, stats = asyncio.run(run(route(classifier_server, "grpc"), samples))
    assert stats["requests"] == 3  # one request per distinct shape
    for s, o in zip(samples, outcomes):
        np.testing.assert_allclose(o.outputs["logits"],
                                   mean_classifier.logits(s["image"][None])[0], rtol=1e-6)
        assert o.outputs["request_size"][0] == (2 if s["image"].shape != (3, 4, 5) else 1)

    outcomes, stats = asyncio.run(run(route(classifier_server, "grpc", ragged="pad"), samples))
    assert stats["requests"] == 1
    padded = np.zeros((len(samples), 3, 6, 5), np.float32)
    for k, s in enumerate(samples):
        _, h, w = s["image"].shape
        padded[k, :, :h, :w] = s["image"]
    want = mean_classifier.logits(padded)
    for k, o in enumerate(outcomes):
        np.testing.assert_allclose(o.outputs["logits"], want[k], rtol=1e-6)


def test_fit_errors_at_start_name_model_and_url(classifier_server):
    r = route(classifier_server, "grpc")
    with pytest.raises(ModelFitError) as e:
        asyncio.run(run(r, [], spec={"image": (np.uint8, 3)}))
    assert "mean-classifier" in str(e.value) and r.url in str(e.value)
    assert "uint8" in str(e.value) and "FP32" in str(e.value)
    with pytest.raises(ModelFitError, match="no output 'probs'"):
        asyncio.run(run(route(classifier_server, "grpc", outputs=["probs"]), []))


def test_unknown_model_or_down_server_fails_start_clearly(classifier_server):
    r = route(classifier_server, "grpc", name="no-such-model", startup_timeout_s=1)
    with pytest.raises(ModelUnavailableError, match="no-such-model.*not (ready|found)"):
        asyncio.run(run(r, []))
    r = ModelRoute.from_dict({"url": "127.0.0.1:9", "name": "m", "startup_timeout_s": 1})
    with pytest.raises(ModelUnavailableError, match="127.0.0.1:9"):
        asyncio.run(run(r, []))


def test_timeout_is_retried_then_unavailable(classifier_server):
    samples = images(2)
    samples[0]["image"][0, 0, 0] = mean_classifier.SLOW_MARKER  # server sleeps 3 s
    r = route(classifier_server, "grpc", timeout_s=0.5, max_retry_s=1.2, backoff_max_s=0.3)
    t0 = time.monotonic()
    outcomes, stats = asyncio.run(run(r, samples))
    assert time.monotonic() - t0 < 6
    assert all(o.reason == "model_unavailable" for o in outcomes)
    assert "timed out" in outcomes[0].error and stats["retries"] >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_restart_mid_stream_recovers_without_losing_samples(
        restartable_classifier_server, protocol):
    server = restartable_classifier_server
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
            await asyncio.sleep(2.0)
            assert not task.done()  # waiting for the server, not failing the batch
            retries_while_down = client.stats["retries"]
            assert 1 <= retries_while_down <= 40  # backoff, not a busy loop
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
        np.testing.assert_allclose(o.outputs["logits"],
                                   mean_classifier.logits(s["image"][None])[0], rtol=1e-6)


def test_batch_over_the_servers_message_limit_is_split_by_bytes(classifier_server):
    # MLServer's gRPC limit is 4 MiB: 8 samples of 1.08 MB do not fit in one request. The
    # server's "message larger than max" is RESOURCE_EXHAUSTED, which must not be retried
    # forever as if the server were busy; the client learns the limit and splits.
    r = route(classifier_server, "grpc", max_retry_s=5)
    samples = images(8, hw=(300, 300))
    huge = images(1, seed=5, hw=(1200, 1200))  # 17 MB: no split can help

    async def go():
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

    first, second, alone, splits, second_requests, client = asyncio.run(go())
    assert splits == 1 and client.stats["splits"] == 1  # learned once, then planned to fit
    assert client.max_request_bytes and client.max_request_bytes < 4 * 2**20
    assert second_requests == 3 + 1  # 3 + 3 + 2 samples, then the huge one
    for s, a, b in zip(samples, first, second):
        assert a.ok and b.ok, (a.error, b.error)
        want = mean_classifier.logits(s["image"][None])[0]
        np.testing.assert_allclose(a.outputs["logits"], want, rtol=1e-6)
        np.testing.assert_allclose(b.outputs["logits"], want, rtol=1e-6)
        assert b.outputs["request_size"][0] <= 3
    (bad,) = alone
    assert bad.reason == "model_error" and "grpc_max_message_length" in bad.error
    assert client.stats["retries"] == 0


def test_server_down_past_budget_gives_model_unavailable(restartable_classifier_server):
    server = restartable_classifier_server
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


def test_forward_replaces_pipeline_outcomes_in_order(classifier_server):
    """The worker's call: failed pipeline outcomes pass through, ok ones get the model's answer."""
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
    r = route(classifier_server, "grpc", outputs=["logits"], top_k=2)

    async def go():
        client = ModelClient(r)
        await client.start(SPEC)
        try:
            return await client.forward(outcomes), client.model_info
        finally:
            await client.close()

    got, info = asyncio.run(go())
    assert info == {"name": "mean-classifier", "version": None}
    assert [(o.ok, o.reason) for o in got] == [(True, None), (False, "decode_error"),
                                               (True, None), (False, "model_error"),
                                               (True, None)]
    assert set(got[0].outputs) == {"logits"} and len(got[0].labels["logits"]) == 2
    want = mean_classifier.logits(samples[3]["image"][None])[0]
    np.testing.assert_allclose(got[4].outputs["logits"], want, rtol=1e-6)
    assert got[4].labels["logits"][0]["index"] == int(np.argmax(want))


@pytest.mark.parametrize("ragged, requests", [("pad", 1), ("per_sample", 3)])
def test_dali_backend_mode_sends_zero_padded_encoded_bytes(classifier_server, ragged, requests):
    from worker.inference.dali_backend import DaliBackendClient

    sys.path.insert(0, str(SERVERS_DIR))
    import encoded_stats

    rng = np.random.default_rng(3)
    payloads = [bytes(rng.integers(1, 256, n, dtype=np.uint8)) for n in (10, 37, 10, 5)]
    r = ModelRoute.from_dict({"url": classifier_server.grpc_url, "name": "encoded-stats",
                              "mode": "dali_backend", "ragged": ragged,
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


def test_dali_backend_mode_rejects_non_uint8_model(classifier_server):
    from worker.inference.dali_backend import DaliBackendClient

    r = ModelRoute.from_dict({"url": classifier_server.grpc_url, "name": "mean-classifier",
                              "mode": "dali_backend"})

    async def go():
        client = DaliBackendClient(r)
        try:
            await client.start(["encoded"])
        finally:
            await client.close()

    with pytest.raises(ModelFitError, match="UINT8 inputs with dims"):
        asyncio.run(go())
