"""The repository's pipelines in Triton's own DALI backend (libtriton_dali.so built from source
by deploy/dali_backend/build.sh, in the pytriton tritonserver 2.51, CPU instances) against the
worker running the same files: the same outputs for the same inputs, and the same derived model
configuration. See tests/dali_backend_server.py.

Inputs: real photographs (tests/photos.py: JPEG and PNG, longest side 96/200/360), VP8/VP9 clips
and WAV/FLAC/Vorbis audio made on the spot (tests/media.py), raw bytes and crop windows.
Two ways of sending a batch, each compared with the worker's matching feed:
- padded: one request per batch, encoded inputs zero-padded to the longest ([N, L] UINT8, as
  Triton clients send encoded media) <-> the worker's ``feed = "padded"``;
- ragged: one request per sample ([1, L], nothing padded) <-> the worker's ``feed = "ragged"``.
Tolerance: none. Both run the same libdali.so (the worker's DALI wheel, 2.4.0) on the CPU, so
outputs are compared bit for bit (np.array_equal).

What the backend does with a batch whose outputs differ in shape (audio of different lengths),
measured here and read in its source (dali_executor/utils/utils.h ``array_shape``): the response
tensor is declared [N, <shape of the largest sample>], but the samples are written into it back
to back at their own sizes, zeros after the last one. Rows of "sample 0" past its own length
hold sample 1's data: a client cannot split such an answer. The test asserts exactly that
layout; the worker's dali_backend mode therefore sends one sample per request to a model whose
output dims are not all fixed (worker/inference/dali_backend.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests import media
from tests.dali_backend_server import PIPELINES, dali_backend_or_skip, running_dali_triton
from tests.photos import photo_bytes

tritonclient_grpc = pytest.importorskip("tritonclient.grpc")

NAMES = sorted(p.name for p in PIPELINES.iterdir() if (p / "config.pbtxt").is_file())


def samples_for(name: str) -> list[dict]:
    """Inputs that exercise ``name``: several sizes, formats and lengths per batch."""
    if name in ("classify", "classify_reduce"):
        photos = photo_bytes(photos=("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                                     "camera.png"), sizes=(96, 200, 360))
        return [{"image": b} for b in photos]
    if name == "crop_window":
        photos = photo_bytes(photos=("astronaut.png", "chelsea.png", "coffee.png"), formats=("jpeg",))
        windows = [[0.0, 0.0, 1.0, 1.0], [0.25, 0.25, 0.5, 0.5], [0.1, 0.5, 0.4, 0.3]]
        return [{"image": b, "window": np.array(windows[i % 3], np.float32)} for i, b in enumerate(photos)]
    if name == "identity":
        rng = np.random.default_rng(3)
        return [{"data": rng.integers(0, 256, n, dtype=np.uint8).tobytes()} for n in (1, 17, 4096, 999)]
    if name == "video_frames":
        return [{"video": media.clip(12, (64, 48))},
                {"video": media.clip(20, (32, 32), seed=1)},
                {"video": media.clip(16, (80, 64), codec="libvpx", container="webm", seed=2)}]
    if name == "audio_melspec":
        return [{"audio": media.encoded_audio("wav", 1.0)},
                {"audio": media.encoded_audio("flac", 2.0)},
                {"audio": media.encoded_audio("ogg", 1.5)}]
    raise AssertionError(f"pipelines/{name} has no test inputs here: add them to samples_for")


@pytest.fixture(scope="module")
def dali_triton():
    build = dali_backend_or_skip()
    with running_dali_triton(NAMES, build=build) as server:
        yield server


@pytest.fixture(scope="module")
def worker_models():
    from worker.repository.load import load_model

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_model(PIPELINES, name, device="cpu", num_threads=2)
        return cache[name]
    return get


def as_array(value) -> np.ndarray:
    return np.frombuffer(value, np.uint8) if isinstance(value, bytes) else np.asarray(value)


def triton_infer(server, model: str, samples: list[dict], outputs: list[str]) -> dict[str, np.ndarray]:
    """One request holding ``samples``: 1-D inputs zero-padded to the longest, others stacked."""
    client = tritonclient_grpc.InferenceServerClient(server.grpc_url)
    inputs = []
    for name in samples[0]:
        arrays = [as_array(s[name]) for s in samples]
        if arrays[0].ndim == 1 and len({a.shape for a in arrays}) > 1:
            batch = np.zeros((len(arrays), max(len(a) for a in arrays)), arrays[0].dtype)
            for i, a in enumerate(arrays):
                batch[i, :len(a)] = a
        else:
            batch = np.stack(arrays)
        tensor = tritonclient_grpc.InferInput(name, list(batch.shape),
                                              tritonclient_grpc.np_to_triton_dtype(batch.dtype))
        tensor.set_data_from_numpy(batch)
        inputs.append(tensor)
    result = client.infer(model, inputs, outputs=[tritonclient_grpc.InferRequestedOutput(o) for o in outputs])
    return {o: result.as_numpy(o) for o in outputs}


def worker_outputs(model, samples: list[dict], feed: str) -> list[dict[str, np.ndarray]]:
    from worker.pipeline.runner import PipelineRunner

    runner = PipelineRunner(model, feed=feed)
    try:
        results = runner.run(samples)
    finally:
        runner.close()
    bad = [r for r in results if not r.ok]
    assert not bad, f"the worker failed on test inputs: {[r.error for r in bad]}"
    return [r.outputs for r in results]


def assert_same(mine: np.ndarray, theirs_row: np.ndarray, what: str) -> None:
    """``theirs_row``: one sample of Triton's batch, padded by the backend to the batch's largest
    shape when shapes differ; the sample's region must equal ``mine`` and the rest be zeros."""
    assert mine.dtype == theirs_row.dtype, f"{what}: dtype {mine.dtype} here, {theirs_row.dtype} in Triton"
    assert mine.ndim == theirs_row.ndim, f"{what}: shape {mine.shape} here, {theirs_row.shape} in Triton"
    assert all(a <= b for a, b in zip(mine.shape, theirs_row.shape)), \
        f"{what}: shape {mine.shape} here, {theirs_row.shape} in Triton"
    region = tuple(slice(0, n) for n in mine.shape)
    same = np.array_equal(theirs_row[region], mine)
    if not same:
        diff = np.abs(theirs_row[region].astype(np.float64) - mine.astype(np.float64))
        pytest.fail(f"{what}: outputs differ: max |diff| {diff.max():g}, {np.count_nonzero(diff)} of "
                    f"{diff.size} elements")
    rest = theirs_row.copy()
    rest[region] = 0
    assert not rest.any(), f"{what}: Triton padded the sample with non-zero values"


