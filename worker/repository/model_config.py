"""config.pbtxt: parse (protobuf text format, Triton's own ModelConfig message), auto-fill from
the pipeline, and check against it. Pure functions: no files, no DALI objects.

Rules, as the DALI backend applies them:
- inputs are matched by name to the pipeline's named ``fn.external_source`` operators; missing
  ``data_type``/``dims`` are filled from the operator's ``dtype``/``ndim`` (``dims: [-1]*ndim``,
  ``allow_ragged_batch: true``); inputs the config omits are appended;
- outputs are matched by position; names in config.pbtxt win over the pipeline's own output
  names (the names DALI serialized in ``pipe_outputs``, e.g. ``__CropMirrorNormalize_2``;
  AutofillIOConfig in src/config_tools/config_tools.cc takes ``GetOutputName(i)``); missing
  ``data_type``/``dims`` come from ``@pipeline_def(output_dtype=..., output_ndim=...)``;
- ``max_batch_size`` comes from the pipeline's ``batch_size`` unless the config sets it. Whether
  the config sets it is read from the raw text (:func:`explicit_max_batch_size`), since proto3
  parses an absent field and ``max_batch_size: 0`` alike;
- an explicit ``max_batch_size: 0`` makes an *unbatched* model (``DaliModel::Batched()``): its
  dims include the batch dimension, so the pipeline's ndim gets a leading ``-1``
  (``add_batch_dim`` in config_tools.cc), and ``max_batch_size`` stays 0; a negative one
  (``-1``) is replaced by the pipeline's ``batch_size`` (AutofillConfig);
- outputs named in ``parameters { key: "split_along_outer_axis" }`` (``:``-separated) are
  split: one sample of shape (n, ...) becomes n samples, so their dims lose the outer
  dimension (ReadPipelineProperties in src/dali_model.h erases it before autofill).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError

# DALIDataType value -> (Triton data type, numpy dtype)
DALI_TYPES = {
    0: ("TYPE_UINT8", np.uint8), 1: ("TYPE_UINT16", np.uint16), 2: ("TYPE_UINT32", np.uint32),
    3: ("TYPE_UINT64", np.uint64), 4: ("TYPE_INT8", np.int8), 5: ("TYPE_INT16", np.int16),
    6: ("TYPE_INT32", np.int32), 7: ("TYPE_INT64", np.int64), 8: ("TYPE_FP16", np.float16),
    9: ("TYPE_FP32", np.float32), 10: ("TYPE_FP64", np.float64), 11: ("TYPE_BOOL", np.bool_),
}
TRITON_TO_NUMPY = {t: np.dtype(n) for t, n in DALI_TYPES.values()}


@dataclass(frozen=True)
class TensorFacts:
    """What the pipeline itself says about one input or output (None: it does not say)."""
    name: str
    dali_dtype: int | None = None
    ndim: int | None = None

    @property
    def triton_type(self) -> str | None:
        if self.dali_dtype is None or self.dali_dtype < 0:
            return None
        return DALI_TYPES.get(self.dali_dtype, (f"DALI type {self.dali_dtype}", None))[0]


@dataclass(frozen=True)
class PipelineFacts:
    batch_size: int
    inputs: list[TensorFacts] = field(default_factory=list)
    outputs: list[TensorFacts] = field(default_factory=list)


def _pb2():
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2


def type_name(value: int) -> str:
    return _pb2().DataType.Name(value)


def type_value(name: str) -> int:
    return _pb2().DataType.Value(name)


def parse_text(text: str, model: str):
    """Parse config.pbtxt text into a ``ModelConfig`` of any backend; errors name the model
    and the line."""
    from google.protobuf import text_format

    config = _pb2().ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ConfigError(f"model {model!r}: config.pbtxt does not parse: {e}; it is protobuf "
                          f"text format of Triton's ModelConfig (see Triton's model_config.proto)") from None
    return config


def other_backend(config) -> str | None:
    """``'backend X'`` / ``'platform X'`` when config.pbtxt names one that is not DALI, else None."""
    for field in ("backend", "platform"):
        value = getattr(config, field)
        if value and value != "dali":
            return f"{field} {value}"
    return None


def parse_config(text: str, model: str):
    """Parse a DALI model's config.pbtxt; errors name the model, the line or field, and the fix."""
    config = parse_text(text, model)
    if config.name and config.name != model:
        raise ConfigError(f"model {model!r}: config.pbtxt says name: {config.name!r}; the name "
                          f"must match the model folder: set name: \"{model}\" or remove it")
    other = other_backend(config)
    if other:
        backend = other.split(" ", 1)[1]
        raise ConfigError(f"model {model!r}: config.pbtxt names {other!r}: a model for backend "
                          f"{backend!r}, which Triton serves, not this worker (it runs DALI "
                          f"pipelines only); if it is a DALI pipeline set backend: \"dali\"")
    return config


