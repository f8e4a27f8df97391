"""Triton's own DALI backend in a real Triton: ``libtriton_dali.so`` built from source by
deploy/dali_backend/build.sh (cached under ~/.cache), loaded by the pytriton ``tritonserver``
(2.51, tests/triton_server.py) beside its Python backend, serving this repository's
``pipelines/`` as they are (CPU form: ``DALI_DEVICE=cpu`` in the server's environment, which
the pipelines read) and, when asked, Python-backend models and ensembles of both.

    build = ensure_dali_backend()            # builds once (about 1-2 min), then reuses
    with running_dali_triton(["classify", "identity"], models=[CLASSIFIER]) as server:
        server.grpc_url, server.model_config("classify")

The backend runs the worker's own DALI (the wheel in this interpreter's environment: its
libdali.so on LD_LIBRARY_PATH, its ``python3`` first on PATH for the backend's autoserialize of
``dali.py``), so outputs can be compared bit for bit. Tests skip with the build's error when the
build is impossible here (no compiler, no cmake); under CI they fail instead (DSW_REQUIRE_DALI_BACKEND=1).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.triton_server import InferenceServerError, TritonInstall, TritonModel, TritonProcess, ensure_triton

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "deploy" / "dali_backend" / "build.sh"
PIPELINES = ROOT / "pipelines"
BUILD_TIMEOUT_S = 1800


class DaliBackendUnavailable(RuntimeError):
    """The backend cannot be built on this machine; the message says why and what to install."""


@dataclass(frozen=True)
class DaliBackendBuild:
    root: Path  # the cache folder build.sh printed

    @property
    def library(self) -> Path:
        return self.root / "backends" / "dali" / "libtriton_dali.so"

    @property
    def facts(self) -> dict[str, str]:
        text = (self.root / "runtime.env").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    @property
    def cuda_lib_dir(self) -> Path:
        return self.root / "cuda" / "nvidia" / "cuda_runtime" / "lib"


def dali_lib_dir() -> Path:
    import nvidia.dali.sysconfig as sysconfig

    return Path(sysconfig.get_lib_dir())


_BUILT: DaliBackendBuild | None = None


def ensure_dali_backend() -> DaliBackendBuild:
    """Run build.sh (a no-op when the cache has this build) with this interpreter's DALI."""
    global _BUILT
    if _BUILT is not None:
        return _BUILT
    env = {**os.environ, "DSW_DALI_PYTHON": sys.executable}
    try:
        done = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DaliBackendUnavailable(f"{BUILD_SCRIPT} ran over {BUILD_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise DaliBackendUnavailable(f"{BUILD_SCRIPT} failed (rc {done.returncode}):\n"
                                     f"{(done.stdout + done.stderr)[-3000:]}")
    build = DaliBackendBuild(Path(done.stdout.strip().splitlines()[-1]))
    if not build.library.is_file():
        raise DaliBackendUnavailable(f"{BUILD_SCRIPT} printed {build.root} but {build.library} is missing")
    import nvidia.dali

    if build.facts.get("DALI_VERSION") != nvidia.dali.__version__:
        raise DaliBackendUnavailable(f"{build.root} was built for DALI {build.facts.get('DALI_VERSION')}, "
                                     f"this environment has {nvidia.dali.__version__}")
    _BUILT = build
    return build


def dali_backend_or_skip() -> DaliBackendBuild:
    try:
        return ensure_dali_backend()
    except DaliBackendUnavailable as exc:
        if os.environ.get("DSW_REQUIRE_DALI_BACKEND") == "1":
            raise
        pytest.skip(f"Triton's DALI backend cannot be built here: {exc}")


