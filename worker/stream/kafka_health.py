"""Can this worker talk to Kafka? What ``/readyz`` and the metrics say about the broker.

aiokafka hides a broker outage from its user: ``getmany()`` just returns nothing, a commit or a
transaction waits, and the client logs an error line every retry (about 60 per second). So the
worker watches its clients itself:

- every request its consumer and producer send (``AIOKafkaClient.send``, wrapped per client):
  the outcome of the latest one is *connectivity*, a Fetch answered is a *successful fetch*;
- every commit (at-least-once: an offset commit; exactly-once: a transaction with its offsets),
  from ``delivery.py``: when one started that has not succeeded since, commits are in trouble.

The worker is *not ready* when, for ``kafka_ready_timeout_s``, its requests have been failing
with none answered (the consumer's group heartbeats alone ask every few seconds, so an outage
shows even when every partition is paused because the batches wait for acks), or it wanted to
fetch (partitions assigned and not paused by its own backpressure) and got no fetch answered,
or a commit has been pending or failing. ``/healthz`` (liveness) is not affected: a broker outage is no
reason to restart the worker, which recovers by itself once the broker is back.

Times are wall-clock (``time.time()``): the supervisor compares them across processes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return text[:300]


@dataclass
class KafkaStatus:
    """A snapshot for readiness and metrics (wall-clock seconds; 0: nothing wrong)."""

    fetch_since: float  # fetching wanted and nothing fetched since then (0: not wanted)
    unreachable_since: float  # requests failing, none answered since then (0: fine)
    commit_since: float  # a commit pending or failing since then (0: none)
    last_fetch: float  # the last fetch answered
    last_commit: float  # the last commit that succeeded (or found nothing to commit)
    connected: bool  # the latest request to the broker was answered
    cause: str  # the latest client or commit error


class KafkaHealth:
    def __init__(self, ready_timeout_s: float, clock=time.time) -> None:
        self.ready_timeout_s = ready_timeout_s
        self._clock = clock
        now = clock()
        self._last_fetch = now
        self._fetch_wanted_since = 0.0
        self._last_commit = now
        self._commit_trouble_since = 0.0
        self._last_ok = 0.0
        self._last_error = 0.0
        self._failing_since = 0.0
        self.cause = ""

    # -- the clients ----------------------------------------------------------------------------
    def watch(self, client) -> None:
        """Wrap ``client.send`` (an ``aiokafka.client.AIOKafkaClient``) so that every request's
        outcome is seen. Without that method (another aiokafka), health sees commits only."""
        send = getattr(client, "send", None)
        if send is None or getattr(send, "_dsw_watched", False):
            if send is None:
                log.warning("cannot watch Kafka requests of %r: broker connectivity is not reported", client)
            return

        async def watched(node_id, request, *args, **kwargs):
            try:
                response = await send(node_id, request, *args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.request_failed(exc)
                raise
            self.request_answered(type(request).__name__.startswith("FetchRequest"))
            return response

        watched._dsw_watched = True
        client.send = watched

    def request_answered(self, fetch: bool = False) -> None:
        now = self._clock()
        self._last_ok = now
        self._failing_since = 0.0
        if fetch:
            self._last_fetch = now

    def request_failed(self, exc: BaseException) -> None:
        self._last_error = self._clock()
        if not self._failing_since:
            self._failing_since = self._last_error
        self.cause = describe_error(exc)

    # -- the worker -----------------------------------------------------------------------------
    def fetching(self, wanted: bool) -> None:
        """Whether the worker wants records now (some assigned partition is not paused)."""
        if wanted and not self._fetch_wanted_since:
            self._fetch_wanted_since = self._clock()
        elif not wanted:
            self._fetch_wanted_since = 0.0

    def commit_started(self) -> None:
        if not self._commit_trouble_since:
            self._commit_trouble_since = self._clock()

    def commit_succeeded(self) -> None:
        self._last_commit = self._clock()
        self._commit_trouble_since = 0.0

    def commit_failed(self, exc: BaseException | str) -> None:
        """The commit failed and will be tried again: the trouble goes on from its start."""
        if not self._commit_trouble_since:
            self._commit_trouble_since = self._clock()
        self.cause = exc if isinstance(exc, str) else describe_error(exc)

    # -- readers --------------------------------------------------------------------------------
    def status(self) -> KafkaStatus:
        fetch_since = max(self._last_fetch, self._fetch_wanted_since) if self._fetch_wanted_since else 0.0
        return KafkaStatus(fetch_since=fetch_since, unreachable_since=self._failing_since,
                           commit_since=self._commit_trouble_since,
                           last_fetch=self._last_fetch, last_commit=self._last_commit,
                           connected=self._last_ok > 0 and self._last_ok >= self._last_error,
                           cause=self.cause)


def kafka_problems(fetch_since: float, commit_since: float, cause: str, timeout_s: float,
                   now: float, unreachable_since: float = 0.0) -> list[str]:
    """What ``/readyz`` says about Kafka (empty: nothing)."""
    out = []
    why = f" (last error: {cause})" if cause else ""
    if unreachable_since and now - unreachable_since > timeout_s:
        out.append(f"cannot reach Kafka: requests failing, none answered for {now - unreachable_since:.0f} s{why}")
    if fetch_since and now - fetch_since > timeout_s:
        out.append(f"cannot fetch from Kafka: nothing fetched for {now - fetch_since:.0f} s{why}")
    if commit_since and now - commit_since > timeout_s:
        out.append(f"cannot commit to Kafka: a commit has been pending or failing for "
                   f"{now - commit_since:.0f} s{why}")
    return out
