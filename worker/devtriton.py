"""A local Triton Inference Server for development, the demo and the tests: the ``tritonserver``
build inside the ``nvidia-pytriton`` wheel on PyPI (Triton 2.51 in pytriton 0.7.0, with its
Python backend; manylinux_2_35 x86_64, so glibc >= 2.35).

``ensure_triton()`` fetches it once with ``pip download`` and unpacks it, file-locked, under

    ~/.cache/dali-stream-worker/triton-pytriton-<version>-py<XY>/
        server/           the wheel's pytriton/tritonserver/ and nvidia_pytriton.libs/
        stub-numpy/       numpy<2 (pip install --target) for the Python-backend stub
        .complete         written last; a folder without it is made again

(``DSW_PYTRITON_WHEEL`` names a wheel file to unpack instead of downloading one.) About 10 s
with a network the first time; later starts reuse the folder.

Two things the Python backend needs that are not obvious:

- the stub (``triton_python_backend_stub``, one build per Python minor version in the wheel's
  ``python_backend_stubs/<X.Y>/``) must match the Python it embeds: the one for the running
  interpreter is copied into ``backends/python/`` and that interpreter's ``libpython`` (when it
  is a shared build) goes first on ``LD_LIBRARY_PATH``;
- the stub does NOT inherit ``PYTHONPATH``, and with numpy 2 it answers EMPTY output tensors.
  So numpy<2 is installed into ``stub-numpy/``, and each ``model.py`` served gets a preamble
  that puts that folder (and its own folder) first on ``sys.path``: ``serving_copy`` does that
  to a copy of a user's repository (``dali-worker demo --model-repository``),
  tests/triton_server.py to its templates.

The wheel's server has only the Python backend (and ensembles); other backends need a Triton
of their own (``TRITON_URL`` in the tests, ``[routes.model] url`` for the worker).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

PYTRITON_VERSION = os.environ.get("DSW_PYTRITON_VERSION", "0.7.0")
STUB_NUMPY = "numpy<2"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dali-stream-worker"
# pip downloads ~55 MB (the wheel) and ~18 MB (numpy); allow for a slow mirror
INSTALL_TIMEOUT_S = 900


class TritonError(RuntimeError):
    """Triton could not be installed or started."""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


@dataclass(frozen=True)
class TritonInstall:
    root: Path  # the cache folder: server/, stub-numpy/

    @property
    def server_dir(self) -> Path:
        return self.root / "server" / "pytriton" / "tritonserver"

    @property
    def tritonserver(self) -> Path:
        return self.server_dir / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.server_dir / "backends"

    @property
    def libs(self) -> Path:
        return self.root / "server" / "nvidia_pytriton.libs"

    @property
    def stub_numpy(self) -> Path:
        return self.root / "stub-numpy"

    def env(self) -> dict[str, str]:
        """The environment tritonserver (and the stubs it starts) needs."""
        env = dict(os.environ)
        libdirs = [str(self.libs)]
        # the stub embeds libpython<X.Y>.so: prefer the running interpreter's (pyenv, conda and
        # python.org builds ship one; Debian's python3 needs the libpython3.X package instead)
        libdir, ldlib = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
        if libdir and ldlib and ldlib.endswith(".so") and (Path(libdir) / ldlib).exists():
            libdirs.append(libdir)
        if env.get("LD_LIBRARY_PATH"):
            libdirs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libdirs)
        for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(var, None)
        return env


def _py_tag() -> str:
    return f"py{sys.version_info.major}{sys.version_info.minor}"


def _run_logged(cmd: list[str], log: Path, what: str, timeout: float = INSTALL_TIMEOUT_S) -> None:
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                stdin=subprocess.DEVNULL).returncode
        except subprocess.TimeoutExpired:
            rc = f"timeout after {timeout:.0f}s"
    if rc != 0:
        raise TritonError(f"{what} failed ({' '.join(cmd)} -> {rc}); log {log}:\n"
                                   f"{_tail(log)}")


def _check_platform() -> None:
    """The wheel's tritonserver is a manylinux_2_35 x86_64 build: say so, not "no matching
    distribution", on a machine that cannot run it."""
    machine = platform.machine()
    if sys.platform != "linux" or machine not in ("x86_64", "AMD64"):
        raise TritonError(
            f"the Triton tests need Linux x86_64 (nvidia-pytriton ships tritonserver for it "
            f"only); this is {sys.platform} {machine}. Point TRITON_URL at a Triton elsewhere")
    libc = (os.confstr("CS_GNU_LIBC_VERSION") or "") if hasattr(os, "confstr") else ""
    m = re.match(r"glibc (\d+)\.(\d+)", libc)
    if m and (int(m.group(1)), int(m.group(2))) < (2, 35):
        raise TritonError(
            f"the Triton tests need glibc >= 2.35 (nvidia-pytriton's tritonserver is a "
            f"manylinux_2_35 build); this machine has {libc}. Point TRITON_URL at a Triton "
            f"elsewhere (e.g. nvcr.io/nvidia/tritonserver:24.10-py3)")


