"""Small helpers for tests that talk to the real broker."""
from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BIG = 16 * 1024 * 1024


async def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1,
                                            topic_configs={"max.message.bytes": str(BIG)})
                                   for n in names])
    finally:
        await admin.close()


def run(coro):
    return asyncio.run(coro)
