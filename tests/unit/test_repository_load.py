"""Loading models in all three forms (serialized model.dali, a custom-named .py, dali.py), with
and without config.pbtxt, and comparing with the same pipeline run directly through DALI's
Python API on real photographs."""
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import photos
from worker.pipeline.runner import PipelineRunner
from worker.repository.errors import ConfigError, DeviceError, PipelineLoadError, RepositoryError
from worker.repository.load import list_models, load_model
from worker.repository.serialized import read_serialized

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
CLASSIFY_PY = PIPELINES / "classify" / "1" / "dali.py"


def import_file(path: Path, monkeypatch, name="direct_pipeline"):
    monkeypatch.setenv("DALI_DEVICE", "cpu")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_directly(pipeline_fn, feeds: dict[str, list], batch_size=16):
    """The reference: a pipeline_def run through DALI's Python API."""
    pipe = pipeline_fn(batch_size=batch_size, num_threads=2, device_id=None, prefetch_queue_depth=1)
    pipe.build()
    for name, data in feeds.items():
        pipe.feed_input(name, data)
    return [[np.array(t) for t in tl] for tl in pipe.run()]


def model_dir(repo: Path, name: str, config: str | None = None) -> Path:
    v = repo / name / "1"
    v.mkdir(parents=True)
    if config is not None:
        (repo / name / "config.pbtxt").write_text(config)
    return v


CONFIG = """
name: "{name}"
backend: "dali"
max_batch_size: 16
{extra}
input [ {{ name: "image", data_type: TYPE_UINT8, dims: [ -1 ] }} ]
output [ {{ name: "pixels", data_type: TYPE_FP32, dims: [ 3, 224, 224 ] }} ]
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository holding the classify pipeline in every form, with and without config."""
    module = import_file(CLASSIFY_PY, monkeypatch)
    serialized = module.classify(batch_size=16, num_threads=2, device_id=None).serialize()
    forms = {}
    for with_config in (False, True):
        sfx = "_cfg" if with_config else ""
        v = model_dir(tmp_path, f"dali_py{sfx}", CONFIG.format(name=f"dali_py{sfx}", extra="") if with_config else None)
        shutil.copy(CLASSIFY_PY, v / "dali.py")
        v = model_dir(tmp_path, f"serialized{sfx}", CONFIG.format(name=f"serialized{sfx}", extra="") if with_config else None)
        (v / "model.dali").write_bytes(serialized)
        # a custom-named .py needs config.pbtxt to name it; "without config" means a minimal one
        extra = 'default_model_filename: "preprocess.py"'
        cfg = CONFIG.format(name=f"custom_py{sfx}", extra=extra) if with_config else \
            f'default_model_filename: "preprocess.py"\n'
        v = model_dir(tmp_path, f"custom_py{sfx}", cfg)
        shutil.copy(CLASSIFY_PY, v / "preprocess.py")
        forms.update({f"dali_py{sfx}": "dali.py", f"serialized{sfx}": "model.dali",
                      f"custom_py{sfx}": "preprocess.py"})
    return tmp_path, module, forms


def test_all_forms_match_dali_directly(repo):
    root, module, forms = repo
    images = photos.photo_bytes(12)
    expected = run_directly(module.classify, {"image": [np.frombuffer(b, np.uint8) for b in images]})[0]
    (pipeline_output,) = read_serialized(module.classify(batch_size=16, num_threads=2, device_id=None)
                                         .serialize()).output_names
    assert pipeline_output.startswith("__CropMirrorNormalize_")
    assert sorted(list_models(root)) == sorted(forms)
    for name, filename in forms.items():
        model = load_model(root, name, device="cpu", num_threads=2)
        assert model.source.name == filename
        # config.pbtxt's max_batch_size, else the pipeline's batch_size (64 in dali.py)
        assert model.max_batch_size == (16 if name.endswith("_cfg") or name == "serialized" else 64)
        assert model.input_names == ["image"]
        # config.pbtxt's name, else the pipeline's own (DALI's pipe_outputs), as under Triton
        out_name = "pixels" if name.endswith("_cfg") else pipeline_output
        assert model.output_names == [out_name]
        assert model.outputs[0].dtype == np.float32 and model.outputs[0].ndim == 3
        results = PipelineRunner(model).run([{"image": b} for b in images])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        for r, want in zip(results, expected):
            got = r.outputs[out_name]
            assert got.shape == (3, 224, 224) and got.dtype == np.float32
            np.testing.assert_array_equal(got, want, err_msg=f"model {name}")