def ensure_triton(version: str = PYTRITON_VERSION, say=None) -> TritonInstall:
    """Triton from the ``nvidia-pytriton==version`` wheel, with the Python-backend stub for this
    interpreter and numpy<2 for it, fetched and unpacked on first use (file-locked, so parallel
    test sessions do not install twice; a folder without ``.complete`` is made again)."""
    vi = sys.version_info
    root = CACHE_ROOT / f"triton-pytriton-{version}-{_py_tag()}"
    install = TritonInstall(root)
    marker = root / ".complete"
    if marker.exists():
        return install
    _check_platform()
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"triton-pytriton-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return install
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        log = CACHE_ROOT / f"triton-pytriton-{version}-{_py_tag()}-install.log"
        log.write_text(f"installing Triton from nvidia-pytriton=={version} into {root}\n")
        if say:
            say(f"fetching Triton once: nvidia-pytriton {version} (~55 MB) and {STUB_NUMPY} with pip, "
                f"into {root} (log {log})")
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]

        wheel_env = os.environ.get("DSW_PYTRITON_WHEEL")
        if wheel_env:
            wheel = Path(wheel_env)
            if not wheel.is_file():
                raise TritonError(f"DSW_PYTRITON_WHEEL={wheel} is not a file")
        else:
            download = root / "download"
            try:
                _run_logged([*pip, "download", "--no-deps", "--only-binary=:all:", "-d",
                             str(download), f"nvidia-pytriton=={version}"], log,
                            f"downloading nvidia-pytriton {version}")
            except TritonError as exc:
                raise TritonError(
                    f"{exc}\n(the wheel is built for manylinux_2_35 x86_64: glibc >= 2.35; "
                    f"DSW_PYTRITON_WHEEL may name a wheel file fetched elsewhere)") from None
            wheels = sorted(download.glob("nvidia_pytriton-*.whl"))
            if not wheels:
                raise TritonError(f"pip download left no nvidia_pytriton wheel in "
                                           f"{download}; log {log}:\n{_tail(log)}")
            wheel = wheels[0]

        server = root / "server"
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist()
                       if m.startswith(("pytriton/tritonserver/", "nvidia_pytriton.libs/"))]
            if not any(m.endswith("bin/tritonserver") for m in members):
                raise TritonError(f"{wheel} holds no pytriton/tritonserver/bin/tritonserver")
            zf.extractall(server, members)
        if not wheel_env:
            shutil.rmtree(root / "download", ignore_errors=True)
        srv = install.server_dir
        stubs = srv / "python_backend_stubs"
        for exe in [install.tritonserver, *stubs.glob("*/triton_python_backend_stub")]:
            exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        stub = stubs / f"{vi.major}.{vi.minor}" / "triton_python_backend_stub"
        if not stub.exists():
            have = sorted(p.name for p in stubs.iterdir() if p.is_dir())
            raise TritonError(
                f"nvidia-pytriton {version} has no Python-backend stub for Python "
                f"{vi.major}.{vi.minor} (it has {have}); run the tests with one of those")
        shutil.copy2(stub, install.backends / "python" / "triton_python_backend_stub")

        _run_logged([*pip, "install", "--no-deps", "--only-binary=:all:", "--no-compile",
                     "--target", str(install.stub_numpy), STUB_NUMPY], log,
                    f"installing {STUB_NUMPY} for the Python-backend stub")

        # the binary runs at all (shared libraries, glibc): fail here, not at every start
        try:
            help_rc = subprocess.run([str(install.tritonserver), "--help"], env=install.env(),
                                     capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise TritonError(f"{install.tritonserver} --help hung for 60 s") from None
        said = (help_rc.stdout + help_rc.stderr).decode(errors="replace")
        if "--model-repository" not in said:  # --help exits 1 after printing the options
            raise TritonError(
                f"{install.tritonserver} does not run here (rc {help_rc.returncode}):\n"
                f"{said[-3000:]}")
        marker.write_text(f"nvidia-pytriton=={version}\n")
        return install


# ---- serving a user's repository (dali-worker demo --model-repository) ----
PREAMBLE = """\
# -- added by dali-worker (worker/devtriton.py) to this served copy: Triton's Python-backend stub
# does not inherit PYTHONPATH and needs numpy<2 (numpy 2 gives empty outputs); the worker's
# environment comes last, for what else the model imports
import os as _os
import sys as _sys

_sys.path[:0] = [{numpy_dir!r}, _os.path.dirname(_os.path.abspath(__file__))]
_sys.path += {extra!r}
# -- the model as written:
"""


@dataclass(frozen=True)
class ServedModel:
    name: str
    kind: str  # config.pbtxt's backend or platform ("python", "ensemble", "onnxruntime", ...)
    labels_file: Path | None  # an output's label_filename, when the file is there
    scores_output: str | None = None  # the output that label_filename is given for


def read_models(repo: Path) -> list[ServedModel]:
    """The models of a Triton repository, from each ``<name>/config.pbtxt``."""
    out = []
    for config in sorted(repo.glob("*/config.pbtxt")):
        text = config.read_text(errors="replace")
        kind = re.search(r'^\s*(?:backend|platform)\s*:\s*"([^"]+)"', text, re.M)
        labels = re.search(r'name\s*:\s*"([^"]+)"[^{}]*label_filename\s*:\s*"([^"]+)"', text)
        label_path = config.parent / labels.group(2) if labels else None
        out.append(ServedModel(config.parent.name, kind.group(1) if kind else "?",
                               label_path if label_path and label_path.is_file() else None,
                               labels.group(1) if labels else None))
    return out


def serving_copy(src: Path, dst: Path, install: TritonInstall) -> Path:
    """A copy of repository ``src`` in ``dst`` whose Python models find numpy<2 and the worker's
    packages (see PREAMBLE); the user's files are not touched."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    extra = [p for p in sys.path if p.endswith("site-packages")]
    for model_py in dst.glob("*/*/model.py"):
        model_py.write_text(PREAMBLE.format(numpy_dir=str(install.stub_numpy), extra=extra)
                            + model_py.read_text())
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# worker.procutil.die_with_parent, in the child before it execs tritonserver (argv: the owner's
# pid, then the command); exits 70 if the owner is already gone. A preexec_fn would make
# subprocess fork the caller, unsafe while gRPC threads run in it; without one CPython vforks.
LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(70)
os.execv(sys.argv[2], sys.argv[2:])
"""


class TritonServer:
    """``tritonserver`` on free loopback ports serving ``models`` of ``repo`` (explicit model
    control: only those load, an ensemble's steps with it)."""

    def __init__(self, install: TritonInstall, repo: Path, models: list[str], workdir: Path):
        self.install, self.repo, self.models = install, repo, list(models)
        self.http_port, self.grpc_port = free_port(), free_port()
        self.log_path = workdir / "tritonserver.log"
        self.shm_prefix = f"dswdev{os.getpid()}_{self.grpc_port}_"
        self._proc: subprocess.Popen | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        return [str(self.install.tritonserver), f"--model-repository={self.repo}",
                f"--backend-directory={self.install.backends}", "--model-control-mode=explicit",
                *[f"--load-model={m}" for m in self.models],
                "--http-address=127.0.0.1", f"--http-port={self.http_port}",
                "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
                "--allow-metrics=false", "--exit-timeout-secs=5",
                f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}"]

    def start(self, timeout_s: float = 300) -> "TritonServer":
        with open(self.log_path, "a") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, str(os.getpid()), *self.command()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.install.env(), start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not all(self._ready(f"v2/models/{m}/ready") for m in self.models):
            if self._proc.poll() is not None:
                raise TritonError(f"tritonserver exited with {self._proc.returncode} before "
                                  f"{self.models} were ready; {self.log_path} ends:\n{_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise TritonError(f"{self.models} not ready after {timeout_s:.0f} s; "
                                  f"{self.log_path} ends:\n{_tail(self.log_path)}")
            time.sleep(0.3)
        return self

    def _ready(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/{path}", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """SIGTERM the server's process group (it and its Python-backend stubs), SIGKILL after
        20 s, and remove its shared-memory regions."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stubs left behind
        with contextlib.suppress(OSError):
            for f in Path("/dev/shm").glob(self.shm_prefix + "*"):
                f.unlink()


def start_triton(repo: Path, model: str | None, workdir: Path, say=lambda line: None
                 ) -> tuple[TritonServer, ServedModel]:
    """Serve ``model`` (default: the repository's only model) of the user's ``repo`` from a
    prepared copy; returns the running server and the model."""
    if not repo.is_dir():
        raise TritonError(f"--model-repository {repo}: no such folder")
    models = read_models(repo)
    if not models:
        raise TritonError(f"--model-repository {repo}: no <model>/config.pbtxt in it")
    if model is None:
        if len(models) > 1:
            raise TritonError(f"--model-repository {repo} has {len(models)} models "
                              f"({', '.join(m.name for m in models)}): name one with --model")
        chosen = models[0]
    else:
        chosen = next((m for m in models if m.name == model), None)
        if chosen is None:
            raise TritonError(f"--model {model}: not in {repo} (it has {', '.join(m.name for m in models)})")
    if chosen.kind not in ("python", "ensemble"):
        say(f"note: model {chosen.name} is {chosen.kind!r}; the wheel's Triton has the Python backend "
            "and ensembles only, so it may not load")
    install = ensure_triton(say=say)
    served = serving_copy(repo, workdir / "models", install)
    say(f"starting Triton {PYTRITON_VERSION and 'from nvidia-pytriton ' + PYTRITON_VERSION}: model "
        f"{chosen.name} ({chosen.kind}) from {repo}")
    server = TritonServer(install, served, [chosen.name], workdir)
    server.start()
    say(f"Triton is serving {chosen.name} at {server.grpc_url} (pid {server.pid})")
    return server, chosen
