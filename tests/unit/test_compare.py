"""`dali-worker compare` on the example of examples/training_to_serving (DALI's guide "from
training to inference"), with the real DALI library on the CPU and real photographs: the
faithful adaptation of the validation pipeline gives the same tensors bit for bit, a changed
interpolation or mean is found, a leftover random operator is named at load time."""
import logging
import re
import shutil
from pathlib import Path

import pytest

from worker.cli import main
from worker.commands.compare import pair_outputs
from worker.commands.try_pipeline import UsageError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "training_to_serving"
REPOSITORY = EXAMPLE / "repository"
REFERENCE = f"{EXAMPLE / 'validation.py'}:validation_pipe"
SERVED = REPOSITORY / "efficientnet_preprocess" / "1" / "dali.py"
# real photos: the committed ones, and scikit-image's own (a greyscale PNG, a large JPEG)
CLASSES = {"animals": ["chelsea.jpg", "astronaut.jpg"],
           "things": ["coffee.jpg", "motorcycle.png", "rocket.jpg"],
           "skimage": ["camera.png", "hubble_deep_field.jpg"]}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A validation folder as fn.readers.file reads it: one subfolder per class."""
    import skimage

    skimage_data = Path(skimage.__file__).parent / "data"
    root = tmp_path_factory.mktemp("val")
    for label, names in CLASSES.items():
        (root / label).mkdir()
        for name in names:
            src = skimage_data / name if label == "skimage" else ROOT / "tests" / "data" / name
            shutil.copy(src, root / label / name)
    return root


def served_variant(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example repository whose served dali.py has ``old`` replaced by ``new``."""
    repo = tmp_path / "repository"
    shutil.copytree(REPOSITORY, repo)
    path = repo / "efficientnet_preprocess" / "1" / "dali.py"
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {SERVED} once: update the test"
    path.write_text(text.replace(old, new))
    return repo


def compare(capsys, data, *extra, repository=REPOSITORY, reference=REFERENCE):
    rc = main(["compare", "efficientnet_preprocess", "--repository", str(repository),
               "--reference", reference, "--data", str(data), "--arg", "dali_cpu=True", *extra])
    return rc, capsys.readouterr()


def table(out: str) -> dict:
    """{(output, feed): (files, shape, max abs, max rel, differ)} from the report's table."""
    rows = re.findall(r"^  (\S+)\s+(ragged|padded)\s+(\d+)\s+(\[[^\]]*\])\s+(\S+)\s+(\S+)\s+(\d+)$", out, re.M)
    return {(r[0], r[1]): (int(r[2]), r[3], r[4], r[5], int(r[6])) for r in rows}


def test_faithful_adaptation_is_identical_on_both_feeds(capsys, data):
    rc, out = compare(capsys, data)
    assert rc == 0, out.out + out.err
    rows = table(out.out)
    files = sum(len(v) for v in CLASSES.values())
    assert rows == {("DALI_OUTPUT", feed): (files, "[3, 224, 224]", "0", "0", 0)
                    for feed in ("ragged", "padded")}
    assert f"IDENTICAL: {files} files" in out.out
    # the reader's labels are dropped, and the report says so
    assert re.search(r"dropped: +reference output 1 'Reader\[1\]' \(int32 \[1\]", out.out)
    assert "DALI_OUTPUT <- reference output 0" in out.out
    assert "WARNING" not in out.out


def test_changed_interpolation_is_reported(tmp_path, capsys, data):
    repo = served_variant(tmp_path, "interpolation=types.INTERP_LINEAR", "interpolation=types.INTERP_CUBIC")
    rc, out = compare(capsys, data, "--repository", str(repo), repository=repo)
    assert rc == 1, out.out + out.err
    for feed in ("ragged", "padded"):
        files, shape, max_abs, _, differ = table(out.out)[("DALI_OUTPUT", feed)]
        assert shape == "[3, 224, 224]" and differ > 0 and float(max_abs) > 1e-3
    assert "DIFFERENT: DALI_OUTPUT beyond --atol 1e-05" in out.out
    # the first files named are files of the folder, as the reader names them
    named = re.findall(r"(\w+/[\w.]+) \(max abs", out.out)
    assert named and all((data / n).is_file() for n in named)


