"""Which GPUs this process may use."""
from __future__ import annotations

import os


def visible_gpus() -> list[str]:
    """GPU ids this host lets us use ($CUDA_VISIBLE_DEVICES, else nvidia-smi's list)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
