"""Pipeline outputs to per-sample numpy arrays on the host: one device-to-host copy per output
per batch (``as_cpu``), one host copy per batch for uniform shapes (``as_array``, then views per
sample), a copy per sample only when shapes differ. Optional casts (e.g. float16, uint8) apply
to the whole batch at once."""
from __future__ import annotations

import numpy as np

from .errors import PipelineError


def parse_cast(output_cast, output_names: list[str]) -> dict[str, np.dtype]:
    """``None`` | "float16" (all outputs) | {"out": "uint8"} -> {output name: dtype}."""
    if not output_cast:
        return {}
    if isinstance(output_cast, str):
        return {n: np.dtype(output_cast) for n in output_names}
    unknown = set(output_cast) - set(output_names)
    if unknown:
        raise PipelineError(f"output_cast names unknown outputs {sorted(unknown)}; outputs are "
                            f"{output_names}")
    return {n: np.dtype(t) for n, t in output_cast.items()}


def _cast(arr: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    if dtype is None or arr.dtype == dtype:
        return arr
    if dtype.kind in "ui" and arr.dtype.kind == "f":
        info = np.iinfo(dtype)
        arr = np.clip(np.rint(arr), info.min, info.max)
    return arr.astype(dtype)


def to_host(tensor_list, dtype: np.dtype | None = None) -> list[np.ndarray]:
    """One DALI TensorList (CPU or GPU) -> list of per-sample host arrays."""
    if hasattr(tensor_list, "as_cpu") and type(tensor_list).__name__.endswith("GPU"):
        tensor_list = tensor_list.as_cpu()
    n = len(tensor_list)
    if n == 0:
        return []
    if tensor_list.is_dense_tensor():
        batch = _cast(tensor_list.as_array(), dtype)
        return list(batch)
    return [_cast(np.array(tensor_list[i]), dtype) for i in range(n)]


def split(outputs, names: list[str], casts: dict[str, np.dtype]) -> list[dict[str, np.ndarray]]:
    """The outputs of one run -> one dict per sample."""
    per_output = [to_host(tl, casts.get(name)) for name, tl in zip(names, outputs)]
    n = len(per_output[0]) if per_output else 0
    return [{name: col[i] for name, col in zip(names, per_output)} for i in range(n)]


def dtype_mismatches(model, outputs: dict, casts: dict) -> list[str]:
    """One line per output whose data type differs from what config.pbtxt (the model's output
    specs) says, e.g. UINT8 declared and int32 returned (uint8 + a Python int is int32 in DALI):
    a pipeline that does not declare ``output_dtype`` cannot be checked before it runs."""
    lines = []
    for spec in getattr(model, "outputs", []):
        arr = outputs.get(spec.name)
        if not hasattr(arr, "dtype") or spec.name in casts or np.dtype(arr.dtype) == np.dtype(spec.dtype):
            continue
        lines.append(f"model {model.name!r} version {model.version}: output {spec.name!r} is "
                     f"{np.dtype(spec.dtype).name.upper()} in config.pbtxt (as `pipelines` lists "
                     f"it) but the pipeline returns {np.dtype(arr.dtype).name}; results carry "
                     f"{np.dtype(arr.dtype).name}: cast in the pipeline (fn.cast(..., dtype=...)), "
                     f"declare @pipeline_def(output_dtype=[...]) so the load checks it, or fix "
                     f"data_type in config.pbtxt")
    return lines
