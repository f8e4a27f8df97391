"""Zero-copy hand-off to a model server on the same host: request inputs written into system
shared-memory regions registered with the server (Triton's ``system_shared_memory``
extension); the request carries only the region's name, offset and size.

Why: a full 3x224x224 float32 tensor is 600 KB. Over gRPC every batch is serialized into
protobuf, sent through the loopback and parsed again; on two cores the worker forwarding full
tensors reached 0.24x of its rate without a model. A region is one memcpy.

Rules (each one is something that goes wrong without it):
- one region per request in flight, taken before the send and given back after the response:
  a region reused earlier would be overwritten while the server still reads it;
- regions come in power-of-two sizes (at least 1 MiB) and are kept for reuse: registering is a
  round trip, and batch sizes repeat;
- after the server restarts it knows no region: any failure that means "server gone" or names a
  shared-memory region marks the pool stale, and the next request re-registers every region
  first (the failure is reported as transient, so the batch is retried, not dead-lettered);
- at shutdown every region is unregistered and unlinked.

Which requests use it is decided once at start (``ModelClient.start``): the route's
``shared_memory`` ("auto": when the server's URL is on this host and it lists the extension;
"system": whenever it lists it; "off"), and a probe registration that must succeed (a server in
another container without the same ``/dev/shm`` refuses it). Otherwise the wire is used, with
one log line saying why.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("worker.inference")

MIN_REGION = 1 << 20
EXTENSION = "system_shared_memory"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"}
_ids = itertools.count()


def is_local(url: str) -> bool:
    """Whether ``host:port`` names this host (loopback, or this machine's own name)."""
    host = url.rsplit(":", 1)[0].strip("[]")
    if host in _LOCAL_HOSTS or host.startswith("127."):
        return True
    try:
        return host == os.uname().nodename
    except OSError:
        return False


def region_size(nbytes: int) -> int:
    return max(MIN_REGION, 1 << max(0, nbytes - 1).bit_length())


@dataclass
class Region:
    name: str  # the name the server knows it by
    key: str  # the POSIX shm key (/dev/shm/<key without the slash>)
    size: int
    handle: object


class SystemShmPool:
    """Regions for one model client. ``client``: a tritonclient aio client (gRPC or HTTP)."""

    def __init__(self, client, timeout_kw: dict | None = None):
        from tritonclient.utils import shared_memory

        self._shm = shared_memory
        self._client = client
        self._kw = timeout_kw or {}
        self._free: dict[int, list[Region]] = {}
        self._all: list[Region] = []
        self._lock = asyncio.Lock()
        self.stale = False
        self.registrations = 0  # for tests and metrics

    async def acquire(self, nbytes: int) -> Region:
        async with self._lock:
            if self.stale:
                await self._register_again()
            size = region_size(nbytes)
            free = self._free.get(size)
            if free:
                return free.pop()
            n = next(_ids)
            name = f"dsw-{os.getpid()}-{n}"
            handle = self._shm.create_shared_memory_region(name, f"/{name}", size)
            region = Region(name, f"/{name}", size, handle)
            try:
                await self._register(region)
            except BaseException:
                self._shm.destroy_shared_memory_region(handle)
                raise
            self._all.append(region)
            return region

    def release(self, region: Region) -> None:
        self._free.setdefault(region.size, []).append(region)

    def write(self, region: Region, arrays: list[np.ndarray]) -> list[int]:
        """Copy ``arrays`` one after another into ``region``; their offsets."""
        offsets, at = [], 0
        for a in arrays:
            offsets.append(at)
            at += a.nbytes
        if at > region.size:
            raise ValueError(f"{at} bytes do not fit region {region.name} of {region.size}")
        self._shm.set_shared_memory_region(region.handle, [np.ascontiguousarray(a) for a in arrays])
        return offsets

    async def _register(self, region: Region) -> None:
        await self._client.register_system_shared_memory(region.name, region.key, region.size, **self._kw)
        self.registrations += 1

    async def _register_again(self) -> None:
        """The server restarted (or lost its registrations): register every region anew."""
        for region in self._all:
            try:
                await self._client.unregister_system_shared_memory(region.name, **self._kw)
            except Exception:  # noqa: BLE001 - it did not know it: that is why we are here
                pass
            await self._register(region)
        if self._all:
            log.info("shared memory: registered %d regions again after the server came back", len(self._all))
        self.stale = False

    async def close(self) -> None:
        for region in self._all:
            try:
                await self._client.unregister_system_shared_memory(region.name, **self._kw)
            except Exception:  # noqa: BLE001 - the server may be gone; the memory is ours to free
                pass
            try:
                self._shm.destroy_shared_memory_region(region.handle)
            except Exception:  # noqa: BLE001
                log.debug("could not destroy region %s", region.name, exc_info=True)
        self._all.clear()
        self._free.clear()


SHM_PATH = "/dev/shm"


def request_bytes(inputs, batch: int) -> int | None:
    """Bytes of one request's inputs at ``batch`` samples (``inputs``: fit.TensorSpec), or None
    when a dimension varies (then the region size is only known per batch)."""
    total = 0
    for spec in inputs:
        if any(d < 0 for d in spec.shape):
            return None
        total += int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize * batch
    return total


def check_capacity(needs: list[tuple[str, int, int]], processes: int, path: str = SHM_PATH) -> None:
    """Refuse to start, with one line naming the numbers, when ``processes`` x the regions of
    ``needs`` (one (model, request bytes, requests in flight) per route that hands its inputs over
    in shared memory; bytes rounded up as acquire() rounds them) cannot fit in ``path``'s size: a
    full tmpfs kills the writer with SIGBUS in the middle of a batch instead."""
    from worker.inference.errors import InferenceConfigError

    if not needs:
        return
    try:
        st = os.statvfs(path)
    except OSError:
        return  # no /dev/shm to measure: the probe region at start decides
    size = st.f_frsize * st.f_blocks
    mib = 1024 * 1024
    per_process = sum(regions * region_size(nbytes) for _what, nbytes, regions in needs)
    need = processes * per_process
    if need > size:
        parts = " + ".join(f"{what}: {regions} requests in flight x {region_size(nbytes) // mib} MiB regions"
                           for what, nbytes, regions in needs)
        raise InferenceConfigError(
            f"shared memory needs {processes} process(es) x ({parts}) = {need / mib:,.0f} MiB, but "
            f"{path} holds {size / mib:,.0f} MiB: enlarge it (compose: SHM_SIZE; docker run "
            f"--shm-size; Kubernetes: the chart's sharedMemorySize), or lower the processes or "
            f"max_in_flight, or set shared_memory = \"off\" in the route's model table")
