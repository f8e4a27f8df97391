"""A worker that cannot start as configured says so in one line and exits 2, and a supervisor
stops on it instead of restarting its children forever (issue 21). No broker is needed: these
fail before Kafka is contacted."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.worker_harness import ROOT


def _run(*args: str, timeout: float = 120) -> tuple[int, str, str, float]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "CUDA_VISIBLE_DEVICES": ""}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "worker", "run", "--input", "in", *args], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


@pytest.mark.parametrize("args, says", [
    (["--pipeline", "no_such_pipeline", "--no-supervise"], "model 'no_such_pipeline' not found"),
    (["--pipeline", "classify", "--device", "gpu"], "no GPU is visible"),
    (["--pipeline", "classify", "--feed", "padded", "--max-batch-size", "-1"], "max_batch_size"),
    (["--pipeline", "classify", "--output-dtype", "float16", "--repository", "/nonexistent"], "does not exist"),
])
def test_configuration_errors_are_one_line_and_exit_2(args, says):
    code, out, err, _ = _run(*args)
    assert code == 2, (code, out, err)
    lines = [ln for ln in err.splitlines() if "configuration error" in ln]
    assert len(lines) == 1 and says in lines[0], err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("procs", ["1", "2"])
def test_the_supervisor_stops_on_a_configuration_error(procs):
    """Before, under --procs the supervisor restarted children that failed the same way forever."""
    code, out, err, took = _run("--pipeline", "no_such_pipeline", "--procs", procs, timeout=90)
    assert code == 2, (code, err[-2000:])
    assert "cannot start as configured" in err and "restarting in" not in err, err[-2000:]
    assert err.count("started worker pid") == int(procs), err[-2000:]
    assert "Traceback" not in err