@dataclass(frozen=True)
class DaliTritonInstall(TritonInstall):
    """The pytriton Triton with a backend folder holding its python backend and the built dali
    one, and the environment libtriton_dali.so needs."""
    build: DaliBackendBuild = None  # type: ignore[assignment]
    backend_dir: Path = None  # type: ignore[assignment]
    lib_dir: Path = None  # type: ignore[assignment]

    @property
    def backends(self) -> Path:
        return self.backend_dir

    def env(self) -> dict[str, str]:
        env = super().env()
        libs = [str(self.lib_dir), str(dali_lib_dir()), str(self.build.cuda_lib_dir)]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
        # the backend serializes dali.py with `python3 -c ...`: the worker's interpreter
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["DALI_DEVICE"] = "cpu"
        return env


def dali_install(workdir: Path, build: DaliBackendBuild, install: TritonInstall | None = None) -> DaliTritonInstall:
    install = install or ensure_triton()
    backends = workdir / "backends"
    backends.mkdir(parents=True, exist_ok=True)
    for name, src in (("python", install.backends / "python"), ("dali", build.library.parent)):
        link = backends / name
        if not link.exists():
            link.symlink_to(src, target_is_directory=True)
    # the wheel's libtritonserver is renamed by auditwheel (libtritonserver-<hash>.so); the
    # backend asks for libtritonserver.so: a link by that name, to the same file (the loader
    # sees the same inode and maps it once)
    lib_dir = workdir / "lib"
    lib_dir.mkdir(exist_ok=True)
    found = sorted(install.libs.glob("libtritonserver*.so*"))
    if not found:
        raise DaliBackendUnavailable(f"no libtritonserver*.so in {install.libs}")
    link = lib_dir / "libtritonserver.so"
    if not link.exists():
        link.symlink_to(found[0])
    return DaliTritonInstall(install.root, build=build, backend_dir=backends, lib_dir=lib_dir)


class DaliTritonProcess(TritonProcess):
    """``tritonserver`` with ``pipelines`` copied from the repository unchanged (plus an
    ``instance_group [{kind: KIND_CPU}]`` line: this machine has no GPU) and ``models`` (the
    Python-backend test models), plus ``extra`` folders written by the caller:
    ``{name: {relative path: text}}``."""

    def __init__(self, build: DaliBackendBuild, pipelines: list[str], workdir: Path,
                 models: list[TritonModel] = (), extra: dict[str, dict[str, str]] | None = None,
                 repository: Path = PIPELINES, install: TritonInstall | None = None,
                 extra_args: list[str] | None = None):
        super().__init__(dali_install(workdir, build, install), list(models), workdir, extra_args)
        for name in pipelines:
            dst = self.repo / name
            shutil.copytree(repository / name, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            config = dst / "config.pbtxt"
            text = config.read_text() if config.exists() else 'backend: "dali"\n'
            config.write_text(text.rstrip() + "\ninstance_group [ { kind: KIND_CPU count: 1 } ]\n")
        for name, files in (extra or {}).items():
            for rel, text in files.items():
                path = self.repo / name / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.model_names += [*pipelines, *(extra or {})]

    def model_config(self, name: str) -> dict:
        """``GET v2/models/<name>/config``: the configuration Triton (and its backend) completed."""
        code, body = self._http("GET", f"v2/models/{name}/config")
        if code != 200:
            raise InferenceServerError(f"config of {name}: HTTP {code} {body[:500]!r}")
        return json.loads(body)


@contextlib.contextmanager
def running_dali_triton(pipelines: list[str], **kwargs):
    build = kwargs.pop("build", None) or ensure_dali_backend()
    with tempfile.TemporaryDirectory(prefix="triton-dali-") as tmp:
        server = DaliTritonProcess(build, pipelines, Path(tmp), **kwargs)
        try:
            yield server.start()
        except InferenceServerError:
            server.stop(kill=True)
            raise
        finally:
            server.stop()


if __name__ == "__main__":  # a manual look: build, serve every pipeline, print their configs
    names = sys.argv[1:] or sorted(p.name for p in PIPELINES.iterdir() if (p / "config.pbtxt").exists())
    with running_dali_triton(names) as srv:
        for n in names:
            print(n, json.dumps(srv.model_config(n))[:600])
        print("log:", srv.log_path)
