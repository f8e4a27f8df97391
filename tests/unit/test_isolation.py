"""The isolated runner: the same outputs as the in-process runner, bit for bit, and a DALI crash
(injected with DSW_FAULT_INJECT_CRASH, or a real one on corrupt JPEGs) costs one sample, never
the process that runs it."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests import photos
from worker.pipeline.errors import IsolationError, PipelineError
from worker.pipeline.isolation import IsolatedRunner
from worker.pipeline.runner import PipelineRunner
from worker.repository.load import load_model

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
ROOT = PIPELINES.parent


def classify(batch=16):
    return load_model(PIPELINES, "classify", device="cpu", num_threads=2, max_batch_size=batch)


def samples(images):
    return [{"image": b} for b in images]


def outs(results, name="DALI_OUTPUT_0"):
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return [r.outputs[name] for r in results]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.fixture
def runners():
    made = []

    def make(model, **kw):
        r = IsolatedRunner(model, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


@pytest.mark.parametrize("feed", ["ragged", "padded"])
def test_classify_outputs_identical_and_stable(runners, feed):
    images = photos.photo_bytes(40)               # JPEG and PNG, three sizes; 16 + 16 + 8
    reference = outs(PipelineRunner(classify(), feed=feed).run(samples(images)))
    runner = runners(classify(), feed=feed)
    assert runner.batch_size == 16
    first = outs(runner.run(samples(images)))
    assert_same(first, reference)
    # outputs are views of shared memory: a later run must not write into them
    again = outs(runner.run(samples(images[::-1])))
    assert_same(again, reference[::-1])
    assert_same(first, reference)
    assert runner.failures == 0 and runner.crashes == 0


@pytest.mark.parametrize("feed", ["ragged", "padded"])
def test_two_inputs_identical(runners, feed):
    model = load_model(PIPELINES, "crop_window", num_threads=2)
    images = photos.jpeg_bytes(10)
    windows = [np.array([0.1 * (i % 4), 0.05 * i, 0.5, 0.4], np.float32) for i in range(10)]
    batch = [{"image": b, "window": w} for b, w in zip(images, windows)]
    reference = outs(PipelineRunner(model, feed=feed).run(batch), "crop")
    assert_same(outs(runners(model, feed=feed).run(batch), "crop"), reference)


def test_small_outputs_and_casts(runners):
    model = load_model(PIPELINES, "classify_reduce", num_threads=2)
    images = photos.jpeg_bytes(5)
    assert_same(outs(runners(model).run(samples(images)), "channel_mean"),
                outs(PipelineRunner(model).run(samples(images)), "channel_mean"))
    half = outs(runners(classify(), output_cast="float16").run(samples(images)))
    assert_same(half, outs(PipelineRunner(classify(), output_cast="float16").run(samples(images))))
    with pytest.raises(Exception, match="unknown outputs"):
        IsolatedRunner(model, output_cast={"nope": "uint8"})


def test_ragged_outputs(runners):
    model = load_model(PIPELINES, "identity")
    data = [b"x" * n for n in (1, 5, 300, 2)] + [os.urandom(200_000)]
    results = runners(model).run([{"data": d} for d in data])
    assert [r.outputs["data_out"].tobytes() for r in results] == data


def test_bad_samples_refused_before_the_child(runners):
    model = load_model(PIPELINES, "crop_window", num_threads=1)
    img = photos.jpeg_bytes(1)[0]
    results = runners(model).run([{"image": img, "window": [0, 0, 1, 1]}, {"image": img}])
    assert results[0].ok and results[0].outputs["crop"].shape == (224, 224, 3)
    assert "sample 1: missing input 'window'" in results[1].error


def test_injected_crash_costs_one_sample(runners, monkeypatch):
    monkeypatch.setenv("DSW_FAULT_INJECT_CRASH", "CRASH-ME")
    images = photos.jpeg_bytes(12)
    batch = list(images)
    batch[5] = images[5] + b"CRASH-ME"             # still a valid JPEG: only the marker kills
    runner = runners(classify(8))
    first_pid = runner.pid
    results = runner.run(samples(batch))
    assert [r.ok for r in results] == [i != 5 for i in range(12)]
    bad = results[5]
    assert bad.index == 5 and bad.reason == "decode_error" and bad.input_name == "image"
    assert bad.error.startswith("sample 5: pipeline 'classify' failed on input 'image': crashed "
                                "DALI's decoder (SIGSEGV) when decoded alone"), bad.error
    reference = outs(PipelineRunner(classify(8)).run(samples(images)))
    assert_same([r.outputs["DALI_OUTPUT_0"] for r in results if r.ok],
                [x for i, x in enumerate(reference) if i != 5])
    assert runner.crashes == 3                      # the batch, then the marker alone, twice
    assert runner.pid != first_pid
    # it goes on working, and the marker alone again fails the same way
    assert_same(outs(runner.run(samples(images[:3]))), reference[:3])
    (again,) = runner.run(samples([batch[5]]))
    assert not again.ok and "SIGSEGV" in again.error


def test_crashing_on_everything_says_so(runners, monkeypatch):
    monkeypatch.setenv("DSW_FAULT_INJECT_CRASH", "JFIF")     # in every JPEG Pillow writes
    runner = runners(classify(8), max_consecutive_crashes=4)
    with pytest.raises(IsolationError, match="on each of the last 4 requests.*not the samples"):
        runner.run(samples(photos.jpeg_bytes(6)))


def test_hung_child_is_killed_and_its_batch_rerun(runners):
    runner = runners(classify(8), timeout_s=3)
    images = photos.jpeg_bytes(6)
    os.kill(runner.pid, signal.SIGSTOP)             # answers nothing from now on
    t0 = time.monotonic()
    results = runner.run(samples(images))
    assert time.monotonic() - t0 < 30
    assert_same(outs(results), outs(PipelineRunner(classify(8)).run(samples(images))))
    assert runner.crashes == 1


def test_child_dead_between_batches_blames_no_one(runners):
    runner = runners(classify(8))
    os.kill(runner.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert all(r.ok for r in runner.run(samples(photos.jpeg_bytes(4))))
    assert runner.crashes == 0 and runner.restarts == 1


def test_close_stops_the_child_and_a_dead_parent_takes_it_along():
    runner = IsolatedRunner(classify(4))
    pid = runner.pid
    runner.close()
    assert not _alive(pid)
    with pytest.raises(PipelineError, match="closed"):
        runner.run(samples(photos.jpeg_bytes(1)))
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from worker.pipeline.isolation import IsolatedRunner
        from worker.repository.load import load_model
        r = IsolatedRunner(load_model({str(PIPELINES)!r}, "classify", device="cpu", max_batch_size=4))
        print(r.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_console_text_is_cleaned():
    from worker.pipeline import console

    raw = ("\x1b[0;31m[ERROR] \x1b[0m[jpeg_parser] Invalid marker\n"
           "[0;31m[ERROR] [0m[jpeg_parser] Invalid marker\n"
           "Corrupt JPEG data: premature end of data segment\n\n"
           "Current pipeline object is no longer valid.\n")
    assert console.clean(raw) == ("jpeg_parser: Invalid marker; Corrupt JPEG data: premature end "
                                  "of data segment")
    assert len(console.clean("x" * 2000)) == 500
