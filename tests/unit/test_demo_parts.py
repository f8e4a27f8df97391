"""The parts of `dali-worker demo` that need no broker: what it prints per result, how it finds
a user's Triton models, and how it refuses what it cannot serve."""
from __future__ import annotations

from pathlib import Path

import pytest

from worker.commands.demo_report import Answer, Summary, line, summarise
from worker.devtriton import TritonError, read_models, serving_copy, start_triton


def _result(outputs: dict, labels: dict | None = None) -> dict:
    return {"kind": "result", "outputs": outputs, "labels": labels or {}}


def test_image_stats_reads_as_size_and_colour():
    d = _result({"size": {"dtype": "int64", "shape": [3], "summary": [266, 400, 3]},
                 "mean_rgb": {"dtype": "float32", "shape": [3], "summary": [148.2, 110.7, 86.9]}})
    assert summarise(d) == "400x266 px, mean colour #946f57 (R 148 G 111 B 87)"


def test_labels_win_and_other_outputs_are_summarised():
    labels = {"logits": [{"label": "tabby", "score": 0.61, "index": 281},
                         {"label": "tiger cat", "score": 0.2, "index": 282}]}
    assert summarise(_result({}, labels)) == "tabby 0.61, tiger cat 0.20"
    d = _result({"channel_mean": {"dtype": "float32", "shape": [3], "summary": [0.12345, -1.0, 2.5]},
                 "image": {"dtype": "float32", "shape": [3, 224, 224],
                           "summary": {"min": -2.1, "max": 2.6, "mean": 0.1}}})
    assert summarise(d) == ("channel_mean float32[3] [0.123, -1, 2.5]; "
                            "image float32[3x224x224] min -2.1 max 2.6 mean 0.1")
    dead = {"kind": "dead_letter", "reason": "decode_error", "error": "not an image"}
    assert summarise(dead) == "decode_error: not an image"
    answer = Answer("x.jpg", "dead_letter", 12.0, None, summarise(dead))
    assert line(answer, 5) == "x.jpg  dead letter, decode_error: not an image  (12 ms)"


def test_summary_counts_results_and_latency():
    s = Summary(expected=3, elapsed_s=1.25)
    s.answers["a.jpg"] = Answer("a.jpg", "result", 120.0, 80.0, "x")
    s.answers["b.jpg"] = Answer("b.jpg", "dead_letter", 300.0, None, "decode_error: ...")
    assert not s.ok
    assert s.lines()[0] == "1 of 3 images answered with a result, 1 dead-lettered, 1 without an answer, in 1.2 s"
    assert "median 210 ms, max 300 ms; in the worker: median 80 ms" in s.lines()[1]
    assert line(s.answers["a.jpg"], 6) == "a.jpg   x  (120 ms, worker 80 ms)"


def _model(repo: Path, name: str, config: str, model_py: str | None = "x = 1\n") -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    if model_py is not None:
        (repo / name / "1" / "model.py").write_text(model_py)


def test_models_found_with_their_scores_output_and_labels(tmp_path):
    _model(tmp_path, "clf", 'backend: "python"\noutput [\n  { name: "extra" data_type: TYPE_FP32 dims: [1] },\n'
                            '  { name: "logits" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" }\n]\n')
    (tmp_path / "clf" / "labels.txt").write_text("a\nb\n")
    _model(tmp_path, "onnx", 'platform: "onnxruntime_onnx"\n', None)
    clf, onnx = read_models(tmp_path)
    assert (clf.name, clf.kind, clf.scores_output, clf.labels_file) == ("clf", "python", "logits",
                                                                      tmp_path / "clf" / "labels.txt")
    assert (onnx.name, onnx.kind, onnx.scores_output, onnx.labels_file) == ("onnx", "onnxruntime_onnx", None, None)


def test_the_served_copy_finds_numpy_below_2_and_leaves_the_users_files_alone(tmp_path):
    class Install:
        stub_numpy = tmp_path / "stub-numpy"

    _model(tmp_path / "repo", "clf", 'backend: "python"\n', "import numpy\n")
    copy = serving_copy(tmp_path / "repo", tmp_path / "served", Install())
    served = (copy / "clf" / "1" / "model.py").read_text()
    assert served.endswith("import numpy\n") and str(Install.stub_numpy) in served
    assert (tmp_path / "repo" / "clf" / "1" / "model.py").read_text() == "import numpy\n"


def test_start_triton_refuses_what_it_cannot_choose(tmp_path):
    with pytest.raises(TritonError, match="no such folder"):
        start_triton(tmp_path / "absent", None, tmp_path)
    with pytest.raises(TritonError, match="no <model>/config.pbtxt"):
        start_triton(tmp_path, None, tmp_path)
    _model(tmp_path, "a", 'backend: "python"\n')
    _model(tmp_path, "b", 'backend: "python"\n')
    with pytest.raises(TritonError, match=r"has 2 models \(a, b\): name one with --model"):
        start_triton(tmp_path, None, tmp_path)
    with pytest.raises(TritonError, match=r"--model c: not in .* \(it has a, b\)"):
        start_triton(tmp_path, "c", tmp_path)
