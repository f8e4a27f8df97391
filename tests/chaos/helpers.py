"""What the chaos tests share: a small stream, the worker's arguments, and the one check that
matters (every input has exactly one outcome, or at least one in at-least-once mode)."""
from __future__ import annotations

import asyncio
import time

from tests.worker_harness import Outputs, collect, small_jpegs

# a member that stops answering leaves the group after 6 s, not 30; a request unanswered for 5 s
# is retried (the blackhole tests outlast it)
FAST = {"DSW_SESSION_TIMEOUT_MS": "6000", "DSW_REQUEST_TIMEOUT_MS": "5000"}


def items(n: int) -> tuple[list[tuple[str, bytes]], set[str]]:
    photos = small_jpegs(8)
    out = [(f"img-{i:05d}", photos[i % len(photos)]) for i in range(n)]
    return out, {k for k, _ in out}


def worker_args(tin: str, tout: str, tdlq: str, group: str, delivery: str, *extra: str) -> list[str]:
    return ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", group,
            "--pipeline", "classify_reduce", "--max-delay-ms", "20", "--commit-interval-ms", "300",
            "--num-threads", "1", "--delivery", delivery, *extra]


def wait_until(cond, timeout: float, what: str, logs=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()[-4000:]}")


def outcomes(bootstrap: str, tout: str, tdlq: str, ids: set[str], exactly_once: bool, timeout: float = 1.0,
             settle: float = 0.0) -> Outputs:
    return asyncio.run(collect(bootstrap, tout, tdlq, expect_ids=ids, timeout=timeout,
                               committed_only=exactly_once, settle=settle))


def progress(bootstrap: str, tout: str, tdlq: str, ids: set[str], exactly_once: bool):
    """A condition: more inputs have an outcome than when it was made."""
    start = len(outcomes(bootstrap, tout, tdlq, ids, exactly_once).ids)
    return lambda more=50: len(outcomes(bootstrap, tout, tdlq, ids, exactly_once).ids) >= min(len(ids), start + more)


def check(out: Outputs, ids: set[str], exactly_once: bool, label: str) -> str:
    lost = ids - out.ids
    dupes = sum(out.results.values()) - len(out.results)
    summary = f"{label}: {len(out.ids)}/{len(ids)} ids, {dupes} duplicate results, {len(lost)} lost"
    print(summary)
    assert not lost, f"{summary}; lost e.g. {sorted(lost)[:10]}"
    assert not out.dead, out.dead
    if exactly_once:
        assert not dupes, f"{summary}: exactly-once broken, e.g. {[k for k, c in out.results.items() if c > 1][:10]}"
    return summary
