"""Fetch sizes that adapt to a slow link (worker/stream/fetch_sizes.py, issue 28): halved when
a fetch times out, down to a floor, and doubled back after quick fetches."""
from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import RequestTimedOutError
from aiokafka.protocol.fetch import FetchRequest

from worker.stream.fetch_sizes import FLOOR, GROW_AFTER, adapt

MiB = 2**20


class _Client:
    def __init__(self):
        self.fail = False
        self.sent = []

    async def send(self, node_id, request, **kw):
        self.sent.append(request)
        if self.fail and isinstance(request, FetchRequest):
            raise RequestTimedOutError()
        return "response"

    def cluster(self):
        return "passed through"


class _Fetcher:
    def __init__(self):
        self._client = _Client()
        self._fetch_max_bytes = 16 * MiB
        self._max_partition_fetch_bytes = 16 * MiB


class _Consumer:
    def __init__(self):
        self._fetcher = _Fetcher()


class _Cfg:
    request_timeout_ms = 40000


def _fetch():
    return FetchRequest(500, 1, 16 * MiB, 0, [("t", [(0, 0, 16 * MiB)])])


def test_a_timed_out_fetch_halves_the_sizes_down_to_the_floor_and_quick_ones_grow_them(caplog):
    consumer = _Consumer()
    sizes = adapt(consumer, _Cfg())
    client = consumer._fetcher._client
    assert client.cluster() == "passed through"  # everything else passes through
    raw = client._client
    raw.fail = True
    caplog.set_level(logging.INFO, "worker")
    for want in [8 * MiB, 4 * MiB, 2 * MiB]:
        with pytest.raises(RequestTimedOutError):
            asyncio.run(client.send(0, _fetch()))
        assert sizes.current == (want, want)
    assert "fetch sizes lowered to 2048 KiB per request" in caplog.text
    for _ in range(10):
        with pytest.raises(RequestTimedOutError):
            asyncio.run(client.send(0, _fetch()))
    assert sizes.current == (FLOOR, FLOOR) and sizes.timeouts == 13
    assert "at the smallest fetch size" in caplog.text
    # other requests are not fetches: never counted
    raw.fail = False
    asyncio.run(client.send(0, object()))
    # quick answers: the sizes double back after GROW_AFTER of them, up to the configured ones
    for _ in range(GROW_AFTER):
        assert asyncio.run(client.send(0, _fetch())) == "response"
    assert sizes.current == (2 * FLOOR, 2 * FLOOR)
    for _ in range(GROW_AFTER * 20):
        asyncio.run(client.send(0, _fetch()))
    assert sizes.current == (16 * MiB, 16 * MiB)
    assert "fetch sizes raised" in caplog.text


def test_a_slow_answer_does_not_count_as_quick():
    sizes = adapt(_Consumer(), _Cfg())
    sizes.timed_out(0)
    for _ in range(GROW_AFTER * 2):
        sizes.answered(15.0)  # over a quarter of the 40 s timeout
    assert sizes.current == (8 * MiB, 8 * MiB)
