"""Spot encoded images that will probably fail to decode, so that they run alone.

Why: with DALI 2.4 (CPU ``fn.decoders.image``), a batch that fails on one corrupt image while
the other images are still being decoded crashed the whole process (SIGSEGV in the decoder's
worker threads) within a few dozen such failures, with either executor; a failing batch of one
sample never did (thousands of runs). So samples that look wrong are never batched with
others, and after a batch fails its samples are re-run one at a time. Nothing is rejected
here: a suspect that decodes fine still gets its result.

The checks are a few byte comparisons per sample: a known image signature at the start, and
for JPEG and PNG the end marker near the end (trailing zero padding allowed).
"""
from __future__ import annotations

import numpy as np

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
               b"MM\x00*", b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ", b"P1", b"P2", b"P3", b"P4",
               b"P5", b"P6")


def looks_truncated(tail: bytes, end_marker: bytes) -> bool:
    return end_marker not in tail


def suspicious(arr: np.ndarray) -> bool:
    """True when ``arr`` (uint8 1-D encoded image) does not look like a whole image file."""
    head = arr[:16].tobytes()
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return False
    if not head.startswith(_SIGNATURES):
        return True
    end = len(arr)
    while end > 0 and arr[end - 1] == 0:     # zero padding after the file
        end -= 1
        if len(arr) - end > 4096:            # long zero runs: look no further
            break
    tail = arr[max(0, end - 32):end].tobytes()
    if head.startswith(b"\xff\xd8\xff"):
        return looks_truncated(tail, b"\xff\xd9")
    if head.startswith(b"\x89PNG"):
        return looks_truncated(tail, b"IEND")
    return False


def image_inputs(model) -> list[str]:
    """Inputs that feed DALI's image decoders: the uint8 1-D inputs, when the pipeline decodes."""
    if not any(op.startswith("decoders__Image") for op in model.info.operator_devices):
        return []
    return [i.name for i in model.inputs if i.dtype == np.uint8 and i.ndim == 1]
