"""glibc's allocator, set for a process that handles megabytes per Kafka response.

A fetch response (up to ``fetch_max_bytes``, 16 MiB) and the record sets cut out of it are a
few large allocations per fetch. glibc serves allocations above its mmap threshold with a fresh
``mmap`` and gives them back with ``munmap`` on free, so every one of them page-faults its whole
size in again (the kernel zeroes each page). Its dynamic threshold only partly helps: a trim
after a free returns the top of the heap, and the next large buffer faults again. Measured on
the 2-core VM, a 16 MiB response received in chunks, joined and cut into 4 record sets: 22.8 ms
of CPU with glibc's defaults, 4.8 ms with the settings below; in ``bench/stream_cost.py`` the
worker's CPU per message fell by a tenth to a fifth.

:func:`tune` raises the mmap threshold to 32 MiB (glibc's maximum; a fetch response and its
record sets then come from the heap and are reused) and keeps up to 64 MiB of freed heap at
its top instead of trimming it at once (256 MiB measured the same, and held ~50-90 MB more at the
peak of ``bench.e2e``). The cost: a worker's resident memory stays near its high-water mark
after a burst instead of falling back. Settings that the environment already gives glibc
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) are left alone, and
``DSW_MALLOC_DEFAULTS=1`` keeps glibc's defaults. On a C library without ``mallopt`` it does
nothing.
"""
from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger("worker")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 64 * 1024 * 1024  # a fetch response, its record sets and its chunks fit under it
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def tune(environ=os.environ) -> bool:
    """Apply the settings above to this process; True when they were applied."""
    if environ.get("DSW_MALLOC_DEFAULTS") == "1" or any(k in environ for k in _OWN_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not ok:
        log.debug("mallopt refused the allocator settings; glibc's defaults stay")
    return ok
