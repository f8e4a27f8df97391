"""A TCP proxy that a test controls, between the worker and the broker (chaos tests): added
latency, a bandwidth limit, every connection reset at once, and a blackhole (bytes are held, not
delivered, in both directions, and new connections are accepted but not connected on, as when a
network path goes silent; they flow again once it heals, as TCP's retransmissions would deliver
them).

Latency delays without limiting bandwidth: each chunk read is stamped with its arrival and
written at arrival + latency, while the next chunks are read meanwhile (a long fat pipe). It
once slept before each 64 KiB chunk in turn, which also capped every connection at about
430 KB/s, so a 16 MiB fetch could never arrive within the request timeout (issue 28). The
bandwidth limit is a separate fault: each direction of each connection is paced to that many
bytes per second.

It runs its own asyncio loop in a daemon thread; the control methods are called from the test's
thread. Kafka clients learn broker addresses from metadata, so the broker must advertise the
proxy's address on the listener the proxy forwards to (``KafkaBroker(external=...)``)."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_port: int, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host, self.target_port, self.port = host, target_port, port
        self.latency_s = 0.0
        self.bandwidth_bps: float | None = None
        self.connections_seen = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._open: asyncio.Event | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.AbstractServer | None = None

    # -- control (from the test's thread) -----------------------------------------------------
    def start(self) -> "TcpProxy":
        self._thread.start()
        self._call(self._start())
        return self

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk by this much in each direction (order is kept, bandwidth is not
        limited: chunks are in flight together)."""
        self.latency_s = seconds

    def set_bandwidth(self, bytes_per_s: float | None) -> None:
        """Pace each direction of each connection to this many bytes per second (None: no limit)."""
        self.bandwidth_bps = bytes_per_s

    def blackhole(self, on: bool) -> None:
        self._call(self._set_open(not on))

    def reset_all(self) -> int:
        """Reset every open connection (RST, as a dropped NAT entry or a restarted firewall
        does); returns how many were open."""
        return self._call(self._reset_all())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # -- on the proxy's loop --------------------------------------------------------------------
    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set_open(self, is_open: bool) -> None:
        (self._open.set if is_open else self._open.clear)()

    async def _reset_all(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            for w in pair:
                _rst(w)
        return len(pairs)

    async def _stop(self) -> None:
        self._server.close()
        await self._reset_all()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections_seen += 1
        await self._open.wait()  # a blackhole: the connection is accepted, nothing answers
        try:
            up_r, up_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            _rst(client_w)
            return
        pair = (client_w, up_w)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(client_r, up_w), self._pump(up_r, client_w))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                _rst(w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def read() -> None:  # stamps each chunk with the time it may leave
            try:
                while data := await reader.read(65536):
                    queue.put_nowait((loop.time() + self.latency_s, data))
            except (ConnectionError, OSError):
                pass
            finally:
                queue.put_nowait((0.0, b""))

        reading = asyncio.ensure_future(read())
        next_free = 0.0  # the bandwidth limit: when the link is free for the next byte
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                for i in range(0, len(data), 16384):
                    piece = data[i:i + 16384]
                    await self._open.wait()
                    if self.bandwidth_bps:
                        start = max(loop.time(), next_free)
                        if start > loop.time():
                            await asyncio.sleep(start - loop.time())
                        next_free = start + len(piece) / self.bandwidth_bps
                    writer.write(piece)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            _rst(writer)  # one side gone: the other hears it at once, as with a real hop


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()
