"""The runner on real photographs: ragged vs padded feeds, variable batch sizes, splitting,
corrupt samples isolated by bisection, output casts, sample validation."""
from pathlib import Path

import numpy as np
import pytest

from tests import photos
from worker.pipeline import feeds
from worker.pipeline.runner import PipelineRunner, dali_message
from worker.repository.load import load_model

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


@pytest.fixture(scope="module")
def classify():
    return load_model(PIPELINES, "classify", device="cpu", num_threads=2, max_batch_size=32)


def samples(images):
    return [{"image": b} for b in images]


def outputs_of(results, name="DALI_OUTPUT_0"):
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return [r.outputs[name] for r in results]


def test_padded_and_ragged_give_identical_outputs(classify):
    images = photos.photo_bytes(20)        # JPEG and PNG, three sizes: lengths all differ
    ragged = outputs_of(PipelineRunner(classify, feed="ragged").run(samples(images)))
    padded = outputs_of(PipelineRunner(classify, feed="padded").run(samples(images)))
    for a, b in zip(ragged, padded):
        np.testing.assert_array_equal(a, b)


def test_padded_feed_is_one_zero_padded_array():
    arrays = [np.frombuffer(b, np.uint8) for b in (b"abc", b"a", b"abcdef")]
    feed = feeds.padded("image", arrays)
    assert feed.data.shape == (3, 6) and feed.data.dtype == np.uint8
    assert feed.lengths.tolist() == [3, 1, 6]
    assert bytes(feed.data[1]) == b"a" + b"\0" * 5
    same = feeds.padded("window", [np.zeros(4, np.float32)] * 3)
    assert same.data.shape == (3, 4)


def test_two_inputs_padded_equals_ragged():
    model = load_model(PIPELINES, "crop_window", num_threads=2)
    images = photos.jpeg_bytes(10)
    windows = [np.array([0.1 * (i % 4), 0.05 * i, 0.5, 0.4], np.float32) for i in range(10)]
    batch = [{"image": b, "window": w} for b, w in zip(images, windows)]
    a = outputs_of(PipelineRunner(model, feed="ragged").run(batch), "crop")
    b = outputs_of(PipelineRunner(model, feed="padded").run(batch), "crop")
    for x, y in zip(a, b):
        assert x.shape == (224, 224, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, y)


def test_32_with_3_corrupt_gives_29_results_and_3_errors(classify):
    images = photos.jpeg_bytes(32)
    bad_at = {3: photos.truncated_jpeg(), 17: photos.random_bytes(), 30: photos.truncated_jpeg()}
    batch = samples([bad_at.get(i, b) for i, b in enumerate(images)])
    runner = PipelineRunner(classify)
    results = runner.run(batch)
    assert len(results) == 32
    assert sum(r.ok for r in results) == 29
    errors = {r.index: r.error for r in results if not r.ok}
    assert set(errors) == set(bad_at)
    for i, err in errors.items():
        assert err.startswith(f"sample {i}: pipeline 'classify' failed on input 'image': ")
        assert "decoders.image" in err
    # the good ones are what a clean batch gives, and the runner goes on working
    clean = outputs_of(runner.run(samples(images)))
    for r in results:
        if r.ok:
            np.testing.assert_array_equal(r.outputs["DALI_OUTPUT_0"], clean[r.index])
    assert runner.failures >= 3


def test_whole_batch_corrupt(classify):
    results = PipelineRunner(classify).run(samples([photos.random_bytes(seed=i) for i in range(4)]))
    assert [r.ok for r in results] == [False] * 4


@pytest.mark.parametrize("feed", ["ragged", "padded"])
def test_variable_batch_sizes(classify, feed):
    runner = PipelineRunner(classify, feed=feed)
    corpus = photos.jpeg_bytes(32)
    reference = outputs_of(runner.run(samples(corpus)))
    for n in (8, 3, 32, 1, 17):
        got = outputs_of(runner.run(samples(corpus[:n])))
        assert len(got) == n
        for a, b in zip(got, reference):
            np.testing.assert_array_equal(a, b)


def test_larger_batch_is_split(classify):
    runner = PipelineRunner(classify)
    corpus = photos.jpeg_bytes(75)          # 32 + 32 + 11
    results = runner.run(samples(corpus))
    assert [r.index for r in results] == list(range(75))
    got = outputs_of(results)
    for i in (0, 31, 32, 64, 74):
        (single,) = outputs_of(runner.run(samples([corpus[i]])))
        np.testing.assert_array_equal(got[i], single)


def test_empty_run(classify):
    assert PipelineRunner(classify).run([]) == []


def test_ragged_outputs_and_identity():
    model = load_model(PIPELINES, "identity")
    data = [b"x" * n for n in (1, 5, 300, 2)] + [photos.truncated_jpeg()]
    results = PipelineRunner(model).run([{"data": d} for d in data])
    for r, d in zip(results, data):
        assert r.ok and r.outputs["data_out"].dtype == np.uint8
        assert r.outputs["data_out"].tobytes() == d


