"""A real KServe-V2 inference server for tests: MLServer, run as a subprocess.

No test uses it any more: the forwarding tests run against a real Triton (tests/triton_server.py,
from the nvidia-pytriton wheel). It stays for ``bench/run_all.py`` (d), and as a harness for a V2
server that is not Triton (no model-config endpoint, JSON tensors only over HTTP, gRPC's default
4 MiB message limit), should a test need one again.

MLServer speaks the same V2 protocol as Triton over HTTP and gRPC. MLServer's dependencies (FastAPI, pydantic, ...) must not mix
with ours, so it lives in its own venv, made once and cached:

    ~/.cache/dali-stream-worker/mlserver-<version>-py<XY>-venv

(``DSW_MLSERVER_VENV`` names a ready venv instead). The first run on a clean machine installs it
with ``python -m venv`` and pip (about half a minute with a network); later runs reuse it.

Use the fixtures by importing them in a test module or conftest::

    from tests.inference_server import mlserver_venv, classifier_server  # noqa: F401

``MLServerProcess`` can also be driven by hand: ``stop()`` and ``start()`` again on the same
ports, to test a client that must ride out a server restart.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from worker.procutil import die_with_parent

MLSERVER_VERSION = os.environ.get("DSW_MLSERVER_VERSION", "1.7.1")
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dali-stream-worker"
SERVERS_DIR = Path(__file__).resolve().parent / "servers"
# a clean install downloads ~100 MB of wheels; allow for a slow mirror
INSTALL_TIMEOUT_S = 900
# MLServer imports FastAPI, gRPC and its runtime; on 2 busy cores that takes several seconds
READY_TIMEOUT_S = float(os.environ.get("DSW_MLSERVER_READY_TIMEOUT", "90"))


class InferenceServerError(RuntimeError):
    """The test inference server could not be installed or started."""


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_mlserver_venv(version: str = MLSERVER_VERSION) -> Path:
    """The venv holding ``mlserver==version``, installed on first use (file-locked, so parallel
    test sessions do not install twice). A half-made venv (no ``.complete`` marker) is rebuilt."""
    env_venv = os.environ.get("DSW_MLSERVER_VENV")
    if env_venv:
        venv = Path(env_venv)
        if not (venv / "bin" / "mlserver").exists():
            raise InferenceServerError(f"DSW_MLSERVER_VENV={venv} has no bin/mlserver; "
                                       f"install it with: {venv}/bin/pip install mlserver=={version}")
        return venv
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    venv = CACHE_ROOT / f"mlserver-{version}-{py}-venv"
    marker = venv / ".complete"
    if marker.exists():
        return venv
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"mlserver-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        log = CACHE_ROOT / f"mlserver-{version}-install.log"
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(_venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
             f"mlserver=={version}"],
        ]
        with open(log, "w") as out:
            for cmd in steps:
                try:
                    rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                                        timeout=INSTALL_TIMEOUT_S).returncode
                except subprocess.TimeoutExpired:
                    rc = "timeout"
                if rc != 0:
                    raise InferenceServerError(
                        f"installing MLServer {version} failed ({' '.join(cmd)} -> {rc}); "
                        f"log {log}:\n{_tail(log)}")
        marker.write_text(version)
        return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


@dataclass
class ModelSpec:
    """One model folder: ``model-settings.json`` for an MLServer runtime in ``tests/servers``."""
    name: str
    implementation: str  # "module.Class", the module under tests/servers
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    version: str = "1"
    extra: dict = field(default_factory=dict)  # model-settings parameters.extra

    def write(self, root: Path) -> None:
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "name": self.name,
            "implementation": self.implementation,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "parameters": {"version": self.version, "extra": self.extra},
        }
        (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))


CLASSIFIER = ModelSpec(
    name="mean-classifier",
    implementation="classifier_runtime.MeanClassifier",
    inputs=[{"name": "image", "datatype": "FP32", "shape": [-1, 3, -1, -1]}],
    outputs=[{"name": "logits", "datatype": "FP32", "shape": [-1, 10]},
             {"name": "request_size", "datatype": "INT32", "shape": [-1, 1]}],
)

# Protocol-level stand-in for a model in Triton's DALI backend (UINT8 [-1] encoded inputs).
ENCODED = ModelSpec(
    name="encoded-stats",
    implementation="encoded_runtime.EncodedStats",
    inputs=[{"name": "encoded", "datatype": "UINT8", "shape": [-1, -1]}],
    outputs=[{"name": "length", "datatype": "INT64", "shape": [-1, 1]},
             {"name": "checksum", "datatype": "UINT64", "shape": [-1, 1]},
             {"name": "request_size", "datatype": "INT32", "shape": [-1, 1]}],
)


class MLServerProcess:
    """``mlserver start`` on free loopback ports; stop and start again keep the same ports."""

    def __init__(self, venv: Path, models: list[ModelSpec], workdir: Path,
                 extra_pythonpath: list[str] | None = None):
        self.venv = venv
        self.models = models
        self.workdir = workdir
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.log_path = workdir / "mlserver.log"
        self._proc: subprocess.Popen | None = None
        self._pythonpath = [str(SERVERS_DIR), *(extra_pythonpath or [])]
        repo = workdir / "models"
        for model in models:
            model.write(repo)
        settings = {
            "host": "127.0.0.1",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_endpoint": None,  # no metrics server, no third port
            "parallel_workers": 0,  # infer in the server process: faster start, less memory
            "debug": False,
            "load_models_at_startup": True,
        }
        (repo / "settings.json").write_text(json.dumps(settings, indent=2))
        self.repo = repo

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def url(self, protocol: str) -> str:
        return self.grpc_url if protocol == "grpc" else self.http_url

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, wait: bool = True) -> "MLServerProcess":
        if self.running:
            return self
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(self._pythonpath)
        env.pop("VIRTUAL_ENV", None)
        log = open(self.log_path, "a")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n")
        log.flush()
        self._proc = subprocess.Popen(
            [str(self.venv / "bin" / "mlserver"), "start", str(self.repo)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
            preexec_fn=die_with_parent, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until every model answers ready over HTTP; a clear error with the log tail if not."""
        deadline = time.monotonic() + timeout
        pending = [m.name for m in self.models]
        while True:
            if not self.running:
                code = self._proc.returncode if self._proc else None
                raise InferenceServerError(
                    f"MLServer exited with {code} before it was ready; {self.log_path}:\n"
                    f"{_tail(self.log_path)}")
            pending = [m for m in pending if not self._model_ready(m)]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise InferenceServerError(
                    f"MLServer on http {self.http_url} / grpc {self.grpc_url} not ready after "
                    f"{timeout:.0f}s (models not ready: {pending}); {self.log_path}:\n"
                    f"{_tail(self.log_path)}")
            time.sleep(0.2)

    def _model_ready(self, name: str) -> bool:
        url = f"http://{self.http_url}/v2/models/{name}/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, kill: bool = False, timeout: float = 15) -> None:
        """SIGTERM (or SIGKILL with ``kill``) the server's process group and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> "MLServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def mlserver_venv() -> Path:
    return ensure_mlserver_venv()


@contextlib.contextmanager
def running_server(venv: Path, models: list[ModelSpec], **kwargs):
    with tempfile.TemporaryDirectory(prefix="mlserver-") as tmp:
        server = MLServerProcess(venv, models, Path(tmp), **kwargs)
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def classifier_server(mlserver_venv):
    """MLServer with the mean classifier (and the encoded-input stand-in for a DALI-backend
    model), shared by a test module. Do not stop it in a test: use
    ``restartable_classifier_server`` for that."""
    with running_server(mlserver_venv, [CLASSIFIER, ENCODED]) as server:
        yield server


@pytest.fixture
def restartable_classifier_server(mlserver_venv):
    """A server of the test's own, which the test may stop and start again."""
    with running_server(mlserver_venv, [CLASSIFIER]) as server:
        yield server
