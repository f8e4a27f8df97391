"""worker/stream/frame_reader.py: large reads joined from the chunks as received, small ones
through StreamReader's own buffer; what follows a read stays for the next one; EOF and errors
as asyncio's reader gives them; installed into aiokafka's connections."""
from __future__ import annotations

import asyncio
import os

import pytest

from worker.stream import frame_reader
from worker.stream.frame_reader import DIRECT_MIN, ChunkedReader


class Transport:
    def __init__(self):
        self.paused = False

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False


def frames(*sizes: int) -> tuple[bytes, list[bytes]]:
    """The wire: each frame a 4-byte size and its body."""
    bodies = [os.urandom(n) for n in sizes]
    return b"".join(len(b).to_bytes(4, "big") + b for b in bodies), bodies


async def read_all(reader: ChunkedReader, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        size = int.from_bytes(await reader.readexactly(4), "big")
        out.append(await reader.readexactly(size))
    return out


@pytest.mark.parametrize("chunk", [1000, 65536, 262144, 3 * 1024 * 1024])
def test_frames_come_back_whole_whatever_the_chunking(chunk):
    async def main():
        wire, bodies = frames(10, DIRECT_MIN - 1, DIRECT_MIN, 5 * DIRECT_MIN + 7, 3, 2 * 1024 * 1024)
        reader = ChunkedReader(limit=2 ** 16)
        reader.set_transport(Transport())
        task = asyncio.ensure_future(read_all(reader, len(bodies)))
        for i in range(0, len(wire), chunk):
            reader.feed_data(wire[i:i + chunk])
            await asyncio.sleep(0)  # the reader runs between chunks, as on a socket
        got = await asyncio.wait_for(task, 10)
        assert got == bodies and all(type(b) is bytes for b in got)
        assert not reader._buffer and reader._chunks is None

    asyncio.run(main())


def test_data_that_arrived_before_the_read_is_not_lost():
    async def main():
        wire, bodies = frames(3 * DIRECT_MIN, 20)
        reader = ChunkedReader(limit=2 ** 16)
        reader.set_transport(Transport())
        reader.feed_data(wire[:DIRECT_MIN])  # nobody reads yet: StreamReader's buffer
        task = asyncio.ensure_future(read_all(reader, 2))
        await asyncio.sleep(0)
        reader.feed_data(bytearray(wire[DIRECT_MIN:]))  # a transport that reuses its buffer
        assert await asyncio.wait_for(task, 10) == bodies

    asyncio.run(main())


async def _large_read_ended_by(end) -> BaseException:
    """A large read waiting for data, then ``end(reader)``: what the read raised."""
    reader = ChunkedReader(limit=2 ** 16)
    reader.set_transport(Transport())
    task = asyncio.ensure_future(reader.readexactly(2 * DIRECT_MIN))
    await asyncio.sleep(0)
    reader.feed_data(b"x" * 100)
    end(reader)
    try:
        await task
    except BaseException as exc:  # noqa: BLE001 - what the read raised is the answer
        return exc
    raise AssertionError("the read returned")


def test_eof_inside_a_large_read_is_an_incomplete_read():
    err = asyncio.run(_large_read_ended_by(lambda r: r.feed_eof()))
    assert isinstance(err, asyncio.IncompleteReadError) and err.partial == b"x" * 100


def test_an_error_set_on_the_reader_ends_a_waiting_large_read():
    err = asyncio.run(_large_read_ended_by(lambda r: r.set_exception(ConnectionResetError("gone"))))
    assert isinstance(err, ConnectionResetError)


def test_chunks_fed_in_one_turn_past_the_end_of_a_read_stay_for_the_next():
    async def main():
        wire, bodies = frames(3 * DIRECT_MIN, 10, 2 * DIRECT_MIN)
        reader = ChunkedReader(limit=2 ** 16)
        reader.set_transport(Transport())
        task = asyncio.ensure_future(read_all(reader, 3))
        await asyncio.sleep(0)
        reader.feed_data(wire[:4])
        await asyncio.sleep(0)
        # the rest in three chunks without the reader running in between (SSL, uvloop)
        cut1, cut2 = 3 * DIRECT_MIN - 100, 3 * DIRECT_MIN + 4 + 50
        reader.feed_data(wire[4:cut1])
        reader.feed_data(wire[cut1:cut2])
        reader.feed_data(wire[cut2:])
        assert await asyncio.wait_for(task, 10) == bodies

    asyncio.run(main())


def test_a_cancelled_large_read_leaves_what_came_readable():
    async def main():
        reader = ChunkedReader(limit=2 ** 16)
        reader.set_transport(Transport())
        task = asyncio.ensure_future(reader.readexactly(2 * DIRECT_MIN))
        await asyncio.sleep(0)
        reader.feed_data(b"a" * 100)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await reader.readexactly(100) == b"a" * 100

    asyncio.run(main())


def test_a_paused_transport_is_resumed_by_a_large_read():
    async def main():
        reader = ChunkedReader(limit=16)
        transport = Transport()
        reader.set_transport(transport)
        reader.feed_data(b"y" * 100)  # over twice the limit: StreamReader pauses the transport
        assert transport.paused
        task = asyncio.ensure_future(reader.readexactly(DIRECT_MIN))
        await asyncio.sleep(0)
        assert not transport.paused
        reader.feed_data(b"z" * DIRECT_MIN)
        assert await task == b"y" * 100 + b"z" * (DIRECT_MIN - 100)
        assert bytes(reader._buffer) == b"z" * 100

    asyncio.run(main())


def test_aiokafka_connections_read_through_it():
    import aiokafka.conn

    assert frame_reader.install()
    assert aiokafka.conn.asyncio.StreamReader is ChunkedReader
    assert aiokafka.conn.asyncio.StreamWriter is asyncio.StreamWriter
    assert asyncio.StreamReader is not ChunkedReader  # the rest of the process keeps asyncio's