def explicit_max_batch_size(text: str) -> int | None:
    """The top-level ``max_batch_size`` written in config.pbtxt, None when absent: the DALI
    backend's ReadMBSFromPBtxt (src/config_tools/config_tools.cc), which skips comments,
    strings and ``[...]``/``{...}`` blocks, done here with protobuf's own tokenizer. ``text``
    must already parse (see :func:`parse_text`)."""
    from google.protobuf import text_format

    tok = text_format.Tokenizer(text.splitlines())
    depth = 0
    while not tok.AtEnd():
        if tok.token in ("{", "[", "<"):
            depth += 1
        elif tok.token in ("}", "]", ">"):
            depth -= 1
        elif depth == 0 and tok.token == "max_batch_size":
            tok.NextToken()
            tok.TryConsume(":")
            return tok.ConsumeInteger()
        tok.NextToken()
    return None


SPLIT_PARAMETER = "split_along_outer_axis"


def split_outputs(config) -> list[str]:
    """The outputs config.pbtxt's ``split_along_outer_axis`` parameter names (``A:B``), as
    ModelParameters::GetOutputsToSplit (src/parameters.h) reads them."""
    if config is None or SPLIT_PARAMETER not in config.parameters:
        return []
    return [n for n in config.parameters[SPLIT_PARAMETER].string_value.split(":") if n]


def split_positions(config, pipeline_names, model: str) -> dict[str, int]:
    """Each output ``split_along_outer_axis`` names -> its position, found by its config.pbtxt
    name or else the pipeline's own (the backend matches the pipeline's name when it fills dims
    and the config's when it runs); a name that is neither is refused."""
    config_names = [t.name for t in config.output] if config is not None else []
    found = {}
    for name in split_outputs(config):
        at = next((i for i, n in enumerate(config_names) if n == name), None)
        if at is None:
            at = next((i for i, n in enumerate(pipeline_names) if n == name), None)
        if at is None or at >= len(pipeline_names):
            known = ", ".join(repr(n) for n in (config_names or pipeline_names))
            raise ConfigError(f"model {model!r}: parameters {SPLIT_PARAMETER} names output {name!r}, "
                              f"which the model does not have (outputs: {known}): list output names "
                              f"separated by ':'")
        found[name] = at
    return found


def _split_facts(facts: PipelineFacts, config, model: str) -> PipelineFacts:
    """``facts`` with the split outputs' outer dimension removed; an output the pipeline
    declares 1-D cannot split and is refused."""
    positions = split_positions(config, [o.name for o in facts.outputs], model)
    if not positions:
        return facts
    outputs = list(facts.outputs)
    for name, at in positions.items():
        out = outputs[at]
        if out.ndim is not None and out.ndim < 2:
            raise ConfigError(f"model {model!r}: parameters {SPLIT_PARAMETER} names output {name!r}, "
                              f"which the pipeline declares {out.ndim}-D: only outputs of 2 or more "
                              f"dimensions split along their outer axis; remove it from the list")
        outputs[at] = TensorFacts(out.name, out.dali_dtype, None if out.ndim is None else out.ndim - 1)
    return PipelineFacts(facts.batch_size, facts.inputs, outputs)


def new_config(model: str):
    config = _pb2().ModelConfig()
    config.name = model
    config.backend = "dali"
    return config


def _fill_tensor(tensor, facts: TensorFacts, model: str, kind: str, where: str, batched: bool = True):
    """Fill and check one ModelInput/ModelOutput against what the pipeline says. An unbatched
    model's dims carry the batch dimension first (as Triton's DALI backend fills them)."""
    pb = _pb2()
    if facts.ndim is not None and not batched:
        facts = TensorFacts(facts.name, facts.dali_dtype, facts.ndim + 1)
    if facts.triton_type is not None:
        if tensor.data_type == pb.TYPE_INVALID:
            tensor.data_type = type_value(facts.triton_type)
        elif type_name(tensor.data_type) != facts.triton_type:
            raise ConfigError(
                f"model {model!r}: mismatch of data_type for {kind} {tensor.name!r}: config.pbtxt "
                f"says {type_name(tensor.data_type)}, the pipeline {where} gives "
                f"{facts.triton_type}: change data_type in config.pbtxt or the dtype in the pipeline")
    if tensor.data_type == pb.TYPE_INVALID:
        arg = "dtype= of its fn.external_source" if kind == "input" else "@pipeline_def(output_dtype=[...])"
        raise ConfigError(f"model {model!r}: no data type for {kind} {tensor.name!r}: set "
                          f"data_type in config.pbtxt or {arg}")
    if type_name(tensor.data_type) not in TRITON_TO_NUMPY:
        raise ConfigError(f"model {model!r}: {kind} {tensor.name!r} has data_type "
                          f"{type_name(tensor.data_type)}, which DALI cannot feed or return; use "
                          f"a numeric type (encoded media: TYPE_UINT8)")
    if facts.ndim is not None:
        if not tensor.dims:
            tensor.dims.extend([-1] * facts.ndim)
        elif len(tensor.dims) != facts.ndim:
            raise ConfigError(
                f"model {model!r}: mismatch of dims for {kind} {tensor.name!r}: config.pbtxt has "
                f"{len(tensor.dims)} dims {list(tensor.dims)}, the pipeline {where} gives ndim "
                f"{facts.ndim}: make them agree ("
                + ("dims exclude the batch dimension)" if batched else
                   "max_batch_size is 0, so dims include the batch dimension first)"))
    if not tensor.dims:
        arg = "ndim= of its fn.external_source" if kind == "input" else "@pipeline_def(output_ndim=[...])"
        raise ConfigError(f"model {model!r}: no dims for {kind} {tensor.name!r}: set dims in "
                          f"config.pbtxt or {arg}")


