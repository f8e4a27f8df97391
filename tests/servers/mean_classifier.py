"""A deterministic classifier that the tests serve and also run locally, to compare results.

``logits = W @ per_channel_means(image)`` for a CHW float image. W is fixed (no randomness, no
files), so the server's answer and the local answer must agree to float32 rounding. numpy only:
this module is imported both by the Triton Python-backend model (copied beside its model.py) and by the tests.
"""
from __future__ import annotations

import numpy as np

NUM_CLASSES = 10
CHANNELS = 3

# Row c weighs the three channel means differently, so that images of different colours get
# different classes; the bias keeps zero images from tying.
W = np.array(
    [[np.cos(0.7 * c + k) * (1.0 + 0.1 * c) for k in range(CHANNELS)] for c in range(NUM_CLASSES)],
    dtype=np.float32,
)
B = np.linspace(-0.05, 0.05, NUM_CLASSES, dtype=np.float32)

LABELS = [f"class_{c}" for c in range(NUM_CLASSES)]

# Test hooks of the served runtime (classifier_runtime.py), aimed at one sample by its first
# value: the server rejects the request (400 / INVALID_ARGUMENT), or sleeps SLOW_S seconds.
REJECT_MARKER = -777.0
SLOW_MARKER = -1234.5
SLOW_S = 3.0


def logits(batch: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float32 → (N, NUM_CLASSES) float32."""
    if batch.ndim != 4 or batch.shape[1] != CHANNELS:
        raise ValueError(f"expected (N, {CHANNELS}, H, W), got {batch.shape}")
    means = batch.astype(np.float32).mean(axis=(2, 3), dtype=np.float64).astype(np.float32)
    return (means @ W.T + B).astype(np.float32)


def top_k(row: np.ndarray, k: int) -> list[tuple[int, float]]:
    order = np.argsort(-row, kind="stable")[:k]
    return [(int(i), float(row[i])) for i in order]
