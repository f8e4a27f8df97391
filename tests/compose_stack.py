"""The shipped docker-compose.yml, run for real with CI's override (deploy/ci/docker-compose.ci.yml:
local images instead of registry ones, a numpy classifier instead of the ResNet-50 export, CPU
instead of a GPU reservation; nothing else changed), beside the broker and Triton fixtures.

``ComposeStack`` drives ``docker compose`` as a user does (``up -d``, ``--scale``, ``down``,
``down -v``) under a project name of its own, with Kafka's external listener on a free host port.
It needs a Docker engine, the Compose v2 plugin and the local images of ``deploy/ci/images.sh``
(which it builds when missing, cached). Without an engine or the plugin the tests skip, saying
what to install; with ``DSW_REQUIRE_DOCKER=1`` (set by .ci/run) they fail instead.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ["-f", "docker-compose.yml", "-f", "deploy/ci/docker-compose.ci.yml"]
CLASSIFIER = ROOT / "pipelines" / "resnet50"
CA_IN_CONTEXT = ROOT / ".pip-ca.pem"


def _unavailable(why: str):
    if os.environ.get("DSW_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{why} (DSW_REQUIRE_DOCKER=1: .ci/run installs and starts them)")
    pytest.skip(why)


def require_compose() -> None:
    docker = shutil.which("docker")
    if not docker:
        _unavailable("no docker CLI")
    info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if info.returncode != 0:
        _unavailable(f"no Docker engine answers: {info.stderr.strip()[:200]}")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        _unavailable("no Compose v2 plugin (`docker compose`); .ci/run builds one from the Go module proxy")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComposeStack:
    def __init__(self, procs: int = 1, partitions: int = 8):
        self.project = f"dsw-ci-{uuid.uuid4().hex[:8]}"
        self.kafka_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.env = {**os.environ, "KAFKA_HOST_PORT": str(self.kafka_port), "DSW_PROCS": str(procs),
                    "INPUT_PARTITIONS": str(partitions), "COMPOSE_PROGRESS": "plain"}
        for var in ("PUBLISH_ADDRESS", "TRITON_VERSION", "DSW_DELIVERY", "DSW_GROUP_ID"):
            self.env.pop(var, None)  # the shipped defaults, not the caller's
        self._wrote_ca = False
        self._wrote_classifier = not CLASSIFIER.exists()
        self.log: list[str] = []
        self.sent = 0  # input records produced so far (the tests count results against it)

    # -- docker compose ---------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, *FILES, *args]
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if args[0] != "ps":  # the polls of wait_healthy would drown the steps
            self.log.append(f"docker compose {' '.join(args)}: {time.monotonic() - t0:.0f} s, rc {r.returncode}")
        if check and r.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed (rc {r.returncode}):\n"
                                 f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n{self.logs()}")
        return r

    def logs(self, tail: int = 60) -> str:
        r = subprocess.run(["docker", "compose", "-p", self.project, *FILES, "logs", "--no-color",
                            "--tail", str(tail)], cwd=ROOT, env=self.env, capture_output=True, text=True)
        return r.stdout[-12000:]

    def build_images(self) -> None:
        """deploy/ci/images.sh (cached) and the CA bundle pip needs in the worker's build stage."""
        r = subprocess.run(["bash", "deploy/ci/images.sh"], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "DSW_PYTHON": sys.executable}, timeout=1800)
        if r.returncode != 0:
            raise AssertionError(f"deploy/ci/images.sh failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
        ca = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
        if ca and Path(ca).is_file() and not CA_IN_CONTEXT.exists():
            shutil.copyfile(ca, CA_IN_CONTEXT)
            self._wrote_ca = True

    def services(self) -> list[dict]:
        r = self.compose("ps", "--all", "--format", "json", check=False)
        out = r.stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_healthy(self, service: str = "worker", count: int = 1, timeout: float = 600) -> list[dict]:
        """Until ``count`` containers of ``service`` report healthy (the shipped healthchecks)."""
        deadline = time.monotonic() + timeout
        seen: list[dict] = []
        while time.monotonic() < deadline:
            seen = [s for s in self.services() if s.get("Service") == service]
            healthy = [s for s in seen if s.get("Health") == "healthy"]
            if len(healthy) >= count:
                return healthy
            dead = [s for s in self.services() if s.get("State") == "exited" and s.get("ExitCode", 0) != 0]
            if dead:
                raise AssertionError(f"{[d.get('Service') for d in dead]} exited with an error:\n{self.logs()}")
            time.sleep(3)
        raise AssertionError(f"{service}: {count} healthy not reached in {timeout:.0f} s "
                             f"({[(s.get('Name'), s.get('State'), s.get('Health')) for s in seen]}):\n{self.logs()}")

    # -- leftovers ---------------------------------------------------------------------------
    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.project}"
        out = {}
        for kind, args in (("containers", ["ps", "-a", "-q"]), ("volumes", ["volume", "ls", "-q"]),
                           ("networks", ["network", "ls", "-q"])):
            r = subprocess.run(["docker", *args, "--filter", label], capture_output=True, text=True)
            out[kind] = r.stdout.split()
        return out

    def cleanup(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=300)
        if self._wrote_ca:
            CA_IN_CONTEXT.unlink(missing_ok=True)
        if self._wrote_classifier:
            shutil.rmtree(CLASSIFIER, ignore_errors=True)


def dali_worker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The host's ``dali-worker`` (this venv), as a user runs it against the published port."""
    exe = Path(sys.executable).with_name("dali-worker")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
