"""One input, many results: a sample's outputs cut into parts along their first axis (video
frames, spectrogram rows), as the route's ``cut`` says, and the check that a clip decoded
whole before any part of it is written.

- ``clip``: one result with everything (one part, index 0 of 1).
- ``frame``: one result per row of the first axis, without that axis (a frame is [H, W, C]).
- ``sequence``: ``sequence_length`` rows every ``sequence_stride`` rows (default: the
  length, windows side by side); the last window may be shorter, so every row is in some
  result. An input with no rows (a clip of zero frames) still gets one, empty, result.

Outputs are cut together: each part holds rows [start, stop) of every output whose first axis
has the frame count (the first output's); other outputs (a per-clip scalar) go whole into
every part. Parts are views, not copies (the encoder copies once, into the message).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.config import Route


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    count: int
    start: int  # rows [start, stop) of the first axis
    stop: int
    outputs: dict[str, np.ndarray]

    def to_wire(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count, "start": self.start, "stop": self.stop}


def windows(rows: int, cut: str, length: int = 0, stride: int = 0) -> list[tuple[int, int]]:
    """The [start, stop) ranges of each part of an input with ``rows`` rows."""
    if cut == "clip" or rows == 0:
        return [(0, rows)]
    if cut == "frame":
        length, stride = 1, 1
    stride = stride or length
    out = []
    for start in range(0, rows, stride):
        out.append((start, min(start + length, rows)))
        if start + length >= rows:
            break
    return out


def rows_of(outputs: dict[str, np.ndarray]) -> int:
    """The frame count: the first output's first axis (0 for a 0-D output)."""
    first = next(iter(outputs.values()), None)
    if type(first) is np.ndarray:  # np.ndim/np.shape dispatch costs a microsecond each
        return int(first.shape[0]) if first.ndim else 0
    return 0 if first is None or np.ndim(first) == 0 else int(np.shape(first)[0])


def cut(outputs: dict[str, np.ndarray], route: Route, split: frozenset = frozenset()) -> list[Part]:
    """``outputs`` of one input as the route's parts. ``split``: outputs the model's config
    splits along their outer axis (``split_along_outer_axis``): Triton's DALI backend returns
    each row as a sample of its own, so each row is a result here (a route's ``clip`` cuts
    them as ``frame``), and the other outputs go whole into every part."""
    if not split and route.cut == "clip":  # the common case, once per result: no sets made
        return [Part(0, 1, 0, rows_of(outputs), outputs)]
    split = {n for n in split if n in outputs and np.ndim(outputs[n]) >= 1}
    mode = "frame" if split and route.cut == "clip" else route.cut
    rows = rows_of({n: outputs[n] for n in split} if split else outputs)
    if mode == "clip":
        return [Part(0, 1, 0, rows, outputs)]
    spans = windows(rows, mode, route.sequence_length, route.sequence_stride)
    framed = split or {n for n, a in outputs.items() if np.ndim(a) >= 1 and np.shape(a)[0] == rows}
    if mode == "frame" and rows:  # one frame: [H, W, C], as an image pipeline's result
        return [Part(i, rows, i, i + 1, {n: (arr[i] if n in framed else arr) for n, arr in outputs.items()})
                for i in range(rows)]
    return [Part(i, len(spans), a, b, {n: (arr[a:b] if n in framed else arr) for n, arr in outputs.items()})
            for i, (a, b) in enumerate(spans)]


def shortfall(outputs: dict[str, np.ndarray], expect_frames: int | None) -> str | None:
    """Why a decoded clip is incomplete, or None: a 4-D output (frames of FHWC/FCHW) with fewer
    frames than the container declared. DALI's CPU video decoder stops early, without an error,
    on a clip damaged mid-way; without this check the input would get a partial result set."""
    if expect_frames is None:
        return None
    for name, arr in outputs.items():
        if np.ndim(arr) == 4 and np.shape(arr)[0] < expect_frames:
            return (f"it decoded to {np.shape(arr)[0]} frames (output {name!r}) of the "
                    f"{expect_frames} its container declares: damaged or cut short after about "
                    f"frame {np.shape(arr)[0]}; none of its results was written")
    return None
