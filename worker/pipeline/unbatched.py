"""Unbatched models (config.pbtxt ``max_batch_size: 0``) fed as a Triton client feeds them.

Triton lists such a model's dims with the batch dimension first, and a client sends one tensor
per input whose first dimension is the request's own batch: Triton's DALI backend
(``ExecuteUnbatched``, ``TritonInput`` in src/utils/triton.h) runs each request alone as a
DALI batch of ``shape[0]`` samples and answers one tensor per output, the samples' outputs
stacked on a first dimension. Here a message is a request: a sample whose inputs all carry that
leading dimension runs as its rows (each row a DALI sample) and gets one result with the rows'
outputs stacked; a sample without it runs as one DALI sample (the form earlier versions took),
its outputs as they come. A request fails whole when any row fails, as the backend fails it.
"""
from __future__ import annotations

import numpy as np

from .errors import SampleError


def _rows(model, sample) -> int | None:
    """The request's row count when every input carries the leading batch dimension, else None
    (one plain sample). Raises SampleError naming the input for an inconsistent request."""
    if not isinstance(sample, dict):
        return None
    counts = {}
    for spec in model.inputs:
        value = sample.get(spec.name)
        if isinstance(value, (bytes, bytearray, memoryview)) or value is None:
            return None
        ndim = np.ndim(value)
        if ndim != spec.ndim + 1:
            return None
        counts[spec.name] = np.shape(value)[0]
    if not counts:
        return None
    if len(set(counts.values())) > 1:
        raise SampleError(next(iter(counts)), "each input of a request must have the same batch "
                          f"size (first dimension); got {counts}")
    rows = next(iter(counts.values()))
    limit = model.dali_batch_size
    if not 1 <= rows <= limit:
        raise SampleError(next(iter(counts)), f"a request of {rows} rows: model {model.name!r} is "
                          f"unbatched (max_batch_size 0) and its pipeline takes 1 to {limit} rows "
                          f"per request (its batch_size)")
    return rows


def run(model, samples: list, run_rows, failure) -> list:
    """``run_rows`` (a runner's batched run) over the requests' rows; one result per sample.
    ``failure(index, message, input_name)`` makes a failed SampleResult."""
    rows, owner, results = [], [], [None] * len(samples)
    for i, sample in enumerate(samples):
        try:
            n = _rows(model, sample)
        except SampleError as e:
            results[i] = failure(i, f"sample {i}: {e}", e.input_name)
            continue
        if n is None:
            rows.append(sample)
            owner.append((i, None))
            continue
        arrays = {spec.name: np.asarray(sample[spec.name]) for spec in model.inputs}
        for r in range(n):
            rows.append({**sample, **{name: arr[r] for name, arr in arrays.items()}})
            owner.append((i, r))
    done = run_rows(rows) if rows else []
    grouped: dict[int, list] = {}
    for (i, r), res in zip(owner, done):
        if r is None:
            res.index = i
            results[i] = res
        else:
            grouped.setdefault(i, []).append(res)
    for i, parts in grouped.items():
        results[i] = _stack(model, i, parts, failure)
    return results


def _stack(model, i: int, parts: list, failure):
    bad = next((p for p in parts if not p.ok), None)
    if bad is not None:
        bad.index = i
        return bad
    outputs = {}
    for name in parts[0].outputs:
        shapes = {np.shape(p.outputs[name]) for p in parts}
        if len(shapes) > 1:
            return failure(i, f"sample {i}: the rows of this request give output {name!r} in "
                              f"different shapes ({sorted(shapes)}); one tensor per output cannot "
                              "hold them (Triton's DALI backend fails such a request too): send the "
                              "rows as separate requests", None)
        outputs[name] = np.stack([p.outputs[name] for p in parts])
    first = parts[0]
    first.index, first.outputs = i, outputs
    return first
