"""The broker every integration test stands on: large messages pass through it intact."""
from __future__ import annotations

import asyncio
import hashlib
import os

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.kafka_helpers import BIG, create_topics


def test_five_mib_message_round_trip(kafka_bootstrap, topic_name):
    payload = os.urandom(5 * 1024 * 1024)

    async def go():
        await create_topics(kafka_bootstrap, [topic_name], partitions=2)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=BIG,
                                    acks="all", enable_idempotence=True)
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic_name, payload, key=b"big")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None,
                                    max_partition_fetch_bytes=BIG, fetch_max_bytes=BIG)
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        return meta, msg

    meta, msg = asyncio.run(go())
    assert msg.key == b"big"
    assert (msg.partition, msg.offset) == (meta.partition, meta.offset)
    assert hashlib.sha256(msg.value).digest() == hashlib.sha256(payload).digest()