def test_changed_mean_is_reported_and_atol_decides(tmp_path, capsys, data):
    repo = served_variant(tmp_path, "MEAN = [0.485 * 255,", "MEAN = [0.5 * 255,")
    rc, out = compare(capsys, data, repository=repo)
    assert rc == 1
    files, _, max_abs, _, differ = table(out.out)[("DALI_OUTPUT", "ragged")]
    # red channel shifted by (0.5 - 0.485) * 255 / (0.229 * 255) = 0.0655 on every pixel
    assert differ == files and float(max_abs) == pytest.approx(0.015 / 0.229, rel=1e-3)
    rc, out = compare(capsys, data, "--atol", "0.1", repository=repo)
    assert rc == 0 and "SAME within --atol 0.1" in out.out


def test_changed_crop_is_a_shape_difference(tmp_path, capsys, data):
    repo = served_variant(tmp_path, "image_crop=224,", "image_crop=200,")
    rc, out = compare(capsys, data, repository=repo)
    assert rc == 1, out.out + out.err
    files, shape, max_abs, _, differ = table(out.out)[("DALI_OUTPUT", "ragged")]
    assert shape == "[3, 200, 200]" and max_abs == "inf" and differ == files
    assert "shape [3, 200, 200], reference [3, 224, 224]" in out.out


def test_leftover_random_operator_is_named_at_load_and_in_the_report(tmp_path, capsys, data, caplog):
    repo = served_variant(tmp_path, "output_layout=output_layout,",
                          "output_layout=output_layout, mirror=fn.random.coin_flip(),")
    with caplog.at_level(logging.WARNING, logger="worker.repository.load"):
        _, out = compare(capsys, data, repository=repo)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("fn.random.coin_flip" in w and "efficientnet_preprocess" in w for w in warnings), warnings
    assert re.search(r"^WARNING: +the served pipeline contains fn\.random\.coin_flip", out.out, re.M)


def test_sharded_and_shuffled_reference_compares_file_by_file(tmp_path, capsys, data):
    """The reader's source_info names each sample's file, so a shard of a shuffled epoch is
    compared on the right files."""
    text = (EXAMPLE / "validation.py").read_text()
    assert text.count("random_shuffle=False") == 1
    shuffled = tmp_path / "shuffled_validation.py"
    shuffled.write_text(text.replace("random_shuffle=False", "random_shuffle=True"))
    rc, out = compare(capsys, data, "--arg", "rank=1", "--arg", "world_size=2",
                      reference=f"{shuffled}:validation_pipe")
    files = sum(len(v) for v in CLASSES.values())
    assert rc == 0, out.out + out.err
    assert "shuffled: compared file by file" in out.out
    assert table(out.out)[("DALI_OUTPUT", "ragged")][0] == files - files // 2


def test_command_line_mistakes_exit_2_naming_the_fix(capsys, data):
    cases = [
        (["--reference", str(EXAMPLE / "validation.py")], "use FILE.py:FUNCTION"),
        (["--reference", f"{EXAMPLE / 'validation.py'}:nope"], "training_pipe, validation_pipe"),
        (["--arg", "imgsize=3"], "has no parameter 'imgsize'"),
        (["--arg", "data_dir=/x"], "give it once with --data DIR"),
        (["--data-arg", "file_root"], "has no parameter 'file_root'"),
    ]
    for extra, message in cases:
        rc, out = compare(capsys, data, *extra)
        assert rc == 2 and message in out.err, (extra, out.err)
    rc, out = compare(capsys, data / "missing")
    assert rc == 2 and "not a folder" in out.err


