"""The GPU forms of the example pipelines (decoders with device="mixed"). Skipped without a
GPU; run on the device machine. Not yet run on one at the time of writing."""
from pathlib import Path

import numpy as np
import pytest

from tests import photos

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _gpu_count() -> int:
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        return GetCUDADeviceCount()
    except Exception:
        return 0


pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(_gpu_count() == 0, reason="needs an NVIDIA GPU")]


def test_classify_gpu_matches_cpu_closely():
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    gpu = load_model(PIPELINES, "classify", device=0, max_batch_size=32)
    assert gpu.info.needs_gpu            # DALI_DEVICE=gpu chose the mixed decoder
    cpu = load_model(PIPELINES, "classify", device="cpu", max_batch_size=32)
    images = [{"image": b} for b in photos.photo_bytes(24)]
    for a, b in zip(PipelineRunner(gpu).run(images), PipelineRunner(cpu).run(images)):
        assert a.ok and b.ok
        x, y = a.outputs["DALI_OUTPUT_0"], b.outputs["DALI_OUTPUT_0"]
        assert x.shape == y.shape == (3, 224, 224) and x.dtype == np.float32
        assert np.abs(x - y).mean() < 0.05        # nvJPEG and libjpeg-turbo differ slightly


def test_gpu_corrupt_samples_and_padded_feed():
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    model = load_model(PIPELINES, "classify_reduce", device=0, max_batch_size=32)
    images = photos.jpeg_bytes(32)
    bad_at = {3: photos.truncated_jpeg(), 17: photos.random_bytes(), 30: photos.truncated_jpeg()}
    batch = [{"image": bad_at.get(i, b)} for i, b in enumerate(images)]
    results = PipelineRunner(model, feed="padded").run(batch)
    assert sum(r.ok for r in results) == 29
    assert {r.index for r in results if not r.ok} == set(bad_at)
    ragged = PipelineRunner(model).run([{"image": b} for b in images])
    padded = PipelineRunner(model, feed="padded").run([{"image": b} for b in images])
    for a, b in zip(ragged, padded):
        np.testing.assert_array_equal(a.outputs["channel_mean"], b.outputs["channel_mean"])


def test_isolated_runner_on_the_gpu_matches_in_process():
    """The child builds the pipeline on the GPU itself (a fresh interpreter, not a fork of this
    CUDA process) and copies GPU outputs to shared memory: the same outputs, bit for bit."""
    from worker.pipeline.isolation import IsolatedRunner
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    images = [{"image": b} for b in photos.photo_bytes(40)]
    for name, out in (("classify", "DALI_OUTPUT_0"), ("classify_reduce", "channel_mean")):
        reference = PipelineRunner(load_model(PIPELINES, name, device=0, max_batch_size=16)).run(images)
        runner = IsolatedRunner(load_model(PIPELINES, name, device=0, max_batch_size=16), spare=False)
        try:
            for a, b in zip(runner.run(images), reference):
                assert a.ok and b.ok
                np.testing.assert_array_equal(a.outputs[out], b.outputs[out])
        finally:
            runner.close()