def test_example_two_input_pipeline_matches_dali(monkeypatch):
    module = import_file(PIPELINES / "crop_window" / "1" / "crop_window.py", monkeypatch, "cw")
    images = photos.jpeg_bytes(6)
    windows = [np.array(w, np.float32) for w in
               ([0, 0, 1, 1], [0.25, 0.25, 0.5, 0.5], [0.1, 0.5, 0.3, 0.4]) * 2]
    expected = run_directly(module.crop_window, {"image": [np.frombuffer(b, np.uint8) for b in images],
                                                 "window": windows})[0]
    model = load_model(PIPELINES, "crop_window", num_threads=2)
    assert model.input_names == ["image", "window"] and model.output_names == ["crop"]
    results = PipelineRunner(model).run([{"image": b, "window": w} for b, w in zip(images, windows)])
    for r, want in zip(results, expected):
        assert r.ok, r.error
        np.testing.assert_array_equal(r.outputs["crop"], want)


def test_all_example_pipelines_load_on_cpu():
    names = list_models(PIPELINES)
    assert {"classify", "classify_reduce", "crop_window", "identity"} <= set(names)
    for name in names:
        model = load_model(PIPELINES, name, device="cpu", num_threads=1)
        assert not model.info.needs_gpu, name


def test_highest_version_by_default_and_pinned(tmp_path):
    for v, const in ((1, 1), (2, 2)):
        d = model_dir(tmp_path, "m", None) if v == 1 else (tmp_path / "m" / "2")
        d.mkdir(parents=True, exist_ok=True)
        (d / "dali.py").write_text(IDENTITY_PLUS.format(const=const))
    write(tmp_path / "m" / "config.pbtxt", "version_policy: { all { } }")
    assert load_model(tmp_path, "m").version == 2
    for version, const in ((None, 2), (1, 1)):
        model = load_model(tmp_path, "m", version=version)
        (res,) = PipelineRunner(model).run([{"x": np.array([1, 2], np.int32)}])
        (out,) = model.output_names
        np.testing.assert_array_equal(res.outputs[out], np.array([1, 2]) + const)


IDENTITY_PLUS = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=4, num_threads=1, device_id=None, output_dtype=[types.INT32], output_ndim=[1])
def plus():
    return fn.external_source(name="x", dtype=types.INT32, ndim=1) + {const}
