"""config.pbtxt parsing, auto-fill and validation (pure functions), and reading serialized
pipelines."""
import re

import pytest

from worker.repository import model_config as mc
from worker.repository.errors import ConfigError, RepositoryError
from worker.repository.serialized import read_serialized

UINT8, FLOAT = 0, 9


def facts():
    return mc.PipelineFacts(batch_size=16,
                            inputs=[mc.TensorFacts("image", UINT8, 1), mc.TensorFacts("window", FLOAT, 1)],
                            outputs=[mc.TensorFacts("__Crop_1", FLOAT, 3), mc.TensorFacts("__Cast_2", None, None)])


def test_parse_error_names_model_and_line():
    with pytest.raises(ConfigError, match=r"model 'm': config.pbtxt does not parse: 2:"):
        mc.parse_config('name: "m"\nmax_batch_size: "x"\n', "m")


def test_name_must_match_folder():
    with pytest.raises(ConfigError, match='set name: "m"'):
        mc.parse_config('name: "other"', "m")


def test_other_backend_refused():
    with pytest.raises(ConfigError, match=r"model 'm': config.pbtxt names 'backend onnxruntime': "
                                          r"a model for backend 'onnxruntime', which Triton serves"):
        mc.parse_config('backend: "onnxruntime"', "m")


@pytest.mark.parametrize("text, other", [('platform: "onnxruntime_onnx"', "platform onnxruntime_onnx"),
                                         ('backend: "python"', "backend python"),
                                         ('platform: "ensemble"', "platform ensemble"),
                                         ('backend: "dali"', None), ("max_batch_size: 4", None)])
def test_other_backend_is_read_without_refusing(text, other):
    assert mc.other_backend(mc.parse_text(text, "m")) == other


@pytest.mark.parametrize("text, value", [
    ("", None),
    ('backend: "dali"\n# max_batch_size: 5\n', None),           # a comment
    ("max_batch_size: 0", 0),                                    # proto3 parses this as absent
    ("max_batch_size: -1", -1),
    ('parameters [ { key: "max_batch_size" value: { string_value: "3" } } ]\nmax_batch_size: 7', 7),
    ('input [ { name: "max_batch_size" dims: [ -1 ] } ]', None),  # nested, not the field
    ("dynamic_batching { max_queue_delay_microseconds: 5 }", None),
])
def test_explicit_max_batch_size_reads_the_raw_text(text, value):
    mc.parse_text(text, "m")
    assert mc.explicit_max_batch_size(text) == value


def test_autofill_from_pipeline_alone():
    f = mc.PipelineFacts(16, [mc.TensorFacts("image", UINT8, 1)],
                         [mc.TensorFacts("__CropMirrorNormalize_2", FLOAT, 3)])
    cfg = mc.autofill_and_validate(None, f, "m")
    assert cfg.name == "m" and cfg.backend == "dali" and cfg.max_batch_size == 16
    (inp,) = cfg.input
    assert (inp.name, mc.type_name(inp.data_type), list(inp.dims), inp.allow_ragged_batch) == \
        ("image", "TYPE_UINT8", [-1], True)
    (out,) = cfg.output
    # the pipeline's own output name, as the DALI backend's autoconfig takes it
    assert (out.name, mc.type_name(out.data_type), list(out.dims)) == \
        ("__CropMirrorNormalize_2", "TYPE_FP32", [-1, -1, -1])


def test_unnamed_pipeline_output_needs_a_config_name():
    f = mc.PipelineFacts(16, [], [mc.TensorFacts("", FLOAT, 3)])
    with pytest.raises(ConfigError, match=r"model 'm': the pipeline gives output 0 no name: name "
                                          r"it in config.pbtxt"):
        mc.autofill_and_validate(None, f, "m")
    assert mc.autofill_and_validate(mc.parse_config('output [ { name: "o" } ]', "m"), f, "m").output[0].name == "o"