@pytest.mark.parametrize("name", NAMES)
def test_triton_dali_backend_gives_the_workers_outputs(dali_triton, worker_models, name):
    model = worker_models(name)
    samples = samples_for(name)
    outputs = model.output_names
    assert len(samples) <= model.max_batch_size
    # padded: one request for the batch <-> the worker's padded feed
    mine_padded = worker_outputs(model, samples, "padded")
    theirs = triton_infer(dali_triton, name, samples, outputs)
    for o in outputs:
        assert theirs[o].shape[0] == len(samples)
        if len({m[o].shape for m in mine_padded}) == 1:
            for i, mine in enumerate(mine_padded):
                assert_same(mine[o], theirs[o][i], f"{name} padded batch, sample {i}, output {o}")
        else:  # shapes differ: the samples back to back in a [N, largest] tensor, zeros after
            largest = max(mine_padded, key=lambda m: m[o].size)[o]
            assert theirs[o].shape == (len(samples), *largest.shape), f"{name} {o}"
            packed = np.concatenate([m[o].reshape(-1) for m in mine_padded])
            flat = theirs[o].reshape(-1)
            assert np.array_equal(flat[:packed.size], packed), f"{name} {o}: not the samples back to back"
            assert not flat[packed.size:].any(), f"{name} {o}: non-zero after the last sample"
    # ragged: a request per sample <-> the worker's ragged feed (its default)
    mine_ragged = worker_outputs(model, samples, "ragged")
    for i, sample in enumerate(samples):
        alone = triton_infer(dali_triton, name, [sample], outputs)
        for o in outputs:
            assert alone[o].shape == (1, *mine_ragged[i][o].shape), f"{name} sample {i} {o}"
            assert_same(mine_ragged[i][o], alone[o][0], f"{name} sample {i} alone, output {o}")
    if name != "identity":  # decoders ignore the padding; the identity returns it
        for i in range(len(samples)):
            for o in outputs:
                assert np.array_equal(mine_padded[i][o], mine_ragged[i][o]), f"{name} {i} {o}: feeds differ"


def triton_tensors(config: dict, key: str) -> list[tuple]:
    return [(t["name"], t["data_type"], [int(d) for d in t.get("dims", [])]) for t in config.get(key, [])]


def worker_tensors(config, key: str) -> list[tuple]:
    from worker.repository.model_config import type_name

    return [(t.name, type_name(t.data_type), list(t.dims)) for t in getattr(config, key)]


@pytest.mark.parametrize("name", NAMES)
def test_the_backend_and_the_worker_derive_the_same_model_config(dali_triton, worker_models, name):
    """``GET v2/models/<m>/config`` (Triton + the backend's autoconfig) and the worker's own
    completion of the same config.pbtxt and pipeline agree on tensor names, types, dims and
    max_batch_size."""
    theirs = dali_triton.model_config(name)
    mine = worker_models(name).config
    assert theirs["max_batch_size"] == mine.max_batch_size, name
    assert triton_tensors(theirs, "input") == worker_tensors(mine, "input"), name
    assert triton_tensors(theirs, "output") == worker_tensors(mine, "output"), name