def test_a_folder_without_class_subfolders_says_how_the_reader_wants_it(tmp_path, capsys):
    (tmp_path / "chelsea.jpg").write_bytes((ROOT / "tests" / "data" / "chelsea.jpg").read_bytes())
    rc, out = compare(capsys, tmp_path)
    assert rc == 2 and "No files found" in out.err and "DIR/<class>/" in out.err


def test_gpu_reference_on_cpu_says_how_to_run_it(capsys, data):
    rc = main(["compare", "efficientnet_preprocess", "--repository", str(REPOSITORY),
               "--reference", REFERENCE, "--data", str(data), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "--device GPU_ID" in err and "dali_cpu=True" in err


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    for words in ("--reference FILE.py:FUNCTION", "--data DIR", "--atol", "--match", "source_info"):
        assert words in out


# -- pairing of outputs ------------------------------------------------------------------------
def test_labels_first_are_dropped_by_rank():
    p = pair_outputs(["image"], {"image": 3}, ["Reader[1]", "__CMN_2"], [1, 3], [])
    assert p.pairs == [("image", 1, "by position")] and p.dropped == [0] and not p.unpaired


def test_pairs_by_name_then_position_and_by_match():
    p = pair_outputs(["a", "b"], {"a": 3, "b": 3}, ["x", "a", "y"], [3, 3, 3], [])
    assert p.pairs == [("a", 1, "by name"), ("b", 0, "by position")] and p.dropped == [2]
    p = pair_outputs(["a", "b"], {"a": 3, "b": 3}, ["x", "a", "y"], [3, 3, 3], ["b=2"])
    assert p.pairs == [("a", 1, "by name"), ("b", 2, "--match")] and p.dropped == [0]
    p = pair_outputs(["a"], {"a": 2}, ["x"], [3], [])
    assert p.pairs == [] and p.unpaired == ["a"]
    with pytest.raises(UsageError, match="SERVED=INDEX"):
        pair_outputs(["a"], {"a": 3}, ["x"], [3], ["a=5"])


# -- the example's ensemble --------------------------------------------------------------------
def test_example_ensemble_maps_the_dali_model_into_the_classifier():
    from worker.repository import model_config

    configs = {d.name: model_config.parse_text((d / "config.pbtxt").read_text(), d.name)
               for d in REPOSITORY.iterdir() if (d / "config.pbtxt").is_file()}
    ensemble = configs["efficientnet_ensemble"]
    assert ensemble.platform == "ensemble"
    produced = {i.name for i in ensemble.input}
    for step in ensemble.ensemble_scheduling.step:
        model = configs[step.model_name]
        assert set(step.input_map) == {i.name for i in model.input}, step.model_name
        assert set(step.input_map.values()) <= produced, step.model_name
        assert set(step.output_map) <= {o.name for o in model.output}, step.model_name
        produced |= set(step.output_map.values())
        assert model.max_batch_size >= ensemble.max_batch_size
    assert {o.name for o in ensemble.output} <= produced
    dali = configs["efficientnet_preprocess"]
    classifier = configs["classifier"]
    assert list(dali.output[0].dims) == list(classifier.input[0].dims) == [3, 224, 224]
    assert dali.output[0].data_type == classifier.input[0].data_type


def test_the_docs_route_examples_load(tmp_path):
    """The TOML routes of docs/training-to-stream.md are valid worker configurations."""
    from worker.config import load_config
    from worker.inference.config import ModelRoute

    text = (ROOT / "docs" / "training-to-stream.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        path = tmp_path / f"route{i}.toml"
        path.write_text(block)
        cfg = load_config(path, env={})
        (route,) = cfg.routes
        assert route.pipeline == "efficientnet_preprocess" and route.model is not None
        model = ModelRoute.from_dict(route.model)
        assert model.name in ("classifier", "efficientnet_ensemble")
