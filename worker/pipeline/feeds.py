"""Turn samples (dicts of input name -> bytes or array) into what ``Pipeline.feed_input`` takes.

Two forms, chosen per runner:
- **ragged**: a list of per-sample arrays (DALI's native batch; variable lengths allowed);
- **padded**: one contiguous array ``[batch, max_len]`` with zeros after each sample plus the
  true lengths, as Triton clients send encoded media (DALI's image decoders ignore trailing
  zeros). Only 1-D inputs of varying length are padded; inputs whose samples all have one shape
  are stacked, which is the same batch either way.

Bytes become arrays with ``np.frombuffer`` (no copy). A pipeline that reads raw bytes (such as
the identity) sees the zeros in padded form: use ragged there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SampleError

FEEDS = ("ragged", "padded")


def to_array(value, spec) -> np.ndarray:
    """One sample's value for input ``spec`` as an array of its dtype and ndim (no copy where
    possible). Raises SampleError naming the input."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        if spec.dtype != np.uint8 or spec.ndim != 1:
            raise SampleError(spec.name, f"input {spec.name!r} takes {spec.dtype} with {spec.ndim} "
                                         f"dims, not bytes: send an array")
        arr = np.frombuffer(value, dtype=np.uint8)
    elif isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as e:
            raise SampleError(spec.name, f"input {spec.name!r}: cannot make an array of "
                                         f"{type(value).__name__}: {e}") from None
    if arr.dtype != spec.dtype:
        if arr.dtype.kind == "O" or not np.can_cast(arr.dtype, spec.dtype, casting="same_kind"):
            raise SampleError(spec.name, f"input {spec.name!r} takes {spec.dtype}, got {arr.dtype}")
        arr = arr.astype(spec.dtype)
    if arr.ndim != spec.ndim:
        raise SampleError(spec.name, f"input {spec.name!r} takes {spec.ndim}-D samples, got shape "
                                     f"{arr.shape}")
    for i, (want, got) in enumerate(zip(spec.dims, arr.shape)):
        if want >= 0 and want != got:
            raise SampleError(spec.name, f"input {spec.name!r} takes shape {list(spec.dims)}, got "
                                         f"{list(arr.shape)} (dimension {i})")
    if arr.size == 0:
        raise SampleError(spec.name, f"input {spec.name!r} is empty")
    return arr


@dataclass
class Feed:
    """One input's batch: ``data`` goes to feed_input; ``lengths`` is set for padded batches."""
    name: str
    data: object                  # list[np.ndarray] or np.ndarray
    lengths: np.ndarray | None = None


def _uniform(arrays: list[np.ndarray]) -> bool:
    first = arrays[0].shape
    return all(a.shape == first for a in arrays)


def ragged(name: str, arrays: list[np.ndarray]) -> Feed:
    return Feed(name, arrays)


def padded(name: str, arrays: list[np.ndarray]) -> Feed:
    if _uniform(arrays):
        return Feed(name, np.stack(arrays), np.array([a.shape[0] if a.ndim else 1 for a in arrays]))
    if arrays[0].ndim != 1:
        raise SampleError(name, f"input {name!r}: padded feeds need equal shapes for inputs with "
                                f"more than one dimension; use the ragged feed")
    lengths = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    out = np.zeros((len(arrays), int(lengths.max())), dtype=arrays[0].dtype)
    for row, a in zip(out, arrays):
        row[:a.shape[0]] = a
    return Feed(name, out, lengths)


def pad_batch(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Convenience for callers that build padded batches themselves (e.g. Triton clients)."""
    feed = padded("input", arrays)
    return feed.data, feed.lengths


def build(feed: str, name: str, arrays: list[np.ndarray]) -> Feed:
    if feed == "ragged":
        return ragged(name, arrays)
    if feed == "padded":
        return padded(name, arrays)
    raise ValueError(f"unknown feed {feed!r}: use one of {', '.join(FEEDS)}")