"""


def test_input_in_config_without_external_source(tmp_path):
    v = model_dir(tmp_path, "m", 'input [ { name: "picture" data_type: TYPE_UINT8 dims: [-1] } ]')
    shutil.copy(CLASSIFY_PY, v / "dali.py")
    with pytest.raises(ConfigError, match=r"model 'm': config.pbtxt has input 'picture' but no "
                                          r"fn.external_source .*'image'"):
        load_model(tmp_path, "m")


def test_output_type_mismatch(tmp_path):
    v = model_dir(tmp_path, "m", 'output [ { name: "o" data_type: TYPE_UINT8 } ]')
    shutil.copy(CLASSIFY_PY, v / "dali.py")
    with pytest.raises(ConfigError, match="mismatch of data_type for output 'o'.*TYPE_FP32"):
        load_model(tmp_path, "m")


def test_two_autoserialize_pipelines_refused(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "dali.py").write_text(IDENTITY_PLUS.format(const=1) + IDENTITY_PLUS.replace("plus", "plus2").format(const=2))
    with pytest.raises(PipelineLoadError, match=r"model 'm': could not autoserialize .*Precisely "
                                                r"one autoserialize .*Found 2.*mark exactly one"):
        load_model(tmp_path, "m")


def test_no_autoserialize_refused(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "dali.py").write_text("x = 1\n")
    with pytest.raises(PipelineLoadError, match="Found none"):
        load_model(tmp_path, "m")


def test_python_error_in_pipeline_file(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "dali.py").write_text("import no_such_module_here\n")
    with pytest.raises(PipelineLoadError, match=r"model 'm'.*no_such_module_here"):
        load_model(tmp_path, "m")


def test_mixed_serialized_pipeline_needs_gpu(tmp_path):
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=4, num_threads=1, device_id=None)
    def gpu_only():
        return fn.decoders.image(fn.external_source(name="image", dtype=types.UINT8, ndim=1),
                                 device="mixed")

    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(gpu_only().serialize())
    with pytest.raises(DeviceError, match=r"model 'm' version 1: model.dali uses GPU operators "
                                          r"\(decoders__Image\) but the device is cpu"):
        load_model(tmp_path, "m", device="cpu")


def test_garbage_model_dali(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(b"not a pipeline at all")
    with pytest.raises(Exception, match="not a serialized DALI pipeline"):
        load_model(tmp_path, "m")


def test_batch_size_and_threads_overrides(tmp_path):
    v = model_dir(tmp_path, "m", 'max_batch_size: 5\nparameters [ { key: "num_threads" value: { string_value: "3" } } ]')
    shutil.copy(CLASSIFY_PY, v / "dali.py")
    model = load_model(tmp_path, "m")
    assert (model.max_batch_size, model.num_threads, model.config.max_batch_size) == (5, 3, 5)
    model = load_model(tmp_path, "m", max_batch_size=7, num_threads=1)
    assert (model.max_batch_size, model.num_threads) == (7, 1)


def test_garbage_model_dali_alone_names_the_file(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(b"")
    with pytest.raises(Exception, match=r"model 'm' \(.*model.dali\): not a serialized DALI "
                                        r"pipeline \(missing required fields: batch_size\)"):
        load_model(tmp_path, "m")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("config", ['platform: "onnxruntime_onnx"', 'backend: "python"',
                                    'platform: "ensemble"\nmax_batch_size: 8'])
def test_non_dali_models_are_left_out(tmp_path, config):
    write(tmp_path / "other" / "config.pbtxt", config)
    write(tmp_path / "other" / "1" / "model.onnx", "onnx bytes")
    write(tmp_path / "m" / "1" / "dali.py", IDENTITY_PLUS.format(const=1))
    assert list_models(tmp_path) == ["m"]
    assert list_models(tmp_path, dali_only=False) == ["m", "other"]


def test_broken_config_still_counts_as_dali(tmp_path):
    write(tmp_path / "m" / "config.pbtxt", "max_batch_size: x")
    write(tmp_path / "m" / "1" / "dali.py", "")
    assert list_models(tmp_path) == ["m"]   # its error shows when it loads, not hidden


def test_outputs_are_named_as_the_dali_backend_names_them(tmp_path):
    """No names in config.pbtxt: the backend's autoconfig names each output by DALI's
    GetOutputName(i), the name serialized in pipe_outputs."""
    write(tmp_path / "m" / "1" / "dali.py", TWO_OUTPUTS)
    model = load_model(tmp_path, "m")
    assert model.output_names == list(read_serialized(model.serialized).output_names)
    flip, plus = model.output_names
    assert flip.startswith("__Flip_") and plus.startswith("___ArithmeticGenericOp_")
    (res,) = PipelineRunner(model).run([{"images": np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
                                         "x": np.array([1, 2], np.int32)}])
    assert res.ok and set(res.outputs) == {flip, plus}
    np.testing.assert_array_equal(res.outputs[plus], [2, 3])


TWO_OUTPUTS = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size=4, num_threads=1, device_id=None, output_dtype=[types.UINT8, types.INT32],
              output_ndim=[3, 1])
def two():
    images = fn.external_source(name="images", dtype=types.UINT8, layout="HWC")
    return fn.flip(images), fn.external_source(name="x", dtype=types.INT32, ndim=1) + 1
"""


def test_layout_alone_gives_the_input_its_dims(tmp_path):
    write(tmp_path / "m" / "1" / "dali.py", TWO_OUTPUTS)
    model = load_model(tmp_path, "m")
    images = model.inputs[model.input_names.index("images")]
    assert (images.ndim, images.dims) == (3, (-1, -1, -1))


