"""Top-k labels of a classifier: from Triton's classification extension (the server returns
"score:index[:label]" strings when the output is requested with ``class_count``), or computed
here from the scores and a labels file (MLServer has no classification extension)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from worker.inference.errors import InferenceConfigError

CLASSIFICATION_EXTENSION = "classification"


def load_labels(path: str | Path) -> list[str]:
    """One label per line; line i names class i. Blank trailing lines are ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InferenceConfigError(f"labels_file {path}: cannot read ({exc})") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InferenceConfigError(f"labels_file {path}: empty; one label per line expected")
    return [line.strip() for line in lines]


def top_k(scores: np.ndarray, k: int, labels: list[str] | None) -> list[dict]:
    """Highest k scores of one sample, best first; ties keep the lower class index first.
    Each entry: {"index": int, "score": float, "label": str | None}."""
    flat = np.asarray(scores).reshape(-1)
    if flat.dtype.kind not in "fiu":
        raise ValueError(f"top-k needs numeric scores, got {flat.dtype}")
    order = np.argsort(-flat.astype(np.float64), kind="stable")[:k]
    return [{"index": int(i), "score": float(flat[i]),
             "label": labels[i] if labels is not None and i < len(labels) else None}
            for i in order]


def parse_classification(entries: np.ndarray) -> list[dict]:
    """Triton's classification output for one sample ("score:index" or "score:index:label"
    strings, best first) in the same form as ``top_k``."""
    out = []
    for raw in np.asarray(entries).reshape(-1):
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else str(raw)
        score, index, *label = text.split(":", 2)
        out.append({"index": int(index), "score": float(score),
                    "label": label[0] if label else None})
    return out
