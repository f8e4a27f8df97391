"""Shared-memory hand-off: the pure parts (which servers count as local, region sizes, the
route option). The hand-off itself is tested against a real Triton (tests/integration)."""
from __future__ import annotations

import numpy as np
import pytest

from worker.inference import ModelRoute
from worker.inference.errors import InferenceConfigError
from worker.inference import shm
from worker.inference.shm import MIN_REGION, SystemShmPool, is_local, region_size


def test_local_servers():
    assert is_local("127.0.0.1:8001") and is_local("localhost:8001") and is_local("[::1]:8001")
    assert not is_local("triton:8001") and not is_local("10.0.0.7:8001")


def test_region_sizes_are_powers_of_two_from_one_mib():
    assert region_size(1) == MIN_REGION
    assert region_size(MIN_REGION + 1) == 2 * MIN_REGION
    assert region_size(64 * 3 * 224 * 224 * 4) == 64 << 20


def test_route_option():
    base = {"url": "127.0.0.1:8001", "name": "m"}
    assert ModelRoute.from_dict(base).shared_memory == "auto"
    assert ModelRoute.from_dict({**base, "shared_memory": "off"}).shared_memory == "off"
    with pytest.raises(InferenceConfigError, match="shared_memory"):
        ModelRoute.from_dict({**base, "shared_memory": "cuda-maybe"})


def test_pool_writes_inputs_back_to_back_and_reuses_regions():
    class Server:  # registration is the server's business; here only its calls are counted
        def __init__(self):
            self.calls = []

        async def register_system_shared_memory(self, name, key, size):
            self.calls.append(("register", name, size))

        async def unregister_system_shared_memory(self, name):
            self.calls.append(("unregister", name))

    import asyncio

    from tritonclient.utils import shared_memory

    async def go():
        server = Server()
        pool = SystemShmPool(server)
        a, b = np.arange(6, dtype=np.float32), np.arange(4, dtype=np.int64)
        r = await pool.acquire(a.nbytes + b.nbytes)
        offsets = pool.write(r, [a, b])
        got_a = shared_memory.get_contents_as_numpy(r.handle, np.float32, [6], offset=offsets[0]).copy()
        got_b = shared_memory.get_contents_as_numpy(r.handle, np.int64, [4], offset=offsets[1]).copy()  # views die with the region
        pool.release(r)
        again = await pool.acquire(100)
        pool.stale = True
        pool.release(again)
        third = await pool.acquire(100)  # stale: every region registered again first
        await pool.close()
        return server.calls, offsets, got_a, got_b, again is r, third is r

    calls, offsets, got_a, got_b, reused, reused_after_stale = asyncio.run(go())
    assert offsets == [0, 24]
    np.testing.assert_array_equal(got_a, np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(got_b, np.arange(4, dtype=np.int64))
    assert reused and reused_after_stale
    kinds = [c[0] for c in calls]
    assert kinds == ["register", "unregister", "register", "unregister"], calls


def test_tls_options(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    base = {"name": "m"}
    assert ModelRoute.from_dict({**base, "url": "grpcs://h:8001"}).tls
    r = ModelRoute.from_dict({**base, "url": "https://h:8000"})
    assert r.tls and r.protocol == "http" and r.model_ref == "model 'm' at https://h:8000"
    assert ModelRoute.from_dict({**base, "url": "h:8001", "tls_ca_file": str(ca)}).tls
    assert not ModelRoute.from_dict({**base, "url": "h:8001"}).tls
    with pytest.raises(InferenceConfigError, match="go together"):
        ModelRoute.from_dict({**base, "url": "grpcs://h:1", "tls_cert_file": str(ca)})
    with pytest.raises(InferenceConfigError, match="not a file"):
        ModelRoute.from_dict({**base, "url": "grpcs://h:1", "tls_ca_file": str(tmp_path / "nope")})


# ---- the /dev/shm capacity check at start (docs/deployment.md, "/dev/shm") ----------------------

def test_request_bytes_counts_the_batch_and_refuses_open_dims():
    from worker.inference.fit import TensorSpec

    spec = TensorSpec("input", np.dtype("float32"), (3, 224, 224))
    assert shm.request_bytes([spec], 64) == 64 * 3 * 224 * 224 * 4
    assert shm.request_bytes([TensorSpec("x", np.dtype("uint8"), (-1,))], 64) is None


def test_capacity_check_names_the_numbers_when_regions_cannot_fit(tmp_path):
    import os

    st = os.statvfs(tmp_path)
    size = st.f_frsize * st.f_blocks
    region = 64 * 1024 * 1024
    if size >= region:
        shm.check_capacity([("m", region, 1)], 1, path=str(tmp_path))  # one region fits: no error
    shm.check_capacity([], 10 ** 6, path=str(tmp_path))  # no route in shared memory: nothing to fit
    # two routes that fit alone may not together: the check adds them up
    processes = size // (8 * region) + 1
    with pytest.raises(InferenceConfigError) as err:
        shm.check_capacity([("resnet50@triton:8001", region, 4), ("other@triton:8001", region, 4)],
                           processes, path=str(tmp_path))
    text = str(err.value)
    assert "\n" not in text and f"{processes} process(es) x (resnet50@triton:8001: 4 requests in flight x 64 MiB" in text
    assert "other@triton:8001" in text and "SHM_SIZE" in text and "shared_memory = \"off\"" in text
