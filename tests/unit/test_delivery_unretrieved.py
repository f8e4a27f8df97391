"""Issue 28: two exactly-once workers fencing each other left "Future exception was never
retrieved" in the log. One way there: the producer refuses a send (fenced) after it accepted
earlier sends of the same unit, whose futures then fail too; nobody awaited those. Every future
delivery gets is observed as soon as it exists."""
from __future__ import annotations

import asyncio
import gc

import pytest
from aiokafka.errors import KafkaError, ProducerFenced

from worker.stream.delivery import AtLeastOnce, DeliveryError, OutRecord, Unit
from worker.stream.offsets import OffsetTracker


class FencedAfterFirst:
    """Accepts the first send (its future fails a moment later), refuses the second."""

    def __init__(self):
        self.accepted: list[asyncio.Future] = []

    async def send(self, topic, value, key=None, headers=None):
        if self.accepted:
            raise ProducerFenced()
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, fut.set_exception, KafkaError("fenced"))
        self.accepted.append(fut)
        return fut


def test_a_refused_send_leaves_no_future_unobserved():
    unretrieved: list[str] = []

    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: unretrieved.append(ctx.get("message", "")))
        tracker = OffsetTracker()
        tracker.assign(("in", 0), 0)
        epoch = tracker.begin(("in", 0), 0)
        tracker.begin(("in", 0), 1)
        delivery = AtLeastOnce(FencedAfterFirst(), tracker, consumer=None)
        unit = Unit([OutRecord("out", b"a", None, ("in", 0), 0, epoch),
                     OutRecord("out", b"b", None, ("in", 0), 1, epoch)])
        with pytest.raises((ProducerFenced, DeliveryError)):
            await delivery.deliver(unit)
        await asyncio.sleep(0.05)  # the accepted send fails meanwhile
        del delivery, unit
        gc.collect()
        await asyncio.sleep(0)

    asyncio.run(scenario())
    gc.collect()
    assert not [m for m in unretrieved if "never retrieved" in m], unretrieved
