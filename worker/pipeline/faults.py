"""Testing only: a crash injected where DALI runs, the way a crashing decoder kills its process.
Lives with the pipeline (the isolated runner's child calls it); the stream loop calls it too
when DALI runs in the worker's own process."""
from __future__ import annotations

import os


def fault_injection(inputs: list[dict]) -> None:
    """Testing only: with ``DSW_FAULT_INJECT_CRASH=<text>`` set, a sample whose first input
    contains that text kills the process the way a crashing decoder does (SIGSEGV). With
    ``DSW_FAULT_INJECT_DELAY_MS=<ms>``, every batch takes at least that long (a slow pipeline:
    a test that stops a worker mid-stream then finds work left, however fast the machine)."""
    delay = os.environ.get("DSW_FAULT_INJECT_DELAY_MS")
    if delay:
        import time

        time.sleep(float(delay) / 1000.0)
    marker = os.environ.get("DSW_FAULT_INJECT_CRASH")
    if not marker:
        return
    needle = marker.encode()
    for sample in inputs:
        first = next(iter(sample.values()))
        if needle in bytes(memoryview(first)):
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
