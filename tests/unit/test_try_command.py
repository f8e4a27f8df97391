"""`dali-worker try` and `dali-worker pipelines` on the example repository and the committed
sample photos (no Kafka)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from worker.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
REPO = str(ROOT / "pipelines")


def test_committed_sample_photos_are_small():
    files = sorted(DATA.glob("*.jpg")) + sorted(DATA.glob("*.png"))
    assert len(files) >= 4
    assert sum(f.stat().st_size for f in files) < 300_000


def test_try_classify_prints_outputs(capsys):
    files = [str(p) for p in sorted(DATA.glob("*.jpg"))]
    assert main(["try", "classify", *files, "--repository", REPO]) == 0
    out = capsys.readouterr().out
    # one output, named by config.pbtxt or else by the pipeline itself
    names = re.findall(r"^  (\S+): float32 \[3, 224, 224\]", out, re.M)
    assert len(names) == len(files) and len(set(names)) == 1
    assert "min " in out and "mean " in out


def test_try_two_inputs_and_save(tmp_path, capsys):
    photo = str(DATA / "chelsea.jpg")
    rc = main(["try", "crop_window", photo, "--repository", REPO,
               "--value", "window=0.25,0.25,0.5,0.5", "--save", str(tmp_path)])
    assert rc == 0
    saved = np.load(tmp_path / "chelsea.crop.npy")
    assert saved.shape == (224, 224, 3) and saved.dtype == np.uint8


def test_try_reports_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    rc = main(["try", "classify", str(DATA / "rocket.jpg"), str(bad), "--repository", REPO, "--feed", "padded"])
    assert rc == 1
    out = capsys.readouterr().out
    # refused as `run` refuses it, before decoding, with its reason code (issue 31, item 8)
    assert "rocket.jpg:" in out and f"{bad}: ERROR [unreadable_header]" in out


def test_try_gives_a_decoder_failure_its_reason_code(tmp_path, capsys):
    from tests.corrupt_images import corrupt_jpeg

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(corrupt_jpeg((DATA / "rocket.jpg").read_bytes(), "huffman_lie", seed=0))
    rc = main(["try", "classify", str(DATA / "rocket.jpg"), str(bad), "--repository", REPO])
    out = capsys.readouterr().out
    assert rc == 1 and f"{bad}: ERROR [decode_error] sample 1:" in out, out


def test_try_unknown_pipeline(capsys):
    assert main(["try", "nope", str(DATA / "rocket.jpg"), "--repository", REPO]) == 2
    assert "model 'nope' not found" in capsys.readouterr().err


def test_try_uses_dsw_repository(monkeypatch, capsys):
    monkeypatch.setenv("DSW_REPOSITORY", REPO)
    assert main(["try", "classify_reduce", str(DATA / "rocket.jpg"), "--cast", "float16"]) == 0
    assert "channel_mean: float16 [3]" in capsys.readouterr().out


def test_pipelines_command_loads_named_models(capsys):
    assert main(["pipelines", "--repository", REPO, "--load"]) == 0
    out = capsys.readouterr().out
    for name in ("classify", "classify_reduce", "crop_window", "identity"):
        assert name in out
    assert "window           TYPE_FP32  [4]" in out
    assert re.search(r"output \S+ +TYPE_FP32  \[-1, -1, -1\]", out)     # classify's, loaded
    assert main(["pipelines", "--repository", REPO, "--json", "classify", "crop_window"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in data["models"]] == ["classify", "crop_window"]
    crop = data["models"][1]
    assert crop["loaded"] and crop["max_batch_size"] == 32
    assert crop["outputs"] == [{"name": "crop", "data_type": "TYPE_UINT8", "dims": [224, 224, 3]}]
    assert data["models"][0]["inputs"] == [{"name": "image", "data_type": "TYPE_UINT8", "dims": [-1]}]


def test_pipelines_default_lists_without_loading(capsys):
    assert main(["pipelines", "--repository", REPO]) == 0
    out = capsys.readouterr().out
    assert "repository " in out and "6 DALI model(s)" in out
    assert "classify  version 1 of [1]  dali.py (Python, not imported)" in out
    assert "crop_window  version 1 of [1]  crop_window.py (Python, not imported)" in out
    assert "config.pbtxt: max_batch_size 32" in out
    assert "window           TYPE_FP32  [4]" in out            # what config.pbtxt says
    assert "name models, or pass --load" in out
    assert main(["pipelines", "--repository", REPO, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in data["models"]} >= {"classify", "identity"}
    assert not any(m["loaded"] for m in data["models"])


MARKED = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=4, num_threads=1, device_id=None, output_dtype=[types.UINT8], output_ndim=[1])
def same():
    return fn.external_source(name="x", dtype=types.UINT8, ndim=1)
"""


def test_pipelines_imports_nothing_unless_asked(tmp_path, capsys):
    marker = tmp_path / "imported.txt"
    repo = tmp_path / "repo"
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "dali.py").write_text(MARKED.format(marker=str(marker)))
    assert main(["pipelines", "--repository", str(repo)]) == 0
    assert not marker.exists()
    assert "m  version 1 of [1]  dali.py (Python, not imported)" in capsys.readouterr().out
    assert main(["pipelines", "--repository", str(repo), "m"]) == 0
    assert marker.exists()
    assert "input  x                TYPE_UINT8 [-1]" in capsys.readouterr().out


