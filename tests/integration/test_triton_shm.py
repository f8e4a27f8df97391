"""The shared-memory hand-off (worker/inference/shm.py) against a real Triton: outcomes equal
sample for sample with and without it, end to end through Kafka; regions registered again
after a server restart and gone from the server and /dev/shm after close; the wire when the
server is not on this host or lacks the extension."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request

import numpy as np

from tests.integration.test_stream_inference import stream_through
from tests.triton_server import (CLASSIFIER, SERVERS_DIR, restartable_triton_server,  # noqa: F401
                                 triton_classifier_server)
from tests.worker_harness import corrupt_jpeg, small_jpegs
from worker.inference import ModelClient, ModelRoute

sys.path.insert(0, str(SERVERS_DIR))
import mean_classifier  # noqa: E402

SPEC = {"image": (np.float32, 3)}


def _route(server, mode, **kw):
    return ModelRoute.from_dict({"url": server.grpc_url, "name": CLASSIFIER.name, "outputs": ["logits"],
                                 "shared_memory": mode, "timeout_s": 10, "startup_timeout_s": 60,
                                 "backoff_initial_s": 0.1, "backoff_max_s": 0.5, **kw})


def _samples(n=40):
    rng = np.random.default_rng(7)
    return [{"image": rng.standard_normal((3, 224, 224), dtype=np.float32)} for _ in range(n)]


def _server_regions(server) -> list:
    with urllib.request.urlopen(f"http://{server.http_url}/v2/systemsharedmemory/status", timeout=5) as r:
        return json.loads(r.read())


def _our_shm_files() -> list[str]:
    return [f for f in os.listdir("/dev/shm") if f.startswith(f"dsw-{os.getpid()}-")]


def test_client_outputs_equal_with_and_without_shared_memory(triton_classifier_server):
    samples = _samples()

    async def go(mode):
        client = ModelClient(_route(triton_classifier_server, mode))
        await client.start(SPEC)
        try:
            return client.handoff, await client.infer(samples)
        finally:
            await client.close()

    wire_how, wire = asyncio.run(go("off"))
    shm_how, shm = asyncio.run(go("auto"))
    assert wire_how.startswith("wire") and shm_how == "system shared memory"
    for s, a, b in zip(samples, wire, shm):
        assert a.ok and b.ok, (a.error, b.error)
        np.testing.assert_array_equal(a.outputs["logits"], b.outputs["logits"])
        np.testing.assert_allclose(b.outputs["logits"], mean_classifier.logits(s["image"][None])[0],
                                   rtol=1e-5, atol=1e-5)
    assert _our_shm_files() == [], "regions left in /dev/shm after close"


def test_regions_are_registered_again_after_a_restart_and_removed_at_close(restartable_triton_server):
    server = restartable_triton_server
    samples = _samples(16)

    async def go():
        client = ModelClient(_route(server, "auto"))
        await client.start(SPEC)
        try:
            first = await client.infer(samples)
            registered = [r["name"] for r in _server_regions(server)]
            server.restart()  # the new server knows no region
            assert _server_regions(server) == []
            second = await client.infer(samples)
            return first, second, registered, client._transport.shm.registrations
        finally:
            await client.close()

    first, second, registered, registrations = asyncio.run(go())
    assert all(o.ok for o in first + second), [o.error for o in second if not o.ok][:2]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.outputs["logits"], b.outputs["logits"])
    assert registered and all(n.startswith(f"dsw-{os.getpid()}-") for n in registered)
    assert registrations == 2 * len(registered)
    assert _server_regions(server) == [] and _our_shm_files() == []


def test_the_wire_when_the_server_is_not_here_or_lacks_the_extension(triton_classifier_server):
    from worker.inference.transport import Transport

    async def go():
        t = Transport("grpc", triton_classifier_server.grpc_url, 10)
        try:
            return (await t.start_shared_memory("auto", "triton.example:8001", ("system_shared_memory",)),
                    await t.start_shared_memory("system", triton_classifier_server.grpc_url, ("binary_tensor_data",)),
                    t.shm)
        finally:
            await t.close()

    remote, lacking, pool = asyncio.run(go())
    assert remote.startswith("wire: triton.example:8001 is not this host")
    assert lacking.startswith("wire: the server does not offer system_shared_memory")
    assert pool is None


def test_outcomes_through_kafka_are_equal_with_and_without_shared_memory(
        kafka_bootstrap, triton_classifier_server, tmp_path):
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(20, seed=5))}
    items = [*photos.items(), ("corrupt", corrupt_jpeg(3))]
    seen = {}
    for mode in ("off", "auto"):
        (tmp_path / mode).mkdir()
        seen[mode] = stream_through(kafka_bootstrap, triton_classifier_server, items, tmp_path / mode,
                                    shared_memory=mode)
    off, on = seen["off"], seen["auto"]
    assert set(off.results) == set(on.results) == set(photos)
    assert set(off.dead) == set(on.dead) == {"corrupt"}
    for key in photos:
        (a,), (b,) = off.results[key], on.results[key]
        # no labels file: Triton's classification extension answers the top 3 for "logits",
        # which then travel as labels (its "score:index:label" strings are not an output)
        assert "logits" not in a.outputs and "logits" not in b.outputs
        assert a.labels == b.labels and len(a.labels["logits"]) == 3, key
    assert [d.reason for d in off.dead["corrupt"]] == [d.reason for d in on.dead["corrupt"]] == ["decode_error"]
