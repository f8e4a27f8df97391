"""The development broker never outlives the process that started it (a test run killed with
SIGKILL must leave no broker behind for the next run)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OWNER = """
from worker.devkafka import KafkaBroker
import time
broker = KafkaBroker().start()
print("UP", broker._proc.pid, broker.data_dir, flush=True)
time.sleep(600)
"""


def _is_broker(pid: int) -> bool:
    try:
        return "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def test_broker_dies_with_its_owner_killed_by_sigkill():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        _, pid, data_dir = owner.stdout.readline().split()
        pid = int(pid)
        assert _is_broker(pid)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 15
        while _is_broker(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _is_broker(pid), "the broker outlived its owner"
        # the next launch cleans the registry entry and data folder of the dead one
        from worker.devkafka import REGISTRY, reap_stale_brokers

        reap_stale_brokers()
        assert not (REGISTRY / f"{pid}.json").exists()
        assert not Path(data_dir).exists()
    finally:
        if owner.poll() is None:
            owner.kill()
