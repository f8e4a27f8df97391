"""Model repositories with several versions of one pipeline, each giving different outputs (the
input times the version number), so that a test sees which version answered. Versions are
written as Python (``dali.py`` with one @autoserialize pipeline) or serialized (``model.dali``,
made here with DALI's own serializer)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

TIMES_PY = """
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

@autoserialize
@pipeline_def(batch_size={batch}, num_threads=1, device_id=None, output_dtype=[types.INT32], output_ndim=[1])
def times():
    return fn.external_source(name="x", dtype=types.INT32, ndim=1) * {factor}
"""


def times_serialized(factor: int, batch: int = 8) -> bytes:
    """A serialized pipeline: input ``x`` (int32, 1-D) times ``factor``."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=batch, num_threads=1, device_id=None, output_dtype=[types.INT32],
                  output_ndim=[1])
    def times():
        return fn.external_source(name="x", dtype=types.INT32, ndim=1) * factor

    return times().serialize()


def write_version(repo: Path, name: str, version: int, kind: str = "py", factor: int | None = None,
                  batch: int = 8) -> Path:
    """``repo/name/version`` holding a pipeline that multiplies by ``factor`` (default: the version)."""
    d = Path(repo) / name / str(version)
    d.mkdir(parents=True, exist_ok=True)
    factor = version if factor is None else factor
    if kind == "py":
        (d / "dali.py").write_text(TIMES_PY.format(factor=factor, batch=batch))
    else:
        (d / "model.dali").write_bytes(times_serialized(factor, batch))
    return d


def make_repository(repo: Path, name: str = "times", versions: dict[int, str] | None = None,
                    policy: str | None = None, config_extra: str = "") -> Path:
    """A model ``name`` with ``versions`` ({version: "py" | "serialized"}) and a config.pbtxt
    holding ``version_policy: {policy}`` when one is given."""
    for v, kind in (versions or {1: "py", 2: "serialized"}).items():
        write_version(repo, name, v, kind)
    if policy is not None or config_extra:
        text = f'name: "{name}"\nbackend: "dali"\n'
        if policy is not None:
            text += f"version_policy: {policy}\n"
        (Path(repo) / name / "config.pbtxt").write_text(text + config_extra)
    return Path(repo)


def sample(n: int = 3) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int32)
