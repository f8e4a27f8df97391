"""Messages and shared memory between the isolated runner (``isolation.py``) and its child
(``child.py``).

- **Messages**: a Unix stream socket, each message a length-prefixed pickle; file descriptors
  ride along (``SCM_RIGHTS``). Only small things travel in them: indices, shapes, offsets,
  errors, and outputs under ``INLINE_BYTES`` (``classify_reduce``'s 3 floats per image), one
  array per output and run whose rows are the samples'.
- **Shared memory**: ``memfd`` regions mapped by both processes. The parent writes a batch's
  encoded inputs into its input region and the child reads them in place; the child writes the
  outputs of DALI straight into an output region lent by the parent (one copy, as the in-process
  runner's ``as_array``), and the parent hands out NumPy views of it, no copy. An output region
  is lent again only once no array of the parent points into it any more (a weak reference to
  the one array every view derives from), so results never change under their holder.

Measured on the 2-core VM, 64 x 588 KiB float32 (38.5 MB): pickled through the socket 123 ms;
a warm region plus a copy out in the parent 22 ms; a warm region and views 8 ms (in-process
``as_array``: 12 ms); a fresh memfd per batch 49 ms (tmpfs page faults).
"""
from __future__ import annotations

import math
import mmap
import os
import pickle
import socket
import struct
import weakref

import numpy as np

INLINE_BYTES = 64 * 1024
ALIGN = 64
MAX_FDS = 64
_LEN = struct.Struct("<Q")


class ChannelClosed(EOFError):
    """The other end closed the socket (the child died, or the parent did)."""


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, obj, fds=()) -> None:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        data = _LEN.pack(len(payload)) + payload
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
        self.sock.settimeout(None)
        sent = self.sock.sendmsg([data], anc)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def recv(self, timeout: float | None = None) -> tuple[object, list[int]]:
        """(message, received fds). Raises ChannelClosed on EOF, TimeoutError past ``timeout``."""
        self.sock.settimeout(timeout)
        head = bytearray()
        fds: list[int] = []
        while len(head) < _LEN.size:
            data, anc, _flags, _addr = self.sock.recvmsg(_LEN.size - len(head),
                                                         socket.CMSG_SPACE(MAX_FDS * 4))
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += list(struct.unpack(f"{len(cdata) // 4}i", cdata[:len(cdata) - len(cdata) % 4]))
            if not data:
                _close_all(fds)
                raise ChannelClosed("connection closed")
            head += data
        (size,) = _LEN.unpack(head)
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[got:])
            if n == 0:
                _close_all(fds)
                raise ChannelClosed("connection closed inside a message")
            got += n
        return pickle.loads(buf), fds

    def close(self) -> None:
        self.sock.close()


def _close_all(fds) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class Region:
    """A shared-memory region: a memfd and its mapping. ``fd`` stays open in the creator (the
    parent sends it to every new child); a receiver maps it and closes its copy."""

    def __init__(self, size: int, fd: int | None = None, name: str = "dsw-isolation"):
        self.size = size
        if fd is None:
            fd = os.memfd_create(name, os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
        self.fd = fd
        self.mm = mmap.mmap(fd, size)
        self.rid: int | None = None            # the parent's id for it
        self._top = None                       # weakref to the array the parent lent out

    def close_fd(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        self.close_fd()
        try:
            self.mm.close()
        except BufferError:                    # views still alive: the mapping goes with them
            pass

    # parent side: lending
    def free(self) -> bool:
        return self._top is None or self._top() is None

    def lend(self) -> np.ndarray:
        """One uint8 array over the whole region; every view handed out derives from it."""
        top = np.frombuffer(self.mm, dtype=np.uint8)
        self._top = weakref.ref(top)
        return top


def view(top: np.ndarray, offset: int, dtype: str, shape) -> np.ndarray:
    dt = _DTYPES.get(dtype) or _DTYPES.setdefault(dtype, np.dtype(dtype))
    count = math.prod(shape)  # per sample: np.prod costs microseconds on a short tuple
    return top[offset:offset + count * dt.itemsize].view(dt).reshape(shape)


_DTYPES: dict[str, np.dtype] = {}


class Packer:
    """Writes arrays one after another (aligned) into a region; returns descriptors
    ``("r", key, offset, dtype, shape)``. Raises OverflowError when full."""

    def __init__(self, region: Region | None, key):
        self.region = region
        self.key = key
        self.top = np.frombuffer(region.mm, dtype=np.uint8) if region is not None else None
        self.cursor = 0

    def room(self) -> int:
        return 0 if self.region is None else self.region.size - self.cursor

    def put(self, arr: np.ndarray) -> tuple:
        n = arr.nbytes
        if self.region is None or self.cursor + n > self.region.size:
            raise OverflowError(n)
        off = self.cursor
        if arr.flags.c_contiguous:  # one memcpy into the mapping (encoded media: always)
            self.region.mm[off:off + n] = arr if n else b""
        else:
            dest = self.top[off:off + n].view(arr.dtype).reshape(arr.shape)
            np.copyto(dest, arr, casting="no")
        self.cursor = aligned(off + n)
        return ("r", self.key, off, arr.dtype.str, arr.shape)

    def put_block(self, batch: np.ndarray) -> list[tuple]:
        """A dense batch ``[n, ...]`` in one copy; one descriptor per sample."""
        off = self.cursor
        self.put(batch)
        per = batch.nbytes // max(1, batch.shape[0])
        return [("r", self.key, off + i * per, batch.dtype.str, batch.shape[1:])
                for i in range(batch.shape[0])]

    def release(self) -> None:
        self.top = None


def resolve(desc, tops: dict) -> np.ndarray:
    """A descriptor or an inline array -> an array: ``("r", key, offset, dtype, shape)`` a view
    of a region's top array, ``("b", key, row)`` a row of a block that came in the reply."""
    if isinstance(desc, tuple) and desc:
        if desc[0] == "r":
            _r, key, off, dtype, shape = desc
            return view(tops[key], off, dtype, shape)
        if desc[0] == "b":
            return tops[desc[1]][desc[2]]
    return desc
