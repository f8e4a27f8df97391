"""Backpressure that keeps what was already fetched.

aiokafka drops the records it has fetched for a partition that is paused before they are
returned (``FetchResult.check_assignment``), and fetches them again once the partition is
resumed. The worker pauses a route's partitions whenever the route reaches its in-flight limit,
which under a backlog is after nearly every batch: ``bench/stream_cost.py`` measured the worker
receiving 1.17x the input's bytes at-least-once and 1.85x exactly-once (where batches also wait
for their transaction), each re-read byte checked (CRC-32C) and copied again. The Java consumer
keeps a paused partition's fetched data since KAFKA-7548 for the same reason.

So a partition whose route is at its limit is split two ways:

- records of it already fetched and not yet returned: the partition is **kept**: not paused,
  and left out of ``getmany(*partitions)`` until its route has room. aiokafka fetches nothing
  more for a partition while records of it are buffered, so a kept partition holds exactly the
  one slice it has (at most ``max_partition_fetch_bytes``), as any partition with unreturned
  records does today: the memory bound is unchanged;
- nothing buffered: **paused**, as before (there is nothing to drop).

This reads aiokafka's ``Fetcher._records`` (private). Where that is missing or changed,
:func:`buffered` returns None and every partition at its limit is paused, the old behaviour:
slower, never wrong.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

try:  # the class whose instances are buffered records (aiokafka 0.8-0.14)
    from aiokafka.consumer.fetcher import FetchResult
except ImportError:  # pragma: no cover - a release without it: pause only
    FetchResult = None


def buffered(consumer) -> set | None:
    """The partitions with records fetched and not yet returned; None where unknown."""
    records = getattr(getattr(consumer, "_fetcher", None), "_records", None)
    if FetchResult is None or not isinstance(records, dict):
        return None
    out = set()
    for tp, res in list(records.items()):
        if type(res) is FetchResult:
            try:
                if res.has_more():
                    out.add(tp)
            except Exception:  # noqa: BLE001 - an internal that changed shape: pause only
                return None
    return out


def split(at_limit: Iterable, buffered_now: set | None) -> tuple[set, set]:
    """``(to_pause, to_keep)`` of the partitions at their limit."""
    at_limit = set(at_limit)
    if buffered_now is None:
        return at_limit, set()
    keep = at_limit & buffered_now
    return at_limit - keep, keep


async def end_poll(consumer, fetch: asyncio.Future) -> dict:
    """End a getmany() that waits (a kept partition may be read again): cancel it and return
    what it returned, ``{}`` when the cancel landed (it then had taken no records: aiokafka
    takes them just before it returns).

    aiokafka 0.14's ``fetch_context()`` is a generator without ``try/finally``: a cancelled
    getmany() leaves the consumer counted as fetching for good, so its idle time stays 0 and
    ``max.poll.interval.ms`` could never trip again (the safety net for a stuck fetch loop). The
    count is put back here; where the attributes are not there, nothing is touched."""
    fetch.cancel()
    await asyncio.wait({fetch})
    if not fetch.cancelled():
        return fetch.result()
    sub = getattr(consumer, "_subscription", None)
    count = getattr(sub, "_fetch_count", None)
    if isinstance(count, int) and count > 0 and hasattr(sub, "_last_fetch_ended"):
        sub._fetch_count = count - 1
        if sub._fetch_count == 0:
            sub._last_fetch_ended = time.monotonic()
    return {}
