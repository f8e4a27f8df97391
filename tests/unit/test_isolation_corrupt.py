"""Issue 21 on the isolated runner: a heavy mix of corrupt JPEGs that pass the signature screen
(tests/corrupt_images.py), the kind that crashes DALI 2.4's CPU decoder in-process, mixed with
good photos. Every good image gets the in-process runner's output for it, bit for bit; corrupt
ones fail with what DALI printed on the console, or decode (libjpeg-turbo is lenient with
damaged entropy data); nothing escapes, and the runner's process survives."""
from pathlib import Path

import numpy as np

from tests import corrupt_images, photos
from worker.pipeline import suspect
from worker.pipeline.isolation import IsolatedRunner
from worker.pipeline.runner import PipelineRunner
from worker.repository.load import load_model

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def test_corrupt_images_pass_the_screen_and_are_deterministic():
    made = corrupt_images.corrupt_set(60, seed=3)
    assert made == corrupt_images.corrupt_set(60, seed=3)
    assert {label.split("-")[0] for label, _ in made} == set(corrupt_images.KINDS)
    for label, data in made:
        arr = np.frombuffer(data, np.uint8)
        assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9"), label
        assert not suspect.suspicious(arr), label


def test_heavy_corrupt_mix(caplog):
    model = load_model(PIPELINES, "classify", device="cpu", num_threads=2, max_batch_size=32)
    items = corrupt_images.mixed(100, 30, seed=0)      # 5 batches of 32 (the last 2)
    good = [i for i, (label, _) in enumerate(items) if label.startswith("good")]
    reference = PipelineRunner(load_model(PIPELINES, "classify", device="cpu", num_threads=2,
                                          max_batch_size=32)).run([{"image": items[i][1]} for i in good])
    runner = IsolatedRunner(model)
    try:
        results = runner.run([{"image": data} for _, data in items])
        assert [r.index for r in results] == list(range(len(items)))
        for i, ref in zip(good, reference):
            assert results[i].ok, results[i].error
            np.testing.assert_array_equal(results[i].outputs["DALI_OUTPUT_0"], ref.outputs["DALI_OUTPUT_0"])
        failed = {items[r.index][0]: r.error for r in results if not r.ok}
        assert len(failed) >= 50
        for label, error in failed.items():
            assert not label.startswith("good")
            assert not error.rstrip().endswith(":"), error          # never an empty reason
        printed = [e for e in failed.values() if "Bogus" in e or "jpeg_parser" in e or
                   "Corrupt JPEG" in e or "Unsupported marker" in e or "JPEG library" in e]
        assert len(printed) >= len(failed) // 2, list(failed.values())[:10]
        assert any("Bogus Huffman table definition" in e for e in failed.values())
        for r in results:
            if r.ok:
                assert r.outputs["DALI_OUTPUT_0"].shape == (3, 224, 224)
        # still usable afterwards: the good photos alone
        again = runner.run([{"image": b} for b in photos.jpeg_bytes(4)])
        assert all(r.ok for r in again)
    finally:
        runner.close()