@pytest.mark.parametrize("value", [-1, -5])
def test_negative_max_batch_size_is_the_pipelines(value):
    """AutofillConfig (config_tools.cc) replaces a max_batch_size below 0 with the pipeline's."""
    text = f'max_batch_size: {value}\noutput [ {{ name: "a" }}, {{ name: "b" data_type: TYPE_INT32 dims: [ 1 ] }} ]'
    cfg = mc.autofill_and_validate(mc.parse_config(text, "m"), facts(), "m")
    assert cfg.max_batch_size == facts().batch_size


def test_fewer_outputs_than_the_pipeline_is_the_count_mismatch():
    """The backend's words name the user's mistake (the count), not the dtype autofill misses."""
    f = mc.PipelineFacts(4, [], [mc.TensorFacts("a", FLOAT, 1), mc.TensorFacts("b")])
    cfg = mc.parse_config('output [ { name: "A" data_type: TYPE_FP32 dims: [ -1 ] } ]', "m")
    with pytest.raises(ConfigError, match=r"model 'm': the number of outputs specified in the DALI "
                       r"pipeline and the configuration file do not match: config.pbtxt lists 1, the "
                       r"pipeline returns 2: list all 2 outputs in config.pbtxt, by position"):
        mc.autofill_and_validate(cfg, f, "m")
    with pytest.raises(ConfigError, match="do not match: config.pbtxt lists 3, the pipeline returns 2"):
        mc.autofill_and_validate(mc.parse_config('output [ {name: "x"}, {name: "y"}, {name: "z"} ]', "m"),
                                 f, "m")


def test_split_along_outer_axis_drops_the_outer_dimension():
    """ReadPipelineProperties (src/dali_model.h) erases a split output's outer dimension
    before autofill; config dims with it are refused as the backend's MatchShapes does."""
    f = mc.PipelineFacts(4, [], [mc.TensorFacts("__Resize_3", 0, 4), mc.TensorFacts("n", 6, 1)])
    split = 'parameters [ { key: "split_along_outer_axis" value: { string_value: "FRAMES" } } ]\n'
    cfg = mc.autofill_and_validate(mc.parse_config(split + 'output [ { name: "FRAMES" } ]', "m"), f, "m")
    assert list(cfg.output[0].dims) == [-1, -1, -1] and list(cfg.output[1].dims) == [-1]
    assert mc.split_outputs(cfg) == ["FRAMES"]
    with pytest.raises(ConfigError, match=r"mismatch of dims for output 'FRAMES': config.pbtxt has 4 dims"):
        mc.autofill_and_validate(mc.parse_config(
            split + 'output [ { name: "FRAMES" dims: [ -1, -1, -1, 3 ] } ]', "m"), f, "m")
    by_pipeline_name = split.replace("FRAMES", "__Resize_3")
    assert list(mc.autofill_and_validate(mc.parse_config(by_pipeline_name, "m"), f, "m").output[0].dims) == [-1] * 3
    with pytest.raises(ConfigError, match=r"split_along_outer_axis names output 'nope', which the model "
                                          r"does not have"):
        mc.autofill_and_validate(mc.parse_config(split.replace("FRAMES", "nope"), "m"), f, "m")
    with pytest.raises(ConfigError, match=r"names output 'n', which the pipeline declares 1-D"):
        mc.autofill_and_validate(mc.parse_config(split.replace("FRAMES", "n"), "m"), f, "m")


def test_partial_config_is_merged():
    cfg = mc.parse_config("""
        max_batch_size: 8
        input [ { name: "window" dims: [ 4 ] } ]
        output [ { name: "pixels" }, { name: "boxes" data_type: TYPE_INT32 dims: [ -1, 4 ] } ]
    """, "m")
    full = mc.autofill_and_validate(cfg, facts(), "m")
    assert full.max_batch_size == 8
    assert [i.name for i in full.input] == ["window", "image"]
    assert list(full.input[0].dims) == [4] and mc.type_name(full.input[0].data_type) == "TYPE_FP32"
    assert [o.name for o in full.output] == ["pixels", "boxes"]
    assert mc.type_name(full.output[1].data_type) == "TYPE_INT32"


