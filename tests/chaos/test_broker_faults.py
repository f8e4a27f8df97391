"""Chaos (2) and (3): the broker killed with SIGKILL mid-stream and restarted on its data, and
network faults between worker and broker (latency, a bandwidth limit, every connection reset, a blackhole longer
than the request timeout) through a proxy the test controls. The worker recovers by itself or
exits non-zero and its supervisor restarts it; nothing is lost in either mode, and exactly-once
shows no duplicate in read_committed output."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.chaos.helpers import FAST, check, items, outcomes, progress, wait_until, worker_args
from tests.tcp_proxy import TcpProxy
from tests.worker_harness import WorkerProcess, produce, setup_topics, small_jpegs
from worker.devkafka import KafkaBroker, free_port

PARTS = 4
MODES = ["at-least-once", "exactly-once"]
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def proxied_broker():
    """A broker of its own (killed and restarted by these tests), advertising a proxy's address
    on its EXTERNAL listener: workers bootstrap through the proxy, the tests' clients do not."""
    external = free_port()
    proxy = TcpProxy(external).start()
    broker = KafkaBroker(external=(external, proxy.port)).start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


def _stream(broker: KafkaBroker, n: int):
    tin, tout, tdlq = setup_topics(broker.bootstrap_servers, f"c-{uuid.uuid4().hex[:6]}", PARTS)
    stream, ids = items(n)
    asyncio.run(produce(broker.bootstrap_servers, tin, stream, partitions=PARTS))
    return (tin, tout, tdlq), ids


@pytest.mark.parametrize("delivery", MODES)
def test_broker_sigkill_and_restart_on_its_data(proxied_broker, tmp_path, delivery):
    broker, proxy = proxied_broker
    eos = delivery == "exactly-once"
    (tin, tout, tdlq), ids = _stream(broker, 1200)
    direct = broker.bootstrap_servers
    args = worker_args(tin, tout, tdlq, f"g-{uuid.uuid4().hex[:6]}", delivery)
    with WorkerProcess(f"127.0.0.1:{proxy.port}", args, tmp_path / "w.log", env=FAST) as w:
        wait_until(lambda: len(outcomes(direct, tout, tdlq, ids, eos).ids) >= 200, 120, "200 outcomes", w.log)
        broker.kill()
        t0 = time.monotonic()
        time.sleep(3)  # down for a while: clients notice, retry, maybe give up
        broker.restart()
        print(f"broker down {time.monotonic() - t0:.1f} s")
        out = outcomes(direct, tout, tdlq, ids, eos, timeout=180, settle=2.0)
        assert w.terminate(90) == 0, w.log()[-4000:]
        log = w.log()
    out = outcomes(direct, tout, tdlq, ids, eos, timeout=30, settle=1.0)
    restarts = log.count("restarting")
    check(out, ids, eos, f"broker SIGKILL, {delivery} ({restarts} worker restarts)")


@pytest.mark.timeout(480)
@pytest.mark.parametrize("delivery", MODES)
def test_latency_resets_and_a_blackhole_between_worker_and_broker(proxied_broker, tmp_path, delivery):
    broker, proxy = proxied_broker
    eos = delivery == "exactly-once"
    (tin, tout, tdlq), ids = _stream(broker, 1500)
    direct = broker.bootstrap_servers
    args = worker_args(tin, tout, tdlq, f"g-{uuid.uuid4().hex[:6]}", delivery)
    with WorkerProcess(f"127.0.0.1:{proxy.port}", args, tmp_path / "w.log", env=FAST) as w:
        wait_until(lambda: len(outcomes(direct, tout, tdlq, ids, eos).ids) >= 150, 120, "150 outcomes", w.log)
        proxy.set_latency(0.15)  # every chunk 150 ms late, each way: slower, never wrong
        wait_until(progress(direct, tout, tdlq, ids, eos), 120, "progress under latency", w.log)
        proxy.set_latency(0.0)
        for _ in range(2):  # every connection reset at once, twice
            assert proxy.reset_all() > 0
            wait_until(progress(direct, tout, tdlq, ids, eos), 120, "progress after resets", w.log)
        proxy.blackhole(True)  # silent for longer than the request and the session timeouts
        time.sleep(8)
        proxy.blackhole(False)
        out = outcomes(direct, tout, tdlq, ids, eos, timeout=180, settle=2.0)
        # a slow link, a fault of its own: 6 MB arrive while the worker cannot fetch, then the
        # link carries 400 KB/s. A fetch of more than 2 MB cannot arrive within the 5 s request
        # timeout, so the worker's 16 MiB fetches must shrink for it to make progress at all
        photos = small_jpegs(8)
        big = [(f"big-{i:03d}", photos[i % 8] + bytes(100_000)) for i in range(60)]
        big_ids = {k for k, _ in big}
        proxy.blackhole(True)
        asyncio.run(produce(direct, tin, big, partitions=PARTS))
        proxy.set_bandwidth(400_000)
        proxy.blackhole(False)
        wait_until(lambda: big_ids <= outcomes(direct, tout, tdlq, big_ids, eos).ids, 240,
                   "every input through the slow link", w.log)
        proxy.set_bandwidth(None)
        ids |= big_ids
        assert w.terminate(90) == 0, w.log()[-4000:]
        log = w.log()
    assert "fetch sizes lowered" in log, log[-4000:]
    out = outcomes(direct, tout, tdlq, ids, eos, timeout=30, settle=1.0)
    check(out, ids, eos, f"network faults, {delivery} ({log.count('restarting')} worker restarts, "
                         f"{'evicted' in log and 'evicted and fenced' or 'not evicted'}, "
                         f"{log.count('fetch sizes lowered')} fetch size cuts on the slow link)")
