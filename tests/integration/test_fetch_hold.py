"""What worker/stream/fetch_hold.py relies on in aiokafka, against a real broker: a paused
partition loses the records fetched for it (they are fetched again), a partition left out of
getmany() keeps them, and a getmany() of a partition nobody has still polls and returns nothing.
If an aiokafka release changes any of this, this test says so (the worker then falls back to
pausing, which is slower but never wrong)."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tests.kafka_helpers import create_topics
from tests.worker_harness import produce
from worker.stream import fetch_hold
from worker.stream.worker import NOTHING


async def _first_fetch(bootstrap: str, topic: str) -> tuple[AIOKafkaConsumer, TopicPartition, list]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    first: list = []
    for _ in range(100):  # until the first fetch has come in
        first = (await consumer.getmany(tp, timeout_ms=200, max_records=10)).get(tp, [])
        if first:
            break
    return consumer, tp, first


def test_kept_partitions_keep_their_records_and_paused_ones_lose_them(kafka_bootstrap, topic_name):
    async def scenario():
        await create_topics(kafka_bootstrap, [topic_name], partitions=1)
        await produce(kafka_bootstrap, topic_name, [(str(i), b"x" * 1000) for i in range(200)])

        # kept: left out of getmany(); what was fetched stays, and comes next without a refetch
        consumer, tp, first = await _first_fetch(kafka_bootstrap, topic_name)
        try:
            assert [r.offset for r in first] == list(range(10))
            buffered = fetch_hold.buffered(consumer)
            assert buffered == {tp}, "aiokafka's fetcher no longer shows what it has buffered"
            pause, keep = fetch_hold.split({tp}, buffered)
            assert (pause, keep) == (set(), {tp})
            kept = consumer._fetcher._records[tp]
            assert await consumer.getmany(NOTHING, timeout_ms=300) == {}  # polls, returns nothing
            assert consumer._fetcher._records.get(tp) is kept  # not dropped, not fetched again
            again = (await consumer.getmany(tp, timeout_ms=0, max_records=10))[tp]
            assert [r.offset for r in again] == list(range(10, 20))
        finally:
            await consumer.stop()

        # paused: aiokafka drops the buffered records the next getmany() meets
        consumer, tp, first = await _first_fetch(kafka_bootstrap, topic_name)
        try:
            kept = consumer._fetcher._records[tp]
            consumer.pause(tp)
            assert await consumer.getmany(timeout_ms=300) == {}
            assert consumer._fetcher._records.get(tp) is not kept
            consumer.resume(tp)
            records = []
            for _ in range(100):
                records = (await consumer.getmany(tp, timeout_ms=200, max_records=10)).get(tp, [])
                if records:
                    break
            assert records[0].offset == 10  # the same records, fetched a second time
        finally:
            await consumer.stop()

        # nothing buffered at the limit: paused (there is nothing to drop)
        assert fetch_hold.split({tp}, set()) == ({tp}, set())
        # aiokafka internals missing: every partition at its limit is paused, as before
        assert fetch_hold.buffered(object()) is None
        assert fetch_hold.split({tp}, None) == ({tp}, set())

    asyncio.run(scenario())


def test_a_poll_ended_for_room_leaves_the_poll_interval_working(kafka_bootstrap, topic_name):
    """aiokafka counts a cancelled getmany() as fetching for good (its idle time, which
    max.poll.interval.ms is measured on, stays 0); fetch_hold.end_poll puts the count back."""
    async def scenario():
        await create_topics(kafka_bootstrap, [topic_name], partitions=1)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic_name, 0)])
            sub = consumer._subscription

            plain = asyncio.ensure_future(consumer.getmany(NOTHING, timeout_ms=5000))
            await asyncio.sleep(0.05)
            plain.cancel()
            await asyncio.wait({plain})
            await asyncio.sleep(0.05)
            assert sub.fetcher_idle_time == 0  # aiokafka 0.14: stuck as fetching
            sub._fetch_count = 0  # undone by hand, so that the second part starts clean

            ended = asyncio.ensure_future(consumer.getmany(NOTHING, timeout_ms=5000))
            await asyncio.sleep(0.05)
            assert await fetch_hold.end_poll(consumer, ended) == {}
            await asyncio.sleep(0.05)
            assert sub.fetcher_idle_time > 0.04
        finally:
            await consumer.stop()

    asyncio.run(scenario())