def test_input_without_external_source():
    cfg = mc.parse_config('input [ { name: "img" data_type: TYPE_UINT8 dims: [-1] } ]', "m")
    with pytest.raises(ConfigError, match=r"model 'm': config.pbtxt has input 'img' but no "
                                          r"fn.external_source .*'image', 'window'.*name='img'"):
        mc.autofill_and_validate(cfg, facts(), "m")


def test_data_type_mismatch():
    cfg = mc.parse_config('input [ { name: "image" data_type: TYPE_FP32 } ]', "m")
    with pytest.raises(ConfigError, match=r"mismatch of data_type for input 'image': config.pbtxt "
                                          r"says TYPE_FP32, the pipeline external_source gives TYPE_UINT8"):
        mc.autofill_and_validate(cfg, facts(), "m")


def test_dims_mismatch():
    cfg = mc.parse_config('output [ { name: "o" dims: [ 224, 224 ] } ]', "m")
    with pytest.raises(ConfigError, match=r"mismatch of dims for output 'o'.*ndim 3"):
        mc.autofill_and_validate(cfg, facts(), "m")


def test_too_many_outputs():
    cfg = mc.parse_config('output [ {name: "a"}, {name: "b"}, {name: "c"} ]', "m")
    with pytest.raises(ConfigError, match="config.pbtxt lists 3, the pipeline returns 2"):
        mc.autofill_and_validate(cfg, facts(), "m")


def test_output_type_unknown_everywhere():
    with pytest.raises(ConfigError, match=r"no data type for output '__Cast_2'.*output_dtype"):
        mc.autofill_and_validate(None, facts(), "m")


def test_read_serialized_finds_named_external_sources():
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=8, num_threads=3, device_id=None)
    def two_inputs():
        a = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)
        b = fn.external_source(name="scale", dtype=types.FLOAT, ndim=1)
        unused = fn.external_source(name="unused", dtype=types.INT32)  # pruned by DALI
        del unused
        img = fn.decoders.image(a, device="mixed")
        return img, b * 2

    info = read_serialized(two_inputs().serialize())
    assert (info.batch_size, info.num_threads) == (8, 3)
    assert [(i.name, i.dtype, i.ndim) for i in info.inputs] == [("encoded", UINT8, 1), ("scale", FLOAT, 1)]
    assert info.needs_gpu and "decoders__Image" in info.gpu_operators()
    assert len(info.output_names) == 2


def test_read_serialized_rejects_garbage():
    with pytest.raises(RepositoryError, match="not a serialized DALI pipeline"):
        read_serialized(b"\x00\x01garbage\xff", "model 'm'")
    with pytest.raises(RepositoryError, match="not a serialized DALI pipeline"):
        read_serialized(b"", "model 'm'")


def test_layout_without_ndim_gives_ndim():
    """DALI's ExternalSource infers ndim from a layout (InferNdim), and the backend's autoconfig
    reads that ndim; the serialized pipeline itself carries only the layout."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def hwc():
        images = fn.external_source(name="images", dtype=types.UINT8, layout="HWC")
        plain = fn.external_source(name="plain", dtype=types.UINT8)
        return fn.flip(images), plain

    info = read_serialized(hwc().serialize())
    assert [(i.name, i.ndim, i.layout) for i in info.inputs] == [("images", 3, "HWC"), ("plain", None, "")]


def test_pipeline_output_names_are_the_serialized_ones():
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=2, num_threads=1, device_id=None)
    def named():
        images = fn.external_source(name="images", dtype=types.UINT8, ndim=3)
        return fn.flip(images), images

    assert re.fullmatch(r"__Flip_\d+", read_serialized(named().serialize()).output_names[0])
    assert read_serialized(named().serialize()).output_names[1] == "images"


def test_deserializable_as_dali_checks_required_fields():
    from worker.repository.serialized import deserialize_problem

    assert "batch_size" in deserialize_problem(b"")       # DALI's PipelineDef requires it
    assert deserialize_problem(b"\x00\x01garbage\xff")