def test_outputs_do_not_change_when_the_pipeline_runs_again():
    model = load_model(PIPELINES, "identity")
    runner = PipelineRunner(model)
    first = runner.run([{"data": b"aaaa"}, {"data": b"bbbb"}])
    runner.run([{"data": b"cccc"}, {"data": b"dddd"}])
    assert [r.outputs["data_out"].tobytes() for r in first] == [b"aaaa", b"bbbb"]


def test_classify_reduce_outputs_are_tiny(classify):
    model = load_model(PIPELINES, "classify_reduce", num_threads=2)
    images = photos.jpeg_bytes(4)
    means = outputs_of(PipelineRunner(model).run(samples(images)), "channel_mean")
    full = outputs_of(PipelineRunner(classify).run(samples(images)))
    for m, f in zip(means, full):
        assert m.shape == (3,) and m.dtype == np.float32
        np.testing.assert_allclose(m, f.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)


def test_output_cast(classify):
    images = photos.jpeg_bytes(3)
    plain = outputs_of(PipelineRunner(classify).run(samples(images)))
    half = outputs_of(PipelineRunner(classify, output_cast="float16").run(samples(images)))
    for p, h in zip(plain, half):
        assert h.dtype == np.float16
        np.testing.assert_allclose(h.astype(np.float32), p, rtol=1e-3, atol=1e-3)
    crop = load_model(PIPELINES, "crop_window", num_threads=1)
    runner = PipelineRunner(crop, output_cast={"crop": "float32"})
    (r,) = runner.run([{"image": images[0], "window": np.array([0, 0, 1, 1], np.float32)}])
    assert r.outputs["crop"].dtype == np.float32
    with pytest.raises(Exception, match="unknown outputs"):
        PipelineRunner(crop, output_cast={"nope": "uint8"})


def test_bad_samples_are_refused_before_dali():
    model = load_model(PIPELINES, "crop_window", num_threads=1)
    img = photos.jpeg_bytes(1)[0]
    good_window = np.array([0, 0, 1, 1], np.float32)
    results = PipelineRunner(model).run([
        {"image": img, "window": good_window},
        {"image": img},                                            # missing input
        {"image": img, "window": np.array([0, 0, 1], np.float32)},  # wrong shape
        {"image": img, "window": "abc"},                           # wrong type
        {"image": b"", "window": good_window},                     # empty
    ])
    assert results[0].ok
    assert "sample 1: missing input 'window'" in results[1].error
    assert "sample 2: input 'window' takes shape [4], got [3]" in results[2].error
    assert results[3].input_name == "window" and not results[3].ok
    assert "input 'image' is empty" in results[4].error


def test_lists_and_floats_are_converted():
    model = load_model(PIPELINES, "crop_window", num_threads=1)
    img = photos.jpeg_bytes(1)[0]
    (r,) = PipelineRunner(model).run([{"image": img, "window": [0.0, 0.0, 0.5, 0.5]}])
    assert r.ok and r.outputs["crop"].shape == (224, 224, 3)


def test_dali_message_is_short():
    err = RuntimeError("Critical error in pipeline:\nError in CPU operator `nvidia.dali.fn.decoders."
                       "image`,\nwhich was used in the pipeline definition with the following "
                       "traceback:\n\n  File \"x.py\", line 8\n\nencountered:\n\nnvImageCodec "
                       "failure: '#3'\nCurrent pipeline object is no longer valid.")
    assert dali_message(err) == ("CPU operator `nvidia.dali.fn.decoders.image`: nvImageCodec "
                                 "failure: '#3' (bad or truncated codestream)")


def test_suspects_run_alone_and_failed_batches_rerun_one_by_one(classify):
    from worker.pipeline import suspect

    good = photos.jpeg_bytes(1)[0]
    png = photos.photo_bytes(2)[1]
    arr = lambda b: np.frombuffer(b, np.uint8)  # noqa: E731
    assert not suspect.suspicious(arr(good)) and not suspect.suspicious(arr(png))
    assert not suspect.suspicious(arr(good + b"\0" * 100))            # zero padding is fine
    assert suspect.suspicious(arr(photos.truncated_jpeg()))
    assert suspect.suspicious(arr(photos.random_bytes()))
    assert suspect.image_inputs(classify) == ["image"]
    # a corrupt image that looks whole: the batch fails, then runs sample by sample
    sneaky = b"\xff\xd8\xff\xe0" + photos.random_bytes(3000) + b"\xff\xd9"
    runner = PipelineRunner(classify)
    results = runner.run(samples([good, sneaky, good, good]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert runner.failures == 3          # the batch, then the sample alone, twice (confirmed)
