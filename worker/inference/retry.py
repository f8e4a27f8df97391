"""Timeouts, retries with capped exponential backoff and jitter, and the retry budget.

Two kinds of failure matter to the caller:

- transient (server down, restarting, overloaded, timed out, model reloading): retry the same
  request after a pause that grows to ``backoff_max_s``; while this goes on the caller holds the
  batch and commits nothing. After ``max_retry_s`` (0 = never) give up: ModelUnavailableError.
- rejected (the server answered and refused: bad input, model raised): no retry; the caller
  splits the batch to learn which sample is at fault.
"""
from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from worker.inference.errors import (
    InferenceConfigError,
    ModelUnavailableError,
    RequestRejected,
    RequestTooLarge,
    TransientServerError,
)

log = logging.getLogger("worker.inference")
T = TypeVar("T")

# gRPC codes where the same request may succeed later. INTERNAL and UNKNOWN are not here:
# Triton uses them for backend errors on this input (a DALI decode error, a Python model
# raising), which retrying repeats.
TRANSIENT_GRPC = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED",
                  "CANCELLED", "NOT_FOUND"}
TRANSIENT_HTTP = {"404", "408", "429", "502", "503", "504"}
# Both servers report a model that is loading or unloading as a client error on some paths
# (MLServer: 400 "Model x is not ready yet"); a redeploy must not dead-letter messages.
_UNAVAILABLE_WORDS = ("not ready", "unknown model", "is not found", "not found")
# gRPC's message size check answers RESOURCE_EXHAUSTED, the code of an overloaded server too:
# "Received message larger than max (4816967 vs. 4194304)" (MLServer's default is 4 MiB). The
# same request fails the same way forever, so it must not be retried as if the server were busy.
_TOO_LARGE = re.compile(r"message larger than max(?: \((\d+) vs\. (\d+)\))?", re.IGNORECASE)


def classify(exc: BaseException) -> RequestRejected | TransientServerError:
    """Map a client exception (tritonclient, aiohttp, asyncio) to transient or rejected."""
    if isinstance(exc, (RequestRejected, TransientServerError)):
        return exc
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransientServerError("request timed out", "TIMEOUT")
    status = None
    status_fn = getattr(exc, "status", None)
    if callable(status_fn):  # tritonclient InferenceServerException
        status = status_fn()
        message = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    else:
        message = str(exc) or type(exc).__name__
    if status is None:
        # no answer from the server at all: connection refused/reset (aiohttp, OSError)
        return TransientServerError(f"{type(exc).__name__}: {message}", None)
    code = str(status).removeprefix("StatusCode.")
    too_large = _TOO_LARGE.search(message)
    if too_large or code == "413":
        limit = int(too_large.group(2)) if too_large and too_large.group(2) else None
        return RequestTooLarge(message, code, limit)
    if code in TRANSIENT_GRPC or code in TRANSIENT_HTTP:
        return TransientServerError(message, code)
    if any(w in message.lower() for w in _UNAVAILABLE_WORDS):
        return TransientServerError(message, code)
    return RequestRejected(message, code)


class Backoff:
    """Exponential backoff with full jitter, capped: delay n is uniform in
    [cap_n / 2, cap_n] with cap_n = min(maximum, initial * 2**n). The lower half keeps a worker
    from hammering a server that is down; the jitter keeps many workers from retrying in step."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None):
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        cap = min(self.maximum, self.initial * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self._rng.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.attempt = 0


class RetryBudget:
    """Wall-clock budget for one batch's retries; ``max_retry_s == 0`` means unlimited."""

    def __init__(self, max_retry_s: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._deadline = None if max_retry_s == 0 else clock() + max_retry_s

    def remaining(self) -> float:
        return float("inf") if self._deadline is None else max(0.0, self._deadline - self._clock())

    def exhausted(self) -> bool:
        return self.remaining() <= 0


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout_s: float,
    budget: RetryBudget,
    backoff: Backoff,
    on_retry: Callable[[TransientServerError, float], None] | None = None,
) -> T:
    """``await call()`` under ``timeout_s``; retry transient failures until ``budget`` runs out
    (then ModelUnavailableError naming ``what`` and the last error); re-raise rejections as
    RequestRejected at once. The sleep never exceeds the budget left, so a finite budget ends
    on time."""
    while True:
        try:
            return await asyncio.wait_for(call(), timeout_s)
        except (asyncio.CancelledError, ModelUnavailableError, InferenceConfigError):
            raise  # cancelled, or nothing to retry: the client is closed, or TLS is misconfigured
        except Exception as exc:  # noqa: BLE001 - classified below, nothing swallowed
            err = classify(exc)
            if isinstance(err, RequestRejected):
                raise err from exc
            left = budget.remaining()
            if left <= 0:
                raise ModelUnavailableError(
                    f"{what}: gave up after the retry budget; last error: "
                    f"[{err.status or 'no answer'}] {err}") from exc
            delay = min(backoff.next_delay(), left)
            if on_retry:
                on_retry(err, delay)
            log.warning("%s: %s [%s]; retry in %.2fs", what, err, err.status or "no answer",
                        delay)
            await asyncio.sleep(delay)
