"""Pure functions: does the pipeline fit the model, and how does a batch become requests.

``model_spec`` reads the V2 model metadata (and Triton's model config where the server has one)
into a ModelSpec; ``check_fit`` checks the pipeline's outputs against it once, at start-up, and
returns a FitPlan or raises ModelFitError listing every problem; ``plan_requests`` turns a batch
of samples into requests that respect ``max_batch_size`` and uniform shapes.

Shapes here are per sample (no batch axis); -1 is a variable dimension.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from worker.inference.errors import ModelFitError

_V2 = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}
_CONFIG_ALIASES = {"STRING": "BYTES"}


def numpy_dtype(datatype: str) -> np.dtype:
    """V2 ('FP32') or Triton config ('TYPE_FP32') datatype name → numpy dtype."""
    name = datatype.removeprefix("TYPE_")
    name = _CONFIG_ALIASES.get(name, name)
    if name not in _V2:
        raise ModelFitError(f"datatype {datatype!r} is not supported (known: {sorted(_V2)})")
    return np.dtype(_V2[name])


def v2_datatype(dtype: np.dtype) -> str:
    dtype = np.dtype(dtype)
    for name, np_type in _V2.items():
        if np.dtype(np_type) == dtype:
            return name
    raise ModelFitError(f"numpy dtype {dtype} has no V2 datatype")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]  # per sample; -1 = any

    def describe(self) -> str:
        return f"{v2_datatype(self.dtype)}{list(self.shape)}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batched: bool  # False: each request is one sample, sent without a batch axis
    max_batch_size: int | None  # None: the server gave no limit
    extensions: tuple[str, ...] = ()

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)


@dataclass(frozen=True)
class PipelineOutput:
    name: str
    dtype: np.dtype
    ndim: int
    shape: tuple[int, ...] | None = None  # known per-sample shape; -1 = varies; None = unknown


@dataclass(frozen=True)
class Binding:
    source: str  # pipeline output (or encoded field in dali_backend mode)
    target: TensorSpec  # model input


@dataclass(frozen=True)
class FitPlan:
    bindings: tuple[Binding, ...]
    outputs: tuple[str, ...]
    batched: bool
    max_batch_size: int | None
    ragged: str  # "pad" | "per_sample"
    pad_value: float
    classify_output: str | None


@dataclass
class Request:
    indices: list[int]  # positions of the samples in the caller's batch
    arrays: dict[str, np.ndarray]  # model input → tensor (batch axis first when batched)


def model_spec(metadata: dict, config: dict | None, *, route_max_batch_size: int | None = None,
               extensions: Iterable[str] = ()) -> ModelSpec:
    """ModelSpec from V2 metadata (HTTP JSON or gRPC ``as_json``: int64 may come as strings)
    and Triton's model config (None where the server has no config endpoint, e.g. MLServer).

    Without a config, a leading -1 in every input's metadata shape is read as the batch axis
    and ``route_max_batch_size`` (if any) is the limit."""
    config = (config or {}).get("config", config)  # gRPC wraps it in {"config": ...}
    name = metadata.get("name", "?")
    inputs = [_tensor(t) for t in metadata.get("inputs", [])]
    outputs = [_tensor(t) for t in metadata.get("outputs", [])]
    if config:
        mbs = int(config.get("max_batch_size", 0) or 0)
        batched = mbs > 0
        limit = mbs if batched else None
        if batched and route_max_batch_size:
            limit = min(limit, route_max_batch_size)
    else:
        batched = bool(inputs) and all(t.shape[:1] == (-1,) for t in inputs)
        limit = route_max_batch_size if batched else None
    if batched:  # metadata shapes carry the batch axis; strip it
        inputs = [TensorSpec(t.name, t.dtype, t.shape[1:]) for t in inputs]
        outputs = [TensorSpec(t.name, t.dtype, t.shape[1:]) for t in outputs]
    return ModelSpec(name, tuple(inputs), tuple(outputs), batched, limit, tuple(extensions))


def _tensor(t: dict) -> TensorSpec:
    return TensorSpec(t["name"], numpy_dtype(t["datatype"]), tuple(int(d) for d in t["shape"]))


def pipeline_outputs(specs: dict[str, Any]) -> dict[str, PipelineOutput]:
    """Accept ``{name: (dtype, ndim)}``, ``{name: (dtype, ndim, shape)}`` or PipelineOutput."""
    out = {}
    for name, spec in specs.items():
        if isinstance(spec, PipelineOutput):
            out[name] = spec
            continue
        dtype, ndim, *rest = spec
        shape = tuple(int(d) for d in rest[0]) if rest and rest[0] is not None else None
        out[name] = PipelineOutput(name, np.dtype(dtype), int(ndim), shape)
    return out


def check_fit(pipeline: dict[str, PipelineOutput], model: ModelSpec, *, inputs: dict[str, str],
              outputs: Iterable[str] = (), ragged: str = "per_sample", pad_value: float = 0.0,
              top_k: int = 0, classify_output: str | None = None, num_labels: int | None = None,
              where: str = "model") -> FitPlan:
    """Every problem at once, each naming the pipeline output, the model input and the fix."""
    problems: list[str] = []
    mapping = dict(inputs) or _default_mapping(pipeline, model)
    for source, target in mapping.items():
        if source not in pipeline:
            problems.append(f"{where}.inputs: pipeline has no output {source!r} "
                            f"(it has {sorted(pipeline)})")
        if model.input(target) is None:
            problems.append(f"{where}.inputs: model {model.name!r} has no input {target!r} "
                            f"(it has {[t.name for t in model.inputs]})")
    fed = set(mapping.values())
    for t in model.inputs:
        if t.name not in fed:
            problems.append(
                f"model input {t.name!r} ({t.describe()}) is fed by no pipeline output; map one "
                f"in {where}.inputs, e.g. inputs = {{ <pipeline output> = {t.name!r} }} "
                f"(pipeline outputs: {sorted(pipeline)})")
    bindings = []
    for source, target in mapping.items():
        p, t = pipeline.get(source), model.input(target)
        if p is None or t is None:
            continue
        bindings.append(Binding(source, t))
        problems += _check_tensor(p, t, ragged, model.batched)
    out_names = tuple(outputs) or tuple(t.name for t in model.outputs)
    model_outputs = {t.name: t for t in model.outputs}
    for name in out_names:
        if name not in model_outputs:
            problems.append(f"{where}.outputs: model {model.name!r} has no output {name!r} "
                            f"(it has {sorted(model_outputs)})")
    if top_k:
        if classify_output is None:
            if len(out_names) == 1:
                classify_output = out_names[0]
            else:
                problems.append(f"{where}.top_k: the model has outputs {list(out_names)}; say "
                                f"which holds the scores with {where}.classify_output")
        if classify_output is not None:
            problems += _check_scores(classify_output, model_outputs, out_names, num_labels,
                                      where)
    if problems:
        raise ModelFitError(f"pipeline outputs do not fit model {model.name!r}:\n  - "
                            + "\n  - ".join(problems))
    return FitPlan(tuple(bindings), out_names, model.batched, model.max_batch_size, ragged,
                   pad_value, classify_output if top_k else None)


def _default_mapping(pipeline: dict[str, PipelineOutput], model: ModelSpec) -> dict[str, str]:
    same = {t.name: t.name for t in model.inputs if t.name in pipeline}
    if same:
        return same
    if len(model.inputs) == 1 and len(pipeline) == 1:
        return {next(iter(pipeline)): model.inputs[0].name}
    return {}


def _check_tensor(p: PipelineOutput, t: TensorSpec, ragged: str, batched: bool) -> list[str]:
    what = f"pipeline output {p.name!r} → model input {t.name!r}"
    problems = []
    if p.dtype != t.dtype:
        problems.append(f"{what}: dtype {p.dtype} but the model wants {v2_datatype(t.dtype)} "
                        f"({t.dtype}); cast in the pipeline (fn.cast) or change the model")
    if p.ndim != len(t.shape):
        axis = " (the model's batch axis is not counted)" if batched else ""
        problems.append(f"{what}: {p.ndim} dims per sample but the model wants "
                        f"{len(t.shape)} {list(t.shape)}{axis}; reshape in the pipeline")
    elif p.shape is not None:
        for axis, (pd, td) in enumerate(zip(p.shape, t.shape)):
            if td == -1 or pd == td:
                continue
            if pd == -1 and ragged != "pad":
                problems.append(
                    f"{what}: axis {axis} varies from sample to sample but the model fixes it "
                    f"to {td}; resize/crop in the pipeline, or set ragged = \"pad\" to pad "
                    f"with pad_value up to {td}")
            elif pd > td:
                problems.append(f"{what}: axis {axis} is {pd} but the model allows {td}; "
                                "crop or resize in the pipeline")
            elif 0 <= pd < td and ragged != "pad":
                problems.append(f"{what}: axis {axis} is {pd} but the model wants {td}; "
                                "resize in the pipeline or set ragged = \"pad\"")
    return problems


def _check_scores(name, model_outputs, out_names, num_labels, where) -> list[str]:
    if name not in model_outputs:
        return [f"{where}.classify_output: model has no output {name!r}"]
    if name not in out_names:
        return [f"{where}.classify_output {name!r} is not among {where}.outputs {list(out_names)}"]
    shape = [d for d in model_outputs[name].shape if d != 1]
    if len(shape) > 1:
        return [f"{where}.classify_output {name!r} has per-sample shape "
                f"{list(model_outputs[name].shape)}; top-k needs one score per class"]
    if num_labels is not None and shape and shape[0] not in (-1, num_labels):
        return [f"{where}.labels_file has {num_labels} labels but output {name!r} has "
                f"{shape[0]} classes"]
    return []


def sample_problem(sample: dict[str, np.ndarray], plan: FitPlan) -> str | None:
    """Why this sample cannot go to the model (runtime check of what start-up could not see)."""
    for b in plan.bindings:
        arr = sample.get(b.source)
        if arr is None:
            return f"pipeline output {b.source!r} missing from the sample"
        if arr.dtype != b.target.dtype or arr.ndim != len(b.target.shape):
            return (f"{b.source!r} is {arr.dtype}{list(arr.shape)}, model input "
                    f"{b.target.name!r} wants {b.target.describe()}")
        for axis, (n, want) in enumerate(zip(arr.shape, b.target.shape)):
            if want != -1 and (n > want or (n < want and plan.ragged != "pad")):
                return (f"{b.source!r} has shape {list(arr.shape)}; model input "
                        f"{b.target.name!r} wants {b.target.describe()} (axis {axis})")
    return None


def plan_requests(samples: list[dict[str, np.ndarray]], plan: FitPlan,
                  indices: list[int] | None = None) -> tuple[list[Request], dict[int, str]]:
    """Requests for the samples at ``indices`` (default: all) and {index: reason} for samples
    that cannot be sent. Uniform samples share requests up to max_batch_size; ragged ones are
    padded (ragged="pad") or grouped by identical shape (ragged="per_sample")."""
    indices = list(range(len(samples))) if indices is None else indices
    rejected, ok = {}, []
    for i in indices:
        reason = sample_problem(samples[i], plan)
        if reason:
            rejected[i] = reason
        else:
            ok.append(i)
    if not plan.batched:
        reqs = [Request([i], {b.target.name: samples[i][b.source] for b in plan.bindings})
                for i in ok]
        return reqs, rejected
    limit = plan.max_batch_size or max(len(ok), 1)
    if plan.ragged == "pad":
        groups = [ok]
    else:
        by_shape: dict[tuple, list[int]] = {}
        for i in ok:
            key = tuple(samples[i][b.source].shape for b in plan.bindings)
            by_shape.setdefault(key, []).append(i)
        groups = list(by_shape.values())
    reqs = []
    for group in groups:
        for start in range(0, len(group), limit):
            chunk = group[start:start + limit]
            reqs.append(Request(chunk, {b.target.name: _stack([samples[i][b.source]
                                                               for i in chunk], b.target,
                                                              plan.pad_value)
                                        for b in plan.bindings}))
    return reqs, rejected


def _stack(arrays: list[np.ndarray], target: TensorSpec, pad_value: float) -> np.ndarray:
    shape = tuple(td if td != -1 else max(a.shape[axis] for a in arrays)
                  for axis, td in enumerate(target.shape))
    if all(a.shape == shape for a in arrays):
        return np.stack(arrays)
    out = np.full((len(arrays), *shape), pad_value, dtype=target.dtype)
    for k, a in enumerate(arrays):
        out[(k, *tuple(slice(0, n) for n in a.shape))] = a
    return out


def split_outputs(outputs: dict[str, np.ndarray], request: Request,
                  batched: bool) -> list[dict[str, np.ndarray]]:
    """One {output: array} per sample of ``request``, in its order."""
    if not batched:
        return [outputs]
    for name, arr in outputs.items():
        if arr.shape[:1] != (len(request.indices),):
            raise ValueError(f"output {name!r} has shape {list(arr.shape)}, expected "
                             f"{len(request.indices)} samples on axis 0")
    return [{name: arr[k] for name, arr in outputs.items()} for k in range(len(request.indices))]
