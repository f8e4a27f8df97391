"""One interface over tritonclient's asyncio clients for gRPC and HTTP, returning plain Python
and numpy. Errors pass through unchanged; ``retry.classify`` sorts them."""
from __future__ import annotations

import asyncio

import numpy as np

from worker.inference.fit import v2_datatype

# tritonclient's own default channel options are replaced wholesale by channel_args, so the
# message-size limits are restated here. gRPC's reconnect backoff grows to 120 s by default:
# after a long outage the channel would stay in TRANSIENT_FAILURE for up to two minutes after
# the server is back. Capping it near our own backoff lets the worker recover by itself, fast.
_INT32_MAX = 2**31 - 1
GRPC_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", _INT32_MAX),
    ("grpc.max_receive_message_length", _INT32_MAX),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


# shared-memory copies above this go to a thread (a 64-image batch of full tensors is 38 MB)
_COPY_OFF_LOOP_BYTES = 4 << 20


class Transport:
    def __init__(self, protocol: str, url: str, timeout_s: float, route=None):
        """``route`` (a ModelRoute): its TLS settings, when it has them."""
        self.protocol = protocol
        self.timeout_s = timeout_s
        tls = route is not None and route.tls
        if protocol == "grpc":
            import tritonclient.grpc as mod
            import tritonclient.grpc.aio as aio

            extra = {}
            if tls:  # file paths: tritonclient reads them
                extra = dict(ssl=True, root_certificates=route.tls_ca_file,
                             private_key=route.tls_key_file, certificate_chain=route.tls_cert_file)
            self._client = aio.InferenceServerClient(url, channel_args=GRPC_CHANNEL_ARGS, **extra)
        else:
            import tritonclient.http as mod
            import tritonclient.http.aio as aio

            extra = {}
            if tls:
                import ssl

                context = ssl.create_default_context(cafile=route.tls_ca_file)
                if route.tls_cert_file:
                    context.load_cert_chain(route.tls_cert_file, route.tls_key_file)
                extra = dict(ssl=True, ssl_context=context)
            self._client = aio.InferenceServerClient(url, conn_timeout=timeout_s, **extra)
        self._mod = mod
        # HTTP: Triton's binary tensor extension when the server lists it, else JSON tensors
        # (MLServer 1.7 fails binary bodies with 500 "Internal Server Error").
        self.binary_data = False
        self.shm = None  # a shm.SystemShmPool once start() has chosen shared memory

    async def start_shared_memory(self, mode: str, url: str, extensions: tuple[str, ...]) -> str:
        """Choose the wire or shared memory for request inputs (``mode``: auto, system, off);
        returns what was chosen and why, for the log."""
        from worker.inference import shm

        if mode == "off":
            return "wire (shared_memory = off)"
        if shm.EXTENSION not in extensions:
            return f"wire: the server does not offer {shm.EXTENSION}"
        if mode == "auto" and not shm.is_local(url):
            return f"wire: {url} is not this host (shared_memory = \"system\" if it shares /dev/shm)"
        pool = shm.SystemShmPool(self._client, self._kw())
        try:
            pool.release(await pool.acquire(shm.MIN_REGION))  # the probe: can it see our memory?
        except Exception as exc:  # noqa: BLE001
            await pool.close()
            return (f"wire: the server could not map a shared-memory region ({exc}); run it on "
                    "this host with the same /dev/shm (compose: ipc: host or a shared /dev/shm)")
        self.shm = pool
        return "system shared memory"

    def use_extensions(self, extensions: tuple[str, ...]) -> None:
        self.binary_data = "binary_tensor_data" in extensions

    def _kw(self) -> dict:
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    async def server_ready(self) -> bool:
        return bool(await self._client.is_server_ready(**self._kw()))

    async def model_ready(self, name: str, version: str) -> bool:
        return bool(await self._client.is_model_ready(name, version, **self._kw()))

    async def extensions(self) -> tuple[str, ...]:
        if self.protocol == "grpc":
            meta = await self._client.get_server_metadata(as_json=True, **self._kw())
        else:
            meta = await self._client.get_server_metadata()
        return tuple(meta.get("extensions", ()))

    async def metadata(self, name: str, version: str) -> dict:
        if self.protocol == "grpc":
            return await self._client.get_model_metadata(name, version, as_json=True,
                                                         **self._kw())
        return await self._client.get_model_metadata(name, version)

    async def config(self, name: str, version: str) -> dict | None:
        """Triton's model config, or None where the server has no such endpoint (MLServer)."""
        try:
            if self.protocol == "grpc":
                return await self._client.get_model_config(name, version, as_json=True,
                                                           **self._kw())
            return await self._client.get_model_config(name, version)
        except Exception as exc:  # noqa: BLE001
            status = exc.status() if callable(getattr(exc, "status", None)) else None
            if str(status).removeprefix("StatusCode.") in ("UNIMPLEMENTED", "404", "405"):
                return None
            raise

    async def infer(self, name: str, version: str, arrays: dict[str, np.ndarray],
                    outputs: tuple[str, ...], class_counts: dict[str, int]) -> dict[str, np.ndarray]:
        if self.shm is None:
            return await self._infer(name, version, self._wire_inputs(arrays), outputs, class_counts)
        pool = self.shm
        region = None
        try:
            region = await pool.acquire(sum(a.nbytes for a in arrays.values()))
            # one memcpy per input; large copies off the loop (ctypes releases the GIL)
            values = list(arrays.values())
            if region.size > _COPY_OFF_LOOP_BYTES:
                offsets = await asyncio.to_thread(pool.write, region, values)
            else:
                offsets = pool.write(region, values)
            inputs = []
            for (input_name, arr), offset in zip(arrays.items(), offsets):
                inp = self._mod.InferInput(input_name, list(arr.shape), v2_datatype(arr.dtype))
                inp.set_shared_memory(region.name, arr.nbytes, offset)
                inputs.append(inp)
            return await self._infer(name, version, inputs, outputs, class_counts)
        except Exception as exc:
            from worker.inference.errors import TransientServerError
            from worker.inference.retry import classify

            kind = classify(exc)
            if isinstance(kind, TransientServerError) or "shared memory" in str(kind).lower():
                # the server went away or forgot the region: register again before the retry
                pool.stale = True
                if not isinstance(kind, TransientServerError):
                    raise TransientServerError(f"shared memory region unknown to the server: {kind}",
                                               kind.status) from exc
            raise
        finally:
            if region is not None:
                pool.release(region)

    def _wire_inputs(self, arrays: dict[str, np.ndarray]) -> list:
        inputs = []
        for input_name, arr in arrays.items():
            inp = self._mod.InferInput(input_name, list(arr.shape), v2_datatype(arr.dtype))
            data = np.ascontiguousarray(arr)
            if self.protocol == "grpc":
                inp.set_data_from_numpy(data)
            else:
                inp.set_data_from_numpy(data, binary_data=self.binary_data)
            inputs.append(inp)
        return inputs

    async def _infer(self, name: str, version: str, inputs: list, outputs: tuple[str, ...],
                     class_counts: dict[str, int]) -> dict[str, np.ndarray]:
        extra, headers = {}, None
        if self.protocol == "http":
            extra = {"binary_data": self.binary_data}
            if not self.binary_data:  # without it FastAPI servers read the body as a string
                headers = {"Content-Type": "application/json"}
        requested = [self._mod.InferRequestedOutput(o, class_count=class_counts.get(o, 0),
                                                    **extra)
                     for o in outputs]
        result = await self._client.infer(name, inputs, model_version=version,
                                          outputs=requested, headers=headers,
                                          **self._kw())
        got = {}
        for o in outputs:
            arr = result.as_numpy(o)
            if arr is None:
                raise KeyError(f"the server's response has no output {o!r}")
            got[o] = arr
        return got

    async def close(self) -> None:
        if self.shm is not None:
            pool, self.shm = self.shm, None
            await pool.close()
        await self._client.close()

