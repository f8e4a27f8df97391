"""Small helpers for tests that talk to the real broker."""
from __future__ import annotations

import asyncio
import threading

from worker.devkafka import MAX_MESSAGE_BYTES as BIG
from worker.devkafka import create_topics

__all__ = ["BIG", "BackgroundReader", "create_topics", "run"]


def run(coro):
    return asyncio.run(coro)


class BackgroundReader:
    """Reads ``topics`` from the beginning in a thread of its own for as long as a test runs (a
    ``with`` block), handing each record to ``on_record`` under ``self._lock``; a failure of the
    consumer is kept in ``self.error`` for the subclass's snapshot to raise. Subclasses keep what
    they see and say how to read it back."""

    def __init__(self, bootstrap: str, topics, **consumer_kw):
        self.bootstrap, self.topics = bootstrap, tuple(topics)
        self._consumer_kw = consumer_kw
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def on_record(self, tp, record) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=BIG,
                                    **self._consumer_kw)
        try:
            await consumer.start()
            self._started.set()
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                with self._lock:
                    for tp, records in batch.items():
                        for r in records:
                            self.on_record(tp, r)
        except BaseException as exc:  # noqa: BLE001 - raised by the subclass's snapshot
            self.error = exc
            self._started.set()  # __enter__ then fails at once, naming it
        finally:
            await consumer.stop()

    def __enter__(self):
        self._thread.start()
        assert self._started.wait(30), f"{type(self).__name__}: the consumer did not start"
        assert self.error is None, f"{type(self).__name__}: the consumer failed: {self.error!r}"
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)
