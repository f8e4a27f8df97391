"""`dali-worker demo` end to end, as a new user runs it: its own broker, topics, worker and
images; one line per image, a summary, exit 0; Ctrl-C stops everything it started."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _pids(stderr: str) -> list[int]:
    return [int(a or b) for a, b in re.findall(r"\(pid (\d+)\)|worker pid (\d+)", stderr)]


def test_demo_answers_every_image_of_a_folder_and_exits_0():
    images = sorted(p.name for p in DATA.iterdir() if p.suffix in (".jpg", ".png"))
    proc = subprocess.run([sys.executable, "-m", "worker", "demo", str(DATA), "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in images:
        mine = [ln for ln in lines if ln.startswith(name + " ")]
        assert len(mine) == 1, (name, proc.stdout)
        assert re.search(r"\d+x\d+ px, mean colour #[0-9a-f]{6} .*\(\d+ ms, worker \d+ ms\)$", mine[0]), mine[0]
    assert f"{len(images)} of {len(images)} images answered with a result" in proc.stdout
    assert "Kafka is up" in proc.stderr and "the worker is ready" in proc.stderr
    assert not [p for p in _pids(proc.stderr) if _alive(p)], "the demo left a process behind"


def test_ctrl_c_stops_the_broker_and_the_worker():
    proc = subprocess.Popen([sys.executable, "-m", "worker", "demo", "--device", "cpu", "--timeout", "600"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = []
    try:
        for text in proc.stderr:  # until the worker is starting
            err.append(text)
            if "worker pid" in text:
                break
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = "".join(err) + rest
    assert proc.returncode == 130, stderr
    assert "interrupted: stopping" in stderr
    pids = _pids(stderr)
    assert len(pids) == 2, stderr
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], f"left running: {pids}\n{stderr}"


def test_demo_forwards_to_a_model_served_by_a_local_triton(tmp_path):
    """--model-repository: the wheel's Triton serves the user's model (a Python-backend
    classifier with labels), the worker forwards the classify pipeline's tensors to it, and each
    image's line gives the model's top labels."""
    from tests.triton_server import CLASSIFIER, write_repository

    models = write_repository(tmp_path / "models", [CLASSIFIER])
    images = sorted(p.name for p in DATA.iterdir() if p.suffix in (".jpg", ".png"))
    proc = subprocess.run([sys.executable, "-m", "worker", "demo", str(DATA), "--device", "cpu",
                           "--repository", str(ROOT / "pipelines"), "--model-repository", str(models),
                           "--top-k", "3"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in images:
        mine = [ln for ln in proc.stdout.splitlines() if ln.startswith(name + " ")]
        assert len(mine) == 1 and re.search(r"^\S+ +(class_\d -?\d\.\d\d, ){2}class_\d -?\d\.\d\d  \(", mine[0]), \
            proc.stdout
    assert "Triton is serving mean-classifier" in proc.stderr
    assert not [p for p in _pids(proc.stderr) if _alive(p)], "the demo left a process behind"


def test_demo_on_a_broker_of_ones_own_uses_topics_of_its_own(kafka_bootstrap):
    """--bootstrap-servers: no broker started; the run's topics get a unique name, so a second
    run (or another user) on the same broker reads only its own results."""
    runs = [subprocess.run([sys.executable, "-m", "worker", "demo", "--device", "cpu",
                            "--bootstrap-servers", kafka_bootstrap],
                           cwd=ROOT, capture_output=True, text=True, timeout=300) for _ in range(2)]
    topics = []
    for proc in runs:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "starting a development Kafka broker" not in proc.stderr
        assert "4 of 4 images answered with a result" in proc.stdout
        assert len([ln for ln in proc.stdout.splitlines() if re.match(r"\w+\.jpg +\d+x\d+ px", ln)]) == 4
        topics.append(re.search(r"topics (demo\.[0-9a-f]{8})\.images", proc.stderr).group(1))
    assert topics[0] != topics[1]
