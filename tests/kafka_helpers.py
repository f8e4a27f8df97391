"""Small helpers for tests that talk to the real broker."""
from __future__ import annotations

import asyncio

from worker.devkafka import MAX_MESSAGE_BYTES as BIG
from worker.devkafka import create_topics

__all__ = ["BIG", "create_topics", "run"]


def run(coro):
    return asyncio.run(coro)