def autofill_and_validate(config, facts: PipelineFacts, model: str, batched: bool = True):
    """A complete ModelConfig: ``config`` (or a new one) merged with and checked against
    ``facts``. Raises ConfigError naming the model, the field and the fix. ``batched`` False:
    an unbatched model (config.pbtxt's explicit ``max_batch_size: 0``)."""
    out = new_config(model)
    if config is not None:
        out.CopyFrom(config)
        out.name = model
        out.backend = out.backend or "dali"
        out.ClearField("platform")
    pipeline_inputs = {i.name: i for i in facts.inputs}
    # inputs: by name
    seen = set()
    for tensor in out.input:
        if tensor.name in seen:
            raise ConfigError(f"model {model!r}: input {tensor.name!r} appears twice in config.pbtxt")
        seen.add(tensor.name)
        if tensor.name not in pipeline_inputs:
            known = ", ".join(repr(n) for n in pipeline_inputs) or "none"
            raise ConfigError(
                f"model {model!r}: config.pbtxt has input {tensor.name!r} but no "
                f"fn.external_source in the pipeline is named so (named external sources: "
                f"{known}): rename the input in config.pbtxt or pass name={tensor.name!r} to "
                f"fn.external_source")
        _fill_tensor(tensor, pipeline_inputs[tensor.name], model, "input", "external_source", batched)
        if not tensor.HasField("reshape"):
            tensor.allow_ragged_batch = True
    for name, inp in pipeline_inputs.items():
        if name not in seen:
            tensor = out.input.add()
            tensor.name = name
            tensor.allow_ragged_batch = True
            _fill_tensor(tensor, inp, model, "input", "external_source", batched)
    # outputs: by position
    listed = len(out.output)
    if listed > len(facts.outputs):
        raise ConfigError(f"{_count_mismatch(model, listed, len(facts.outputs))}: remove the extra "
                          f"output entries")
    facts = _split_facts(facts, out, model)
    for i, pout in enumerate(facts.outputs):
        tensor = out.output[i] if i < len(out.output) else out.output.add()
        if not tensor.name:
            if not pout.name:
                raise ConfigError(f"model {model!r}: the pipeline gives output {i} no name: "
                                  f"name it in config.pbtxt's output list (by position)")
            tensor.name = pout.name
        if 0 < listed <= i and (pout.triton_type is None or pout.ndim is None):
            # the user listed some outputs and the pipeline cannot fill the rest: the mistake is
            # the count (the backend's words), not the dtype autofill then misses
            raise ConfigError(f"{_count_mismatch(model, listed, len(facts.outputs))}: list all "
                              f"{len(facts.outputs)} outputs in config.pbtxt, by position (output "
                              f"{i} is the pipeline's {pout.name or 'unnamed output'}), or declare "
                              f"them in @pipeline_def(output_dtype=[...], output_ndim=[...])")
        _fill_tensor(tensor, pout, model, "output", f"(output {i})", batched)
    names = [t.name for t in out.output]
    if len(set(names)) != len(names):
        raise ConfigError(f"model {model!r}: output names repeat ({names}): give each a unique "
                          f"name in config.pbtxt's output list (outputs are matched by position)")
    # batch size: below 0 (-1) or an absent one in a batched model is the pipeline's, as
    # AutofillConfig does
    if out.max_batch_size < 0 or (out.max_batch_size == 0 and batched):
        out.max_batch_size = facts.batch_size
    return out


def _count_mismatch(model: str, listed: int, returned: int) -> str:
    """The backend's words (AutofillOutputsConfig, ValidateOutputs in config_tools.cc)."""
    return (f"model {model!r}: the number of outputs specified in the DALI pipeline and the "
            f"configuration file do not match: config.pbtxt lists {listed}, the pipeline returns "
            f"{returned}")


def numpy_dtype(data_type: int) -> np.dtype:
    return TRITON_TO_NUMPY[type_name(data_type)]
