"""A reader for aiokafka's connections that receives a large response in one copy, not four.

aiokafka reads every response with ``StreamReader.readexactly(size)``. asyncio's StreamReader
appends each chunk the transport received (256 KiB at most) to one ``bytearray`` that grows by an
eighth at a time, so a 16 MiB fetch response is copied again at most of its reallocations, then
once more out of the buffer. Measured on the 2-core VM: 11.6 ms of CPU per 16 MiB response, 2.3
ms when the chunks are kept as they came and joined once (``bench/stream_cost.py``'s profile had
this at a sixth of the worker's CPU at 86 KB per message; the bare aiokafka loop pays it too).

:class:`ChunkedReader` does that for reads of at least :data:`DIRECT_MIN` bytes (the fetch
responses): while such a read waits, received chunks go to a list; the read joins what it needs
and leaves the rest, if any, in the ordinary buffer. Small reads (the 4-byte size of each
response, small responses) take StreamReader's own path. Flow control and errors are
StreamReader's: a read that waits resumes a paused transport, EOF gives IncompleteReadError,
an exception set on the reader is raised.

aiokafka makes its reader in ``AIOKafkaConnection.connect`` as ``asyncio.StreamReader(...)``
through its module's ``asyncio`` name; :func:`install` points that name at a copy of asyncio
whose StreamReader is this class, for the aiokafka releases it was tested with (others keep
asyncio's reader: slower, same behaviour).
"""
from __future__ import annotations

import asyncio
import types

from worker import aiokafka_version

DIRECT_MIN = 64 * 1024


class ChunkedReader(asyncio.StreamReader):
    _chunks: list | None = None  # set while a large read waits
    _chunked = 0  # bytes in _chunks

    def feed_data(self, data) -> None:
        if self._chunks is None or not data:
            super().feed_data(data)
            return
        # the transport's bytes are the reader's from now on; anything else may be reused
        self._chunks.append(data if type(data) is bytes else bytes(data))
        self._chunked += len(data)
        self._wakeup_waiter()

    async def readexactly(self, n: int) -> bytes:
        if n < DIRECT_MIN or len(self._buffer) >= n or self._exception is not None or self._eof:
            return await super().readexactly(n)
        chunks = [bytes(self._buffer)] if self._buffer else []
        self._buffer.clear()
        self._chunks, self._chunked = chunks, sum(map(len, chunks))
        try:
            while self._chunked < n:
                if self._exception is not None:  # set while the last chunk woke this read
                    raise self._exception
                if self._eof:
                    raise asyncio.IncompleteReadError(b"".join(chunks), n)
                await self._wait_for_data("readexactly")
        except BaseException:
            # what came stays readable, as StreamReader keeps it (a cancelled read)
            self._buffer[:0] = b"".join(chunks)
            raise
        finally:
            self._chunks = None
        over = self._chunked - n
        tail: list = []
        while over and over >= len(chunks[-1]):  # whole chunks past the end (two fed in one turn)
            tail.append(chunks.pop())
            over -= len(tail[-1])
        if over:  # the last chunk holds the start of what follows
            last = memoryview(chunks[-1])
            chunks[-1] = last[:len(last) - over]
            tail.append(last[len(last) - over:])
        for part in reversed(tail):  # back to the buffer, in order, for the next read
            self._buffer.extend(part)
        data = b"".join(chunks)
        self._maybe_resume_transport()
        return data


def install() -> bool:
    """aiokafka's connections read through ChunkedReader; False (nothing changed) on an
    aiokafka release it was not tested with."""
    import aiokafka
    import aiokafka.conn as conn

    if aiokafka.__version__ not in aiokafka_version.TESTED:
        return False
    if isinstance(conn.asyncio, types.ModuleType) and conn.asyncio is asyncio:
        shim = types.ModuleType("asyncio", "asyncio, with worker.stream.frame_reader's StreamReader")
        shim.__dict__.update({k: v for k, v in vars(asyncio).items() if not k.startswith("__")})
        shim.StreamReader = ChunkedReader
        conn.asyncio = shim
    return conn.asyncio.StreamReader is ChunkedReader