def test_pipelines_reads_serialized_model_dali_without_code(tmp_path, capsys):
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=6, num_threads=1, device_id=None)
    def ser():
        return fn.flip(fn.external_source(name="images", dtype=types.UINT8, layout="HWC"))

    (tmp_path / "s" / "1").mkdir(parents=True)
    (tmp_path / "s" / "1" / "model.dali").write_bytes(ser().serialize())
    assert main(["pipelines", "--repository", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "s  version 1 of [1]  model.dali (serialized)" in out
    assert re.search(r"model.dali declares batch_size 6; external sources images \(TYPE_UINT8, "
                     r"ndim 3\); outputs __Flip_\d+", out), out


def write_other_backends(repo: Path) -> None:
    for name, config, model_file in (
            ("resnet_onnx", 'platform: "onnxruntime_onnx"\nmax_batch_size: 8', "model.onnx"),
            ("postprocess", 'backend: "python"', "model.py"),
            ("ensemble_all", 'platform: "ensemble"', None)):
        (repo / name / "1").mkdir(parents=True)
        (repo / name / "config.pbtxt").write_text(config)
        if model_file:
            (repo / name / "1" / model_file).write_text("not dali")


@pytest.mark.parametrize("load", [[], ["--load"]])
def test_pipelines_skips_other_backends(tmp_path, capsys, load):
    repo = tmp_path / "repo"
    write_other_backends(repo)
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "dali.py").write_text(MARKED.format(marker=str(tmp_path / "marker")))
    assert main(["pipelines", "--repository", str(repo), *load]) == 0
    out = capsys.readouterr().out
    assert "1 DALI model(s), 3 skipped" in out and "ERROR" not in out and "set backend" not in out
    assert "skipped: resnet_onnx: platform onnxruntime_onnx, served by Triton, not this worker" in out
    assert "skipped: postprocess: backend python, served by Triton" in out
    assert "skipped: ensemble_all: platform ensemble, served by Triton" in out
    assert main(["pipelines", "--repository", str(repo), "--json", *load]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in data["models"]] == ["m"]
    assert {s["name"]: s["backend"] for s in data["skipped"]} == {
        "resnet_onnx": "platform onnxruntime_onnx", "postprocess": "backend python",
        "ensemble_all": "platform ensemble"}


def test_pipelines_errors_without_loading(tmp_path, capsys):
    (tmp_path / "z" / "1").mkdir(parents=True)
    (tmp_path / "z" / "1" / "dali.py").write_text("raise SystemExit('must not be imported')")
    (tmp_path / "z" / "config.pbtxt").write_text('name: "y"')
    assert main(["pipelines", "--repository", str(tmp_path)]) == 1
    assert "z (versions 1): ERROR model 'z': config.pbtxt says name: 'y'" in capsys.readouterr().out


def test_pipelines_help_says_the_repository_is_code(capsys):
    with pytest.raises(SystemExit):
        main(["pipelines", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "The repository is trusted code" in out and "runs with the rights of this process" in out
    assert "--load" in out and "--json" in out


CROP = ["try", "crop_window", str(DATA / "chelsea.jpg"), "--repository", REPO]


@pytest.mark.parametrize("value, words", [
    ("window=abc", r"'abc' is not a number; input 'window' is float32 with dims \[4\], e\.g\. "
                   r"--value window=0\.5,0\.5,0\.5,0\.5"),
    ("window=0.25,x,0.5,0.5", r"'x' is not a number; input 'window' is float32"),
    ("nope=1", r"use NAME=V1,V2,\.\.\. with NAME one of image, window"),
])
def test_try_bad_value_is_a_one_line_usage_error(capsys, value, words):
    assert main([*CROP, "--value", value]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    assert re.search(r"^error: .*" + words, captured.err), captured.err


def test_try_missing_input_is_a_usage_error(capsys):
    assert main(CROP) == 2
    assert "also needs input(s) window" in capsys.readouterr().err


@pytest.mark.parametrize("dtype, text, words", [
    ("int32", "1.7", "1.7 is not an integer; input 'v' is int32"),
    ("uint8", "300", "300 is outside uint8's range 0..255"),
    ("uint8", "-1", "-1 is outside uint8's range 0..255"),
    ("int8", "abc", "'abc' is not a number; input 'v' is int8 with dims [-1], e.g. --value v=1,1"),
    ("float16", "70000", "70000 overflows float16"),
])
def test_values_must_fit_the_dtype_exactly(dtype, text, words):
    from worker.commands.try_pipeline import UsageError, parse_value
    from worker.repository.load import TensorSpec

    with pytest.raises(UsageError, match=re.escape(words)):
        parse_value(TensorSpec("v", np.dtype(dtype), 1, (-1,)), text)


def test_values_that_fit_are_exact():
    from worker.commands.try_pipeline import parse_value
    from worker.repository.load import TensorSpec

    got = parse_value(TensorSpec("v", np.dtype("int64"), 1, (-1,)), "1.0, -3,9223372036854775807")
    assert got.dtype == np.int64 and got.tolist() == [1, -3, 2 ** 63 - 1]
    assert parse_value(TensorSpec("v", np.dtype("uint8"), 1, (-1,)), "0,255").tolist() == [0, 255]
    assert parse_value(TensorSpec("w", np.dtype("float32"), 1, (4,)), "0.25,0.5,1,2").tolist() == [0.25, 0.5, 1, 2]
