"""worker/allocator.py: glibc's thresholds set for the worker, unless the environment sets its
own or asks for glibc's defaults."""
from __future__ import annotations

import subprocess
import sys

from worker import allocator


def test_settings_from_the_environment_win():
    assert allocator.tune({"DSW_MALLOC_DEFAULTS": "1"}) is False
    assert allocator.tune({"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
    assert allocator.tune({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}) is False


def test_applied_on_glibc_in_a_fresh_process():
    # a process of its own: the settings stay for the rest of the process that makes them
    code = "from worker import allocator; import platform; print(allocator.tune({}), platform.libc_ver()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True" or out[1] != "glibc"
