"""The preprocessing step of the test ensemble (``triton/classifier-ensemble``), in numpy only,
for the Triton model and for the tests to compare with: crop a border of a quarter of the height
and width from each side, then scale and shift, as a resize/normalize step would."""
from __future__ import annotations

import numpy as np

SCALE = np.float32(2.0)
SHIFT = np.float32(-0.5)


def crop_box(h: int, w: int) -> tuple[slice, slice]:
    top, left = h // 4, w // 4
    return slice(top, h - top), slice(left, w - left)


def preprocess(batch: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float32 → (N, 3, H - 2*(H//4), W - 2*(W//4)) float32."""
    if batch.ndim != 4:
        raise ValueError(f"expected (N, C, H, W), got {batch.shape}")
    rows, cols = crop_box(batch.shape[2], batch.shape[3])
    return np.ascontiguousarray(batch[:, :, rows, cols] * SCALE + SHIFT, dtype=np.float32)
