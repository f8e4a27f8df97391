"""Repositories laid out as Triton's DALI backend's own (its QA models: a split video model, a
streaming-video-input model, an unbatched model, version policies), run through the worker's
loader, runner and `try`, with outputs compared against a direct DALI run of the same pipeline
(issue 31). Where the backend's behaviour is quoted, the source is third_party/dali_backend."""
from __future__ import annotations

import importlib.util
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.media import clip
from worker.cli import main
from worker.config import Route
from worker.pipeline.isolation import IsolatedRunner
from worker.pipeline.runner import PipelineRunner
from worker.repository.errors import PipelineLoadError, RepositoryError
from worker.repository.load import load_model
from worker.stream.fanout import cut

# the backend's QA video model, on the CPU: decode a whole clip, resize; config.pbtxt splits
# the frames so that each is a sample of its own. The backend matches split_along_outer_axis
# against the pipeline's output name when it fills dims and against config.pbtxt's when it
# runs, so the operator is named as the output (name="FRAMES")
SPLIT_VIDEO = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=4, num_threads=1, device_id=None, output_dtype=[types.UINT8, types.INT64],
              output_ndim=[4, 1])
def video_split():
    data = fn.external_source(name="INPUT", dtype=types.UINT8, ndim=1)
    frames = fn.experimental.decoders.video(data, device="cpu")
    frames = fn.resize(frames, size=(24, 32), name="FRAMES")   # the backend splits by this name
    return frames, frames.shape()
"""
SPLIT_CONFIG = """
name: "video_split"
backend: "dali"
max_batch_size: 4
parameters [ { key: "split_along_outer_axis" value: { string_value: "FRAMES" } } ]
input [ { name: "INPUT" data_type: TYPE_UINT8 dims: [ -1 ] } ]
output [ { name: "FRAMES" data_type: TYPE_UINT8 dims: [ 24, 32, 3 ] }, { name: "SHAPE" } ]
"""

# the backend's decoupled video model: fn.experimental.inputs.video reads the clip
STREAMING_VIDEO = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=1, num_threads=1, device_id=None)
def video_stream():
    return fn.experimental.inputs.video(name="INPUT", sequence_length=5, device="cpu")
"""
STREAMING_CONFIG = """
backend: "dali"
max_batch_size: 0
model_transaction_policy { decoupled: True }
input [ { name: "INPUT" data_type: TYPE_UINT8 dims: [ 1, -1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_UINT8 dims: [ 5, -1, -1, 3 ] } ]
"""

# an unbatched model (max_batch_size: 0), as in the backend's L0_unbatched QA test
UNBATCHED = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=8, num_threads=1, device_id=None, output_dtype=[types.FLOAT], output_ndim=[1])
def unbatched():
    x = fn.external_source(name="INPUT", dtype=types.FLOAT, ndim=1)
    return x * 2 + 1
"""

PLUS = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=4, num_threads=1, device_id=None)
def plus():
    return fn.external_source(name="INPUT", dtype=types.UINT8, ndim=1) + {const}
"""


def model(repo: Path, name: str, pipeline: str, config: str | None = None, version: int = 1) -> Path:
    d = repo / name / str(version)
    d.mkdir(parents=True, exist_ok=True)
    (d / "dali.py").write_text(pipeline)
    if config is not None:
        (repo / name / "config.pbtxt").write_text(config)
    return d / "dali.py"


