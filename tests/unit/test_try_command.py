"""`dali-worker try` and `dali-worker pipelines` on the example repository and the committed
sample photos (no Kafka)."""
import re
from pathlib import Path

import numpy as np

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
    assert "rocket.jpg:" in out and f"{bad}: ERROR sample 1:" in out


def test_try_unknown_pipeline(capsys):
    assert main(["try", "nope", str(DATA / "rocket.jpg"), "--repository", REPO]) == 2
    assert "model 'nope' not found" in capsys.readouterr().err


def test_try_uses_dsw_repository(monkeypatch, capsys):
    monkeypatch.setenv("DSW_REPOSITORY", REPO)
    assert main(["try", "classify_reduce", str(DATA / "rocket.jpg"), "--cast", "float16"]) == 0
    assert "channel_mean: float16 [3]" in capsys.readouterr().out


def test_pipelines_command(capsys):
    assert main(["pipelines", "--repository", REPO]) == 0
    out = capsys.readouterr().out
    for name in ("classify", "classify_reduce", "crop_window", "identity"):
        assert name in out
    assert "window           TYPE_FP32  [4]" in out
    assert main(["pipelines", "--repository", REPO, "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in data["models"]} >= {"classify", "identity"}
