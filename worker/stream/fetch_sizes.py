"""Fetch sizes that adapt to a slow link (issue 28).

A fetch response must arrive whole within ``request_timeout_ms``. With the default 16 MiB
fetches, a link of 430 KB/s can never deliver one: each fetch timed out, was retried at the same
size, and the worker made no progress at all. So when a fetch times out, the consumer's
``fetch_max_bytes`` and ``max_partition_fetch_bytes`` are halved (down to :data:`FLOOR`, logged
once per change); after :data:`GROW_AFTER` fetches in a row that each took under a quarter of
the timeout, they double back towards the configured sizes. Smaller fetches never stop a large
message: since Kafka 0.10.1 (fetch v3+, KIP-74) a broker returns the first record batch of a
partition even when it is larger than both limits.

aiokafka keeps both sizes on its fetcher (``_fetch_max_bytes``, ``_max_partition_fetch_bytes``)
and reads them for every request it builds; its fetch loop catches a timeout itself (logging
"Failed fetch messages") and retries, so the timeout is seen here by wrapping the fetcher's
client's ``send``. The version guard is :func:`adapt`'s check of those attributes: without them,
the worker runs with fixed sizes and says so.
"""
from __future__ import annotations

import logging
import time

from aiokafka.errors import KafkaTimeoutError, RequestTimedOutError
from aiokafka.protocol.fetch import FetchRequest

log = logging.getLogger("worker")

FLOOR = 64 * 1024  # smallest fetch sizes: the first record batch still comes whole (KIP-74)
GROW_AFTER = 16  # quick fetches in a row before the sizes double again


def _is_fetch(request) -> bool:
    return isinstance(request, FetchRequest)


class FetchSizes:
    """The adaptive sizes of one consumer's fetcher."""

    def __init__(self, fetcher, fetch_max_bytes: int, max_partition_fetch_bytes: int,
                 request_timeout_s: float) -> None:
        self.fetcher = fetcher
        self.configured = (fetch_max_bytes, max_partition_fetch_bytes)
        self.timeout_s = request_timeout_s
        self.timeouts = 0  # fetches that timed out, in all
        self._quick = 0

    @property
    def current(self) -> tuple[int, int]:
        return self.fetcher._fetch_max_bytes, self.fetcher._max_partition_fetch_bytes

    def _set(self, total: int, part: int) -> None:
        self.fetcher._fetch_max_bytes, self.fetcher._max_partition_fetch_bytes = total, part

    def timed_out(self, node_id) -> None:
        self.timeouts += 1
        self._quick = 0
        total, part = self.current
        lower = max(FLOOR, total // 2), max(FLOOR, part // 2)
        if lower == (total, part):
            log.warning("fetch from broker %s timed out after %.0f s at the smallest fetch size "
                        "(%d KiB); the link is slower than %d KiB in %.0f s: raise request_timeout_ms",
                        node_id, self.timeout_s, total // 1024, total // 1024, self.timeout_s)
            return
        self._set(*lower)
        log.warning("fetch from broker %s timed out after %.0f s: fetch sizes lowered to %d KiB "
                    "per request, %d KiB per partition (configured %d/%d KiB), so that a fetch fits "
                    "the link; they grow back after %d quick fetches", node_id, self.timeout_s,
                    lower[0] // 1024, lower[1] // 1024, self.configured[0] // 1024,
                    self.configured[1] // 1024, GROW_AFTER)

    def answered(self, seconds: float) -> None:
        if seconds >= self.timeout_s / 4:
            self._quick = 0
            return
        self._quick += 1
        total, part = self.current
        if self._quick < GROW_AFTER or (total, part) == self.configured:
            return
        self._quick = 0
        higher = min(self.configured[0], total * 2), min(self.configured[1], part * 2)
        self._set(*higher)
        log.info("fetches are quick again: fetch sizes raised to %d KiB per request, %d KiB per "
                 "partition (configured %d/%d KiB)", higher[0] // 1024, higher[1] // 1024,
                 self.configured[0] // 1024, self.configured[1] // 1024)


class _TimedClient:
    """The fetcher's view of the client: every call passes through, fetches are timed."""

    def __init__(self, client, sizes: FetchSizes) -> None:
        self._client, self._sizes = client, sizes

    def __getattr__(self, name):
        return getattr(self._client, name)

    async def send(self, node_id, request, *args, **kwargs):
        if not _is_fetch(request):
            return await self._client.send(node_id, request, *args, **kwargs)
        t0 = time.monotonic()
        try:
            response = await self._client.send(node_id, request, *args, **kwargs)
        except (RequestTimedOutError, KafkaTimeoutError):
            self._sizes.timed_out(node_id)
            raise
        self._sizes.answered(time.monotonic() - t0)
        return response


def adapt(consumer, cfg) -> FetchSizes | None:
    """Make a started consumer's fetch sizes adapt to fetch timeouts (see the module's doc);
    None, with a warning, where this aiokafka's fetcher does not look as expected."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not all(hasattr(fetcher, a) for a in
                                  ("_client", "_fetch_max_bytes", "_max_partition_fetch_bytes")):
        log.warning("this aiokafka's fetcher has no fetch sizes to adapt: fetches keep their "
                    "configured sizes on a slow link")
        return None
    sizes = FetchSizes(fetcher, fetcher._fetch_max_bytes, fetcher._max_partition_fetch_bytes,
                       cfg.request_timeout_ms / 1000.0)
    fetcher._client = _TimedClient(fetcher._client, sizes)
    return sizes
