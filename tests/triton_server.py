"""A real Triton Inference Server for tests, run as a subprocess on the CPU.

Where Triton comes from: ``worker/devtriton.py`` (``ensure_triton()``, shared with
``dali-worker demo --model-repository``): the ``tritonserver`` build (Triton 2.51) inside the
``nvidia-pytriton`` wheel on PyPI, fetched once into ``~/.cache/dali-stream-worker/`` with the
Python-backend stub for this interpreter and numpy<2 for it (``DSW_PYTRITON_WHEEL`` names a wheel
file instead). The stub does NOT inherit ``PYTHONPATH`` and with numpy 2 answers EMPTY output
tensors (the client then fails with "cannot reshape array of size 0"), so every ``model.py`` this
module writes starts with a preamble that puts numpy<2, and the model's version folder (where
the numpy-only math modules of ``tests/servers`` are copied: ``mean_classifier.py``, ...), first
on ``sys.path``.

The model repository is a temporary folder written from the templates in
``tests/servers/triton/<model>/`` (``config.pbtxt`` + ``1/model.py``), see ``TritonModel``. The
server runs with ``--model-control-mode=explicit --load-model=*``, so a test can unload and load
a model with Triton's model repository API (``TritonProcess.unload``/``load``).

Fixtures (import them by name in a test module)::

    from tests.triton_server import triton_classifier_server, restartable_triton_server  # noqa

- ``triton_classifier_server`` (module scope): every model of ``ALL_MODELS``. Do not stop it.
- ``restartable_triton_server`` (function scope): a server of the test's own with
  ``mean-classifier`` only, which the test may stop, start, unload and load.

``TRITON_URL`` makes the fixtures use a running Triton instead (it must serve the models of
``ALL_MODELS``: ``python -m tests.triton_server --write-repository DIR`` writes them, then start it
with ``--model-repository DIR --model-control-mode=explicit --load-model=*``). Its form:
``host:port`` or ``grpc://host:port`` is the gRPC address, and HTTP is taken to be one port below
(Triton's 8001/8000 layout); ``http://host:port`` is the HTTP address, gRPC one port above.
``TRITON_HTTP_URL`` (``host:port``) names the HTTP address explicitly. With ``TRITON_URL``,
``restartable_triton_server`` skips, saying why: those tests stop the server or unload models.

The server dies with the test run: its own process group (``stop`` signals the group, which
holds the Python-backend stubs too) and PR_SET_PDEATHSIG (SIGKILL when pytest dies), set as
``worker.procutil.die_with_parent`` does but by a small launcher that then execs tritonserver:
a ``preexec_fn`` would make subprocess fork the test process, which is unsafe while gRPC
threads run in it (seen here: the child stuck in gRPC's fork handling, tritonserver never
started), whereas without one CPython spawns with vfork.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest


SERVERS_DIR = Path(__file__).resolve().parent / "servers"
TEMPLATES_DIR = SERVERS_DIR / "triton"
# every Python-backend model is a stub process that imports numpy; on 2 busy cores a repository
# of six models is ready in about 5 s
READY_TIMEOUT_S = float(os.environ.get("DSW_TRITON_READY_TIMEOUT", "120"))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- installation: worker/devtriton.py (the demo's --model-repository uses it too) ---------------
from worker.devtriton import (  # noqa: E402,F401  (re-exported: tests and deploy/ import them here)
    TritonError as InferenceServerError,
    TritonInstall,
    ensure_triton,
)


# -- the model repository ---------------------------------------------------------------------
# Helper modules (numpy only) that model.py files import; copied beside each model.py.
HELPERS = ("mean_classifier.py", "encoded_stats.py", "ensemble_preprocess.py")

PREAMBLE = '''\
# -- written by tests/triton_server.py: Triton's Python-backend stub does not inherit
# PYTHONPATH and needs numpy<2 (numpy 2 gives empty output tensors); the numpy-only helper
# modules (mean_classifier.py, ...) are copied beside this file.
import os as _os
import sys as _sys

_sys.path[:0] = [_p for _p in ({numpy_dir!r}, _os.path.dirname(_os.path.abspath(__file__))) if _p]
# -- the model, from tests/servers/triton/{template}/1/model.py:
'''


@dataclass(frozen=True)
class TritonModel:
    """One model folder of the repository, made from ``tests/servers/triton/<template>/``:
    ``name`` prepended to its config.pbtxt, ``max_batch_size`` replaced when given,
    ``parameters`` appended (string values, read by model.py from the config), ``labels.txt``
    (mean_classifier.LABELS) written when the config names it, and a sys.path preamble put above
    each ``model.py``."""
    name: str
    template: str
    max_batch_size: int | None = None
    parameters: dict = field(default_factory=dict)

    def config_text(self) -> str:
        text = (TEMPLATES_DIR / self.template / "config.pbtxt").read_text()
        if self.max_batch_size is not None:
            text, n = re.subn(r"(?m)^max_batch_size:\s*\d+", f"max_batch_size: {self.max_batch_size}",
                              text)
            assert n == 1, f"{self.template}/config.pbtxt: no max_batch_size line to replace"
        lines = [f'name: "{self.name}"', text.rstrip()]
        for key, value in self.parameters.items():
            lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
        return "\n".join(lines) + "\n"

    def write(self, repo: Path, numpy_dir: str = "") -> Path:
        src, dst = TEMPLATES_DIR / self.template, repo / self.name
        if not (src / "config.pbtxt").is_file():
            raise InferenceServerError(f"no model template {src}/config.pbtxt")
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        config = self.config_text()
        (dst / "config.pbtxt").write_text(config)
        if 'label_filename: "labels.txt"' in config:
            if str(SERVERS_DIR) not in sys.path:
                sys.path.insert(0, str(SERVERS_DIR))
            import mean_classifier

            (dst / "labels.txt").write_text("\n".join(mean_classifier.LABELS) + "\n")
        for model_py in dst.glob("*/model.py"):
            body = model_py.read_text()
            model_py.write_text(PREAMBLE.format(numpy_dir=numpy_dir, template=self.template)
                                + body)
            for helper in HELPERS:
                shutil.copy2(SERVERS_DIR / helper, model_py.parent / helper)
        return dst


CLASSIFIER = TritonModel("mean-classifier", "mean-classifier")
# the client must split batches to respect the model's own max_batch_size
SMALL_CLASSIFIER = TritonModel("mean-classifier-small", "mean-classifier", max_batch_size=4)
# also rejects all-dark samples: a black JPEG through the "classify" pipeline is about -2
# everywhere, so an end-to-end test can aim a model_error at one message
DARK_REJECTING = TritonModel("mean-classifier-dark", "mean-classifier",
                             parameters={"reject_below": "-1.5"})
ENCODED = TritonModel("encoded-stats", "encoded-stats")
PREPROCESS = TritonModel("ensemble-preprocess", "ensemble-preprocess")
ENSEMBLE = TritonModel("classifier-ensemble", "classifier-ensemble")  # preprocess -> classifier
ALL_MODELS = [CLASSIFIER, SMALL_CLASSIFIER, DARK_REJECTING, ENCODED, PREPROCESS, ENSEMBLE]


def write_repository(repo: Path, models: list[TritonModel], numpy_dir: str = "") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    for model in models:
        model.write(repo, numpy_dir)
    return repo


# -- the server -------------------------------------------------------------------------------
SHM_DIR = Path("/dev/shm")
_SHM_PREFIX = re.compile(r"^dswpb(\d+)_(\d+)_")


def _shm_prefix(grpc_port: int) -> str:
    return f"dswpb{os.getpid()}_{grpc_port}_"


def _remove_shm(prefix: str | None = None) -> None:
    """The Python backend's shared-memory regions in /dev/shm named by this module: those of
    ``prefix`` (one server's, after it stopped: a killed server leaves them behind), or with no
    prefix those of test sessions that are gone."""
    from worker.procutil import pid_alive

    with contextlib.suppress(OSError):
        for f in SHM_DIR.iterdir():
            m = _SHM_PREFIX.match(f.name)
            if m and (f.name.startswith(prefix) if prefix else not pid_alive(int(m.group(1)))):
                with contextlib.suppress(OSError):
                    f.unlink()


# worker.procutil.die_with_parent, in the child before it execs tritonserver (argv: the test
# process's pid, then the command); exits 70 if the test process is already gone
from worker.devtriton import LAUNCHER as _LAUNCHER  # noqa: E402

# PR_SET_PDEATHSIG fires when the *thread* that started the child exits, so a server started
# from an executor thread (run_in_executor(None, server.start)) would be killed when that
# thread ends. Servers are started from this one thread, which lives as long as the session.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triton-spawner")


class _Endpoints:
    """What tests use of a server's addresses, and Triton's HTTP API for health and models."""
    http_port: int
    grpc_port: int
    host = "127.0.0.1"
    model_names: list[str]

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def url(self, protocol: str) -> str:
        return self.grpc_url if protocol == "grpc" else self.http_url

    def _http(self, method: str, path: str, body: dict | None = None,
              timeout: float = 2.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.http_url}/{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def model_ready(self, name: str) -> bool:
        try:
            return self._http("GET", f"v2/models/{name}/ready")[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def unload(self, name: str, timeout: float = 60) -> None:
        """``POST v2/repository/models/<name>/unload``; returns once the model is not ready
        (Triton waits for the requests in flight on it first)."""
        code, body = self._http("POST", f"v2/repository/models/{name}/unload", {},
                                timeout=timeout)
        if code != 200:
            raise InferenceServerError(f"unloading {name}: HTTP {code} {body[:500]!r}")
        deadline = time.monotonic() + timeout
        while self.model_ready(name):
            if time.monotonic() > deadline:
                raise InferenceServerError(f"{name} still ready {timeout:.0f}s after unload")
            time.sleep(0.1)

    def load(self, name: str, timeout: float = 120) -> None:
        """``POST v2/repository/models/<name>/load``: Triton answers once the model is loaded."""
        code, body = self._http("POST", f"v2/repository/models/{name}/load", {}, timeout=timeout)
        if code != 200:
            raise InferenceServerError(f"loading {name}: HTTP {code} {body[:1000]!r}")

    def repository_index(self) -> list[dict]:
        code, body = self._http("POST", "v2/repository/index", {})
        if code != 200:
            raise InferenceServerError(f"repository index: HTTP {code} {body[:500]!r}")
        return json.loads(body)


class TritonProcess(_Endpoints):
    """``tritonserver`` on free loopback ports with a repository of ``models``; stop and start
    again keep the same ports (and the same repository)."""

    def __init__(self, install: TritonInstall, models: list[TritonModel], workdir: Path,
                 extra_args: list[str] | None = None):
        self.install = install
        self.models = list(models)
        self.model_names = [m.name for m in self.models]
        self.workdir = workdir
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.log_path = workdir / "tritonserver.log"
        self.repo = write_repository(workdir / "models", self.models, str(install.stub_numpy))
        self.extra_args = list(extra_args or [])
        self._proc: subprocess.Popen | None = None
        _remove_shm()  # left by killed sessions

    def command(self) -> list[str]:
        return [
            str(self.install.tritonserver),
            f"--model-repository={self.repo}",
            f"--backend-directory={self.install.backends}",
            "--model-control-mode=explicit", "--load-model=*",
            "--http-address=127.0.0.1", f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
            "--allow-metrics=false",  # no third port; the worker's metrics are not Triton's
            "--exit-timeout-secs=5",  # SIGTERM: wait at most 5 s for requests in flight
            # the stubs' shared-memory regions in /dev/shm, named per server: two servers (a
            # module's and a test's own, or parallel sessions) must not share them
            f"--backend-config=python,shm-region-prefix-name={_shm_prefix(self.grpc_port)}",
            *self.extra_args,
        ]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    def start(self, wait: bool = True) -> "TritonProcess":
        if self.running:
            return self
        log = open(self.log_path, "a")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.command())} ===\n")
        log.flush()
        try:
            self._proc = _SPAWNER.submit(
                subprocess.Popen,
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *self.command()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.install.env(), cwd=self.workdir, start_new_session=True).result()
        finally:
            log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until the server and every model answer ready over HTTP; a clear error with the log
        tail if the server exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        pending = ["(server)", *self.model_names]
        while True:
            if not self.running:
                code = self._proc.returncode if self._proc else None
                tail = _tail(self.log_path)
                hint = ("\n(the Python-backend stub needs libpython"
                        f"{sys.version_info.major}.{sys.version_info.minor}.so: install it, e.g. "
                        "apt-get install libpython3.X)" if "libpython" in tail else "")
                raise InferenceServerError(f"tritonserver exited with {code} before it was ready;"
                                           f" {self.log_path}:\n{tail}{hint}")
            pending = [m for m in pending if not (self._server_ready() if m == "(server)"
                                                  else self.model_ready(m))]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise InferenceServerError(
                    f"tritonserver on http {self.http_url} / grpc {self.grpc_url} not ready after "
                    f"{timeout:.0f}s (not ready: {pending}); {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.2)

    def _server_ready(self) -> bool:
        try:
            return self._http("GET", "v2/health/ready")[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, kill: bool = False, timeout: float = 20) -> None:
        """SIGTERM (or SIGKILL with ``kill``) the server's process group (the server and its
        Python-backend stubs) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # stubs left behind by a killed server (they would exit when they notice it is gone)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        _remove_shm(_shm_prefix(self.grpc_port))

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> "TritonProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ExternalTriton(_Endpoints):
    """A Triton the tests do not own (``TRITON_URL``): same addresses and model API as
    TritonProcess; stopping or starting it skips the test."""

    def __init__(self, grpc: tuple[str, int], http: tuple[str, int], models: list[TritonModel]):
        (self.host, self.grpc_port), (http_host, self.http_port) = grpc, http
        if http_host != self.host:
            raise InferenceServerError(f"TRITON_URL and TRITON_HTTP_URL name different hosts "
                                       f"({self.host}, {http_host})")
        self.models = list(models)
        self.model_names = [m.name for m in self.models]
        self.log_path = None

    running = True

    def _skip(self, what: str):
        pytest.skip(f"{what} needs a server of the test's own; TRITON_URL={os.environ.get('TRITON_URL')}"
                    " names one the tests do not own")

    def start(self, wait: bool = True):
        self._skip("starting the server")

    def stop(self, kill: bool = False, timeout: float = 20):
        self._skip("stopping the server")

    def restart(self):
        self._skip("restarting the server")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pending = [m for m in self.model_names if not self.model_ready(m)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise InferenceServerError(
                    f"TRITON_URL: http {self.http_url} / grpc {self.grpc_url}: models not ready: "
                    f"{pending} (write them with python -m tests.triton_server --write-repository "
                    f"DIR and serve DIR)")
            time.sleep(0.5)

    def log_tail(self, lines: int = 40) -> str:
        return "(TRITON_URL: the server's log is not ours)"


def _host_port(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise InferenceServerError(f"{what}: {text!r} is not host:port")
    return host, int(port)


def external_triton(models: list[TritonModel] | None = None) -> ExternalTriton | None:
    """The server ``TRITON_URL`` (and ``TRITON_HTTP_URL``) name, or None when unset."""
    url = os.environ.get("TRITON_URL", "").strip()
    if not url:
        return None
    scheme, _, rest = url.rpartition("://")
    if scheme not in ("", "grpc", "http"):
        raise InferenceServerError(f"TRITON_URL={url!r}: use host:port (gRPC), grpc://host:port "
                                   "or http://host:port")
    host, port = _host_port(rest, "TRITON_URL")
    grpc, http = ((host, port + 1), (host, port)) if scheme == "http" else ((host, port),
                                                                             (host, port - 1))
    if os.environ.get("TRITON_HTTP_URL"):
        http = _host_port(os.environ["TRITON_HTTP_URL"].split("://")[-1], "TRITON_HTTP_URL")
    return ExternalTriton(grpc, http, ALL_MODELS if models is None else models)


@contextlib.contextmanager
def running_triton(models: list[TritonModel], install: TritonInstall | None = None, **kwargs):
    """A TritonProcess of the caller's own in a temporary folder, stopped at the end."""
    install = install or ensure_triton()
    with tempfile.TemporaryDirectory(prefix="triton-") as tmp:
        server = TritonProcess(install, models, Path(tmp), **kwargs)
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def triton_classifier_server():
    """Triton with every model of ALL_MODELS (or the TRITON_URL server), shared by a test
    module. Do not stop it or unload its models in a test: use restartable_triton_server."""
    external = external_triton()
    if external is not None:
        external.wait_ready()
        yield external
        return
    with running_triton(ALL_MODELS) as server:
        yield server


@pytest.fixture
def restartable_triton_server():
    """A Triton of the test's own with ``mean-classifier``, which the test may stop, start,
    restart, and unload/load models on. Skips under TRITON_URL."""
    if os.environ.get("TRITON_URL"):
        pytest.skip(f"needs a Triton of the test's own (it stops the server or unloads models); "
                    f"TRITON_URL={os.environ['TRITON_URL']} names one the tests do not own")
    with running_triton([CLASSIFIER]) as server:
        yield server


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-repository", metavar="DIR", type=Path,
                        help="write the test models (ALL_MODELS) for a Triton you run yourself "
                             "(its Python must have numpy<2)")
    parser.add_argument("--serve", action="store_true",
                        help="install (if needed) and run Triton with ALL_MODELS until Ctrl-C")
    args = parser.parse_args(argv)
    if args.write_repository:
        write_repository(args.write_repository, ALL_MODELS)
        print(f"wrote {[m.name for m in ALL_MODELS]} to {args.write_repository}")
    if args.serve:
        def interrupt(*_):
            raise KeyboardInterrupt

        # a background job (cmd &) starts with SIGINT ignored: stop cleanly on either
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        with running_triton(ALL_MODELS) as server:
            print(f"TRITON_URL={server.grpc_url} TRITON_HTTP_URL={server.http_url}  "
                  f"(log {server.log_path})", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while server.running:
                    time.sleep(1)
    if not (args.write_repository or args.serve):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