def direct(path: Path, feeds: dict[str, list], batch_size: int):
    """The reference: the same pipeline file run through DALI's Python API."""
    spec = importlib.util.spec_from_file_location(f"direct_{path.parent.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = next(getattr(module, n) for n in dir(module) if getattr(getattr(module, n), "_is_autoserialize", False))
    pipe = fn(batch_size=batch_size, num_threads=1, device_id=None, prefetch_queue_depth=1)
    pipe.build()
    for name, data in feeds.items():
        pipe.feed_input(name, data)
    return [[np.array(t) for t in tl] for tl in pipe.run()]


# -- split_along_outer_axis (item 1) ------------------------------------------------------------

def test_split_video_model_lists_row_dims_and_each_frame_is_a_result(tmp_path):
    path = model(tmp_path, "video_split", SPLIT_VIDEO, SPLIT_CONFIG)
    m = load_model(tmp_path, "video_split")
    assert m.split == {"FRAMES"}
    frames = m.config.output[0]
    assert (frames.name, list(frames.dims)) == ("FRAMES", [24, 32, 3])    # a row, as the backend fills it
    assert list(m.config.output[1].dims) == [-1]                           # not split: as declared
    clips = [clip(frames=6, size=(64, 48), seed=0), clip(frames=9, size=(64, 48), seed=1)]
    results = PipelineRunner(m).run([{"INPUT": c} for c in clips])
    ref_frames, ref_shapes = direct(path, {"INPUT": [np.frombuffer(c, np.uint8) for c in clips]}, 2)
    for res, want, shape in zip(results, ref_frames, ref_shapes):
        assert res.ok, res.error
        np.testing.assert_array_equal(res.outputs["FRAMES"], want)
        parts = cut(res.outputs, Route(inputs=["t"]), m.split)       # the route's default cut: clip
        assert [p.count for p in parts] == [len(want)] * len(want)
        for i, part in enumerate(parts):     # each frame a sample, as the backend returns them
            np.testing.assert_array_equal(part.outputs["FRAMES"], want[i])
            np.testing.assert_array_equal(part.outputs["SHAPE"], shape)   # whole in every part


def test_split_dims_that_keep_the_outer_axis_are_refused(tmp_path):
    """The backend's MatchShapes refuses config dims of the unsplit rank for a split output."""
    model(tmp_path, "video_split", SPLIT_VIDEO, SPLIT_CONFIG.replace("dims: [ 24, 32, 3 ]", "dims: [ -1, 24, 32, 3 ]"))
    with pytest.raises(RepositoryError, match=r"mismatch of dims for output 'FRAMES': config.pbtxt has 4 dims"):
        load_model(tmp_path, "video_split")


def test_try_shows_the_split(tmp_path, capsys):
    model(tmp_path, "video_split", SPLIT_VIDEO, SPLIT_CONFIG)
    f = tmp_path / "clip.mkv"
    f.write_bytes(clip(frames=6, size=(64, 48)))
    assert main(["try", "video_split", str(f), "--repository", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "split along the outer axis (FRAMES, split_along_outer_axis): 6 results (the first: FRAMES [24, 32, 3]" in out


# -- fn.experimental.inputs.video (item 2) ------------------------------------------------------

@pytest.mark.parametrize("config", [STREAMING_CONFIG, None])
def test_streaming_video_input_is_refused_at_load_naming_the_operator_and_the_fix(tmp_path, config):
    model(tmp_path, "video_stream", STREAMING_VIDEO, config)
    with pytest.raises(PipelineLoadError) as e:
        load_model(tmp_path, "video_stream")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("model 'video_stream' version 1: input 'INPUT' is read by "
                          "fn.experimental.inputs.video (experimental__inputs__Video)")
    assert "fn.experimental.decoders.video(fn.external_source(name='INPUT', dtype=types.UINT8, ndim=1)" in msg
    assert 'cut = "sequence"' in msg


# -- unbatched models (item 3) ------------------------------------------------------------------

@pytest.mark.parametrize("runner", [PipelineRunner, IsolatedRunner])
def test_unbatched_model_takes_what_its_listing_promises(tmp_path, runner):
    """Triton lists dims [-1, -1] (batch first); a client sends a (3, 5) tensor, the backend runs
    its 3 rows as one DALI batch and answers (3, 5)."""
    path = model(tmp_path, "unbatched", UNBATCHED, "max_batch_size: 0\n")
    m = load_model(tmp_path, "unbatched")
    assert list(m.config.input[0].dims) == [-1, -1] and list(m.config.output[0].dims) == [-1, -1]
    request = np.arange(15, dtype=np.float32).reshape(3, 5)
    ragged = np.arange(4, dtype=np.float32)                   # one sample, the earlier form
    r = runner(m)
    try:
        res, one, too_many = r.run([{"INPUT": request}, {"INPUT": ragged},
                                    {"INPUT": np.zeros((9, 2), np.float32)}])
    finally:
        r.close()
    (want,) = direct(path, {"INPUT": list(request)}, 3)
    assert res.ok and res.outputs["INPUT" if "INPUT" in res.outputs else m.output_names[0]].shape == (3, 5)
    np.testing.assert_array_equal(res.outputs[m.output_names[0]], np.stack(want))
    np.testing.assert_array_equal(one.outputs[m.output_names[0]], ragged * 2 + 1)
    assert not too_many.ok and "a request of 9 rows" in too_many.error and "1 to 8" in too_many.error


def test_an_unbatched_request_is_admitted_by_the_stream():
    from worker.stream.envelope import InputMessage, check_inputs

    msg = InputMessage(id="m", inputs={"INPUT": np.zeros((3, 5), np.float32)})
    specs = {"INPUT": (np.float32, (1, 2))}
    assert check_inputs(msg, specs)["INPUT"].shape == (3, 5)


# -- version_policy and try (item 5) ------------------------------------------------------------

def test_try_runs_only_versions_the_policy_serves(tmp_path, capsys):
    for v in (1, 2):
        model(tmp_path, "plus", PLUS.format(const=v), 'version_policy: { specific: { versions: [2] } }\n'
              'output [ { name: "OUT" data_type: TYPE_INT32 dims: [ -1 ] } ]', v)
    f = tmp_path / "x.bin"
    f.write_bytes(b"\x01\x02")
    assert main(["try", "plus", str(f), "--version", "1", "--repository", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model 'plus': version 1 is not served: config.pbtxt's version_policy serves 2" in err
    assert main(["try", "plus", str(f), "--version", "2", "--repository", str(tmp_path)]) == 0
    assert "model plus version 2" in capsys.readouterr().out


# -- names (item 6) -----------------------------------------------------------------------------

def test_model_folders_with_spaces_or_non_ascii_are_skipped_with_a_line(tmp_path, capsys):
    model(tmp_path, "plus", PLUS.format(const=1))
    model(tmp_path, "my model", PLUS.format(const=1))
    model(tmp_path, "modèle", PLUS.format(const=1))
    assert main(["pipelines", "--repository", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped: model folder 'my model': its name has characters" in out and "'my_model'" in out
    assert "skipped: model folder 'modèle'" in out
    assert main(["pipelines", "my model", "--repository", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "ERROR invalid model name 'my model'" in out and "rename the folder to 'my_model'" in out
    assert main(["try", "my model", str(tmp_path / "plus" / "1" / "dali.py"), "--repository", str(tmp_path)]) == 2
    assert "rename the folder" in capsys.readouterr().err


# -- output dtypes (item 7) ---------------------------------------------------------------------

def test_an_output_of_another_dtype_than_config_says_is_warned_naming_both(tmp_path, caplog):
    model(tmp_path, "plus", PLUS.format(const=1),
          'output [ { name: "OUT" data_type: TYPE_UINT8 dims: [ -1 ] } ]')
    m = load_model(tmp_path, "plus")
    with caplog.at_level(logging.WARNING, logger="worker.pipeline.runner"):
        (res,) = PipelineRunner(m).run([{"INPUT": b"\x01\x02"}])
    assert res.outputs["OUT"].dtype == np.int32                  # uint8 + a Python int, in DALI
    assert m.unchecked_dtypes == ("OUT",)
    assert any("output 'OUT' is UINT8 in config.pbtxt" in r.message and "returns int32" in r.message
               for r in caplog.records), caplog.text


def test_pipelines_says_which_output_types_only_config_gives(tmp_path, capsys):
    model(tmp_path, "plus", PLUS.format(const=1),
          'output [ { name: "OUT" data_type: TYPE_UINT8 dims: [ -1 ] } ]')
    assert main(["pipelines", "plus", "--repository", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "note: output 'OUT': data_type TYPE_UINT8 is config.pbtxt's; the pipeline declares none" in out


# -- try admits files as run does (items 8, 12, 13) ---------------------------------------------

def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_try_refuses_an_image_bomb_without_decoding_it(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_declaring(30000, 30000))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    repo = str(Path(__file__).resolve().parents[2] / "pipelines")
    assert main(["try", "classify", str(bomb), str(empty), "--repository", repo]) == 1
    out = capsys.readouterr().out
    assert f"{bomb}: ERROR [image_too_large]" in out and "30000x30000 = 900.0 MP" in out
    assert f"{empty}: ERROR [empty_value]" in out and "first bytes )" not in out


def test_try_prints_the_reason_code_of_a_decoder_failure(tmp_path, capsys):
    from tests.media import encoded_audio

    cut_ogg = tmp_path / "cut.ogg"
    cut_ogg.write_bytes(encoded_audio("ogg", seconds=3.0)[:4000])
    repo = str(Path(__file__).resolve().parents[2] / "pipelines")
    assert main(["try", "audio_melspec", str(cut_ogg), "--repository", repo]) == 1
    assert f"{cut_ogg}: ERROR [incomplete_media]" in capsys.readouterr().out