@pytest.mark.parametrize("config, batch", [("", 4), ('backend: "dali"', 4), ("max_batch_size: 2", 2)])
def test_absent_max_batch_size_is_filled_from_the_pipeline(tmp_path, config, batch):
    write(tmp_path / "m" / "config.pbtxt", config)
    write(tmp_path / "m" / "1" / "dali.py", IDENTITY_PLUS.format(const=1))
    assert load_model(tmp_path, "m").max_batch_size == batch


def test_explicit_max_batch_size_zero_is_an_unbatched_model(tmp_path):
    """Triton's DALI backend serves max_batch_size 0 unbatched (each request alone): so do we,
    one sample at a time (tests/unit/test_repository_versions.py has the details)."""
    write(tmp_path / "m" / "config.pbtxt", "# unbatched\nmax_batch_size: 0\n")
    write(tmp_path / "m" / "1" / "dali.py", IDENTITY_PLUS.format(const=1))
    model = load_model(tmp_path, "m")
    assert (model.batched, model.max_batch_size, model.config.max_batch_size) == (False, 1, 0)


def test_negative_max_batch_size_is_the_pipelines_batch_size(tmp_path):
    """Triton's DALI backend replaces max_batch_size -1 with the pipeline's batch_size."""
    write(tmp_path / "m" / "config.pbtxt", "max_batch_size: -1")
    write(tmp_path / "m" / "1" / "dali.py", IDENTITY_PLUS.format(const=1))
    model = load_model(tmp_path, "m")
    assert (model.batched, model.max_batch_size, model.config.max_batch_size) == (True, 4, 4)


def test_a_pinned_version_the_policy_does_not_serve_is_refused(tmp_path):
    """Every command serves the versions `run` serves (issue 31, item 5)."""
    for v in (1, 2):
        write(tmp_path / "m" / str(v) / "dali.py", IDENTITY_PLUS.format(const=v))
    with pytest.raises(RepositoryError, match=r"model 'm': version 1 is not served: config.pbtxt's "
                                              r"version_policy serves 2 of the versions present \(1, 2\)"):
        load_model(tmp_path, "m", version=1)
    assert load_model(tmp_path, "m", version=2).version == 2


@pytest.mark.parametrize("corrupt", [b"", b"\x00\x01garbage\xff", b"not a pipeline at all"])
def test_corrupt_model_dali_falls_back_to_dali_py(tmp_path, caplog, corrupt):
    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(corrupt)
    (v / "dali.py").write_text(IDENTITY_PLUS.format(const=5))
    with caplog.at_level("WARNING", logger="worker.repository.load"):
        model = load_model(tmp_path, "m")
    assert model.source == v / "dali.py"
    (res,) = PipelineRunner(model).run([{"x": np.array([1], np.int32)}])
    np.testing.assert_array_equal(res.outputs[model.output_names[0]], [6])
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(v / "model.dali") in warning.getMessage() and "falling back to dali.py" in warning.getMessage()


def test_failing_custom_py_falls_back_to_dali_py(tmp_path, caplog):
    v = model_dir(tmp_path, "m", 'default_model_filename: "custom.py"')
    (v / "custom.py").write_text("import no_such_module_here\n")
    (v / "dali.py").write_text(IDENTITY_PLUS.format(const=5))
    assert load_model(tmp_path, "m").source == v / "dali.py"
    assert "custom.py" in caplog.text and "no_such_module_here" in caplog.text


def test_no_pipeline_file_loads(tmp_path):
    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(b"garbage")
    (v / "dali.py").write_text("x = 1\n")
    with pytest.raises(PipelineLoadError, match=r"model 'm' version 1: no pipeline file loads: "
                                                r"model.dali: not a serialized DALI pipeline .*; "
                                                r"dali.py: .*Found none"):
        load_model(tmp_path, "m")


def test_valid_model_dali_wins_over_dali_py(tmp_path):
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=3, num_threads=1, device_id=None, output_dtype=[types.INT32], output_ndim=[1])
    def serialized():
        return fn.external_source(name="x", dtype=types.INT32, ndim=1) * 10

    v = model_dir(tmp_path, "m")
    (v / "model.dali").write_bytes(serialized().serialize())
    (v / "dali.py").write_text("raise SystemExit('must not be imported')")
    model = load_model(tmp_path, "m")
    assert model.source == v / "model.dali" and model.max_batch_size == 3
