"""The compose deployment (docker-compose.yml, Dockerfile, deploy/) agrees with itself and with
what the worker reads. Docker cannot run here, so these tests parse the files: services, ports,
volumes, environment, GPU reservations, topic partitions versus worker processes, the classifier
export's config against the classify pipeline. ``docker compose config -q`` runs where a Compose
v2 binary exists."""
from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from worker.config import Route, WorkerConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
TOPICS_SCRIPT = ROOT / "deploy" / "create-topics.sh"
WORKER_TOML = ROOT / "deploy" / "worker.toml"
# `count: all` reserves every GPU of the host; size partitions for a large one (8 GPUs).
GPUS_PER_HOST = 8

_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value):
    """Compose's ${VAR:-default} with no variables set: the defaults (what `compose up` uses
    without a .env file)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def binds(service: dict) -> dict[str, tuple[str, bool]]:
    """container path -> (source, read_only) for short-syntax volumes."""
    out = {}
    for v in service.get("volumes", []):
        parts = v.split(":")
        out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out


def container_ports(service: dict) -> list[int]:
    return [int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])]


def worker_cfg(services, tmp_path=None) -> WorkerConfig:
    """The worker's configuration as the container would build it: compose's environment with
    DSW_CONFIG pointing at the repository's copy of the mounted file."""
    env = env_of(services["worker"])
    assert binds(services["worker"])[env["DSW_CONFIG"]][0] == "./deploy/worker.toml"
    env["DSW_CONFIG"] = str(WORKER_TOML)
    return load_config(env=env)


def dockerfile_lines() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def instructions(name: str) -> list[str]:
    return [ln.split(None, 1)[1] for ln in dockerfile_lines() if ln.split(None, 1)[0].upper() == name]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for body in instructions("ENV"):
        for item in shlex.split(body):
            k, _, v = item.partition("=")
            env[k] = v
    return env


# ---- compose: services and wiring -------------------------------------------------------------

def test_services_and_images(services):
    assert {"kafka", "kafka-init", "triton", "worker", "export-classifier"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.0"
    assert services["kafka-init"]["image"] == services["kafka"]["image"]  # same CLI tools
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", services["triton"]["image"])
    assert services["worker"]["build"]["context"] == "."
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile"
    assert services["export-classifier"]["profiles"] == ["setup"]  # not part of `up`


def test_start_order_and_health_checks(services):
    init, worker = services["kafka-init"], services["worker"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init.get("restart") == "no"
    assert worker["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["triton"]["condition"] == "service_healthy"
    for name in ("kafka", "triton"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and len(test) > 1
    # nothing the health checks need is missing from the official images: no curl
    assert not any("curl" in " ".join(s.get("healthcheck", {}).get("test", [])) for s in services.values())


def test_kafka_is_single_node_kraft_with_data_on_a_volume(compose, services):
    env = env_of(services["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["CLUSTER_ID"]
    node = env["KAFKA_NODE_ID"]
    listeners = dict(re.findall(r"(\w+)://[^:,]*:(\d+)", env["KAFKA_LISTENERS"]))
    advertised = dict((n, h) for n, h in re.findall(r"(\w+)://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]))
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) == set(protocols)
    assert controller in listeners and controller not in advertised
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node}@kafka:{listeners[controller]}"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", f"{key}: one broker holds one replica"
    # the advertised listener the containers use is the one the worker and kafka-init dial
    internal = advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal == f"kafka:{listeners[env['KAFKA_INTER_BROKER_LISTENER_NAME']]}"
    assert env_of(services["worker"])["KAFKA_BOOTSTRAP_SERVERS"] == internal
    assert env_of(services["kafka-init"])["BOOTSTRAP"] == internal
    # host clients: the published port is the EXTERNAL listener, advertised as that port
    published = [str(p) for p in services["kafka"]["ports"]]
    host, _, port = advertised["EXTERNAL"].rpartition(":")
    assert published == [f"{port}:{listeners['EXTERNAL']}"] and host == "localhost"
    # data on a named volume, where the broker writes its log
    log_dir = env["KAFKA_LOG_DIRS"]
    source, _ = binds(services["kafka"])[log_dir]
    assert source in compose["volumes"]


def test_worker_environment_is_what_the_worker_reads(services):
    """Every DSW_* the compose file sets is a WorkerConfig field (DSW_<FIELD>), a route field
    (DSW_ROUTE_<FIELD>) or DSW_CONFIG; and the whole set loads."""
    top = {f"DSW_{f.name.upper()}" for f in fields(WorkerConfig) if f.name != "routes"}
    route = {f"DSW_ROUTE_{f.name.upper()}" for f in fields(Route)} | {"DSW_ROUTE_INPUT"}
    env = env_of(services["worker"])
    dsw = {k for k in env if k.startswith("DSW_")}
    unknown = dsw - top - route - {"DSW_CONFIG"}
    assert not unknown, f"the worker does not read {sorted(unknown)}"
    assert {k for k in env if not k.startswith("DSW_")} == {"KAFKA_BOOTSTRAP_SERVERS"}
    cfg = worker_cfg(services)
    assert cfg.device == "gpu"
    assert cfg.procs == 4  # per GPU: FIELD-NOTES, four processes at batch 64 per H100
    assert cfg.bootstrap_servers == "kafka:9092"
    assert cfg.metrics_port > 0
    # the Dockerfile's defaults are fields too
    assert {k for k in dockerfile_env() if k.startswith("DSW_")} <= top


def test_worker_mounts_and_repository(services):
    worker = services["worker"]
    mounts = binds(worker)
    env = env_of(worker)
    assert mounts[env["DSW_REPOSITORY"]] == ("./pipelines", True)
    assert dockerfile_env()["DSW_REPOSITORY"] == env["DSW_REPOSITORY"]
    for service in services.values():
        for source, _ in binds(service).values():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"bind mount source {source} is missing"


def test_topics_match_the_route(services):
    init = env_of(services["kafka-init"])
    cfg = worker_cfg(services)
    (route,) = cfg.routes
    assert route.inputs == [init["INPUT_TOPIC"]]
    assert route.output == init["OUTPUT_TOPIC"]
    assert cfg.dead_letter_for(route) == init["DEAD_LETTER_TOPIC"]
    assert binds(services["kafka-init"])["/deploy"] == ("./deploy", True)
    assert services["kafka-init"]["entrypoint"][-1] == "/deploy/" + TOPICS_SCRIPT.name


def test_input_partitions_cover_every_worker_process(services):
    """A group uses at most as many consumers as the topic has partitions: the input topic needs
    one per process, containers x GPUs x procs per GPU."""
    cfg = worker_cfg(services)
    replicas = services["worker"].get("deploy", {}).get("replicas", 1)
    needed = replicas * GPUS_PER_HOST * cfg.procs
    partitions = int(env_of(services["kafka-init"])["INPUT_PARTITIONS"])
    assert partitions >= needed
    script_default = re.search(r'INPUT_PARTITIONS="\$\{INPUT_PARTITIONS:-(\d+)\}"', TOPICS_SCRIPT.read_text())
    assert int(script_default.group(1)) >= needed


def test_message_sizes_are_raised_together(services):
    cfg = worker_cfg(services)
    kafka = env_of(services["kafka"])
    init = env_of(services["kafka-init"])
    broker = int(kafka["KAFKA_MESSAGE_MAX_BYTES"])
    assert broker > cfg.max_message_bytes  # the value plus key, headers and batch overhead
    assert int(kafka["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= broker
    assert int(init["MAX_MESSAGE_BYTES"]) >= broker  # topic max.message.bytes
    assert cfg.max_request_bytes >= cfg.max_message_bytes
    assert cfg.max_partition_fetch_bytes >= cfg.max_message_bytes
    assert "max.message.bytes=$MAX_MESSAGE_BYTES" in TOPICS_SCRIPT.read_text()


def test_gpu_reservations(services):
    for name in ("worker", "triton"):
        (device,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia"
        assert "gpu" in device["capabilities"]
        assert device["count"] == "all" or int(device["count"]) >= 1
    # the worker counts its GPUs with nvidia-smi: the driver's utility capability
    (device,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert {"compute", "utility"} <= set(device["capabilities"])
    assert {"compute", "utility"} <= set(dockerfile_env()["NVIDIA_DRIVER_CAPABILITIES"].split(","))


def test_worker_scales_with_compose(services):
    """--scale needs no fixed host port, container name or GPU id on the worker."""
    worker = services["worker"]
    assert "container_name" not in worker
    assert all(":" not in str(p) for p in worker.get("ports", []))
    assert container_ports(worker) == [worker_cfg(services).metrics_port]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert "device_ids" not in device


def test_published_host_ports_are_distinct(services):
    host_ports = [str(p).rsplit(":", 1)[0] for s in services.values() for p in s.get("ports", [])
                  if ":" in str(p)]
    assert len(host_ports) == len(set(host_ports))


def test_stop_grace_covers_the_drain(services):
    cfg = worker_cfg(services)
    grace = services["worker"]["stop_grace_period"]
    assert int(grace.rstrip("s")) > cfg.drain_timeout_s


# ---- Triton and the classifier ------------------------------------------------------------------

def test_triton_serves_pipelines_and_the_classifier(services):
    triton = services["triton"]
    repo = next(a.split("=", 1)[1] for a in triton["command"] if a.startswith("--model-repository="))
    assert binds(triton)[repo] == ("./pipelines", True)
    assert {8000, 8001, 8002} <= set(container_ports(triton))
    cfg = worker_cfg(services)
    model = cfg.routes[0].model
    host, port = model["url"].split(":")
    assert host == "triton" and int(port) in container_ports(triton)
    assert f"/v2/models/{model['name']}/ready" in " ".join(triton["healthcheck"]["test"])


def _export_module():
    spec = importlib.util.spec_from_file_location("export_classifier", ROOT / "deploy" / "export_classifier.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # torch is imported only inside main()
    return mod


def test_classifier_export_fits_the_route(services, tmp_path):
    """The config the export writes, read as Triton would report it, fits the classify
    pipeline's output through the route's model table (names, dtype, shape, 1000 labels)."""
    from tritonclient.grpc import model_config_pb2
    from google.protobuf import json_format, text_format

    from worker.inference import fit
    from worker.inference.config import ModelRoute
    from worker.inference.labels import load_labels
    from worker.repository.load import load_model

    ex = _export_module()
    cfg = worker_cfg(services)
    route = cfg.routes[0]
    model = dict(route.model)
    assert model["name"] == ex.MODEL_NAME
    # labels: the container path is the export's output under the pipelines mount
    repo = env_of(services["worker"])["DSW_REPOSITORY"]
    assert model["labels_file"] == f"{repo}/{ex.MODEL_NAME}/{ex.LABELS_FILE}"

    categories = [f"class {i}" for i in range(ex.NUM_CLASSES)]
    ex.write_repository_files(tmp_path / ex.MODEL_NAME, categories)
    labels_path = tmp_path / ex.MODEL_NAME / ex.LABELS_FILE
    assert load_labels(labels_path) == categories
    model["labels_file"] = str(labels_path)
    model_route = ModelRoute.from_dict(model, where="routes[0].model")

    config = text_format.Parse((tmp_path / ex.MODEL_NAME / "config.pbtxt").read_text(),
                               model_config_pb2.ModelConfig())
    assert config.name == ex.MODEL_NAME and config.platform == "onnxruntime_onnx"
    assert config.output[0].label_filename == ex.LABELS_FILE
    config_json = json_format.MessageToDict(config, preserving_proto_field_name=True)

    def tensor(t):
        return {"name": t.name, "datatype": model_config_pb2.DataType.Name(t.data_type)[5:],
                "shape": [-1, *t.dims]}
    metadata = {"name": config.name, "inputs": [tensor(t) for t in config.input],
                "outputs": [tensor(t) for t in config.output]}
    spec = fit.model_spec(metadata, config_json)
    assert spec.batched and spec.max_batch_size == config.max_batch_size

    pipeline = load_model(ROOT / "pipelines", route.pipeline, device="cpu", num_threads=1)
    outputs = {s.name: (s.dtype, s.ndim) for s in pipeline.outputs}
    plan = fit.check_fit(fit.pipeline_outputs(outputs), spec, inputs=model_route.inputs,
                         outputs=model_route.outputs, ragged=model_route.ragged,
                         top_k=model_route.top_k, classify_output=model_route.classify_output,
                         num_labels=len(categories), where="routes[0].model")
    assert plan.classify_output == ex.OUTPUT_NAME
    assert list(config.input[0].dims) == list(ex.INPUT_SHAPE)


def test_labels_text_refuses_wrong_category_lists():
    ex = _export_module()
    with pytest.raises(ValueError):
        ex.labels_text(["a", "b"])
    with pytest.raises(ValueError):
        ex.labels_text(["x"] * 999 + ["two\nlines"])


def test_export_script_without_torch_says_what_to_install(tmp_path, capsys):
    ex = _export_module()
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here; the export itself runs on the user's machine")
    assert ex.main(["--repository", str(tmp_path)]) == 2
    assert "pip install torch torchvision" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_export_service_writes_into_pipelines(services):
    svc = services["export-classifier"]
    mounts = binds(svc)
    workdir = svc["working_dir"]
    assert mounts[f"{workdir}/pipelines"] == ("./pipelines", False)
    assert (ROOT / svc["entrypoint"][-1]).is_file()
    assert mounts[f"{workdir}/deploy"][0] == "./deploy"


# ---- Dockerfile ----------------------------------------------------------------------------------

def test_dockerfile_base_user_and_install():
    lines = dockerfile_lines()
    args = dict(a.split("=", 1) for a in instructions("ARG") if "=" in a)
    (base,) = instructions("FROM")
    base = args.get(base.strip("${}"), base)
    assert re.fullmatch(r"nvidia/cuda:12\.\d+(\.\d+)?-runtime-ubuntu\d\d\.04", base)
    runs = " ".join(instructions("RUN"))
    assert "pip install ." in runs and "python3-venv" in runs
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    # the user is switched after everything is installed
    last_run = max(i for i, ln in enumerate(lines) if ln.startswith("RUN"))
    assert max(i for i, ln in enumerate(lines) if ln.startswith("USER")) > last_run
    entry = instructions("ENTRYPOINT")[-1]
    assert "dali-worker" in entry and instructions("CMD")[-1] == '["run"]'


def test_dockerfile_health_check_and_port():
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check and "urllib.request" in check and "curl" not in check
    port = dockerfile_env()["DSW_METRICS_PORT"]
    assert f"get('DSW_METRICS_PORT', '{port}')" in check
    assert instructions("EXPOSE") == [port]
    assert "curl" not in " ".join(instructions("RUN"))


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_it():
    ignored = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    for body in instructions("COPY"):
        *sources, _dest = body.split()
        for src in sources:
            if src.startswith("--"):
                continue
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
            top = src.rstrip("/").split("/")[0]
            assert top not in ignored and src.rstrip("/") not in ignored, f".dockerignore drops {src}"


# ---- scripts and the compose tool ------------------------------------------------------------------

def test_create_topics_script_is_valid_bash():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    subprocess.run([bash, "-n", str(TOPICS_SCRIPT)], check=True)


def _compose_command() -> list[str] | None:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        r = subprocess.run([*cmd, "version"], capture_output=True, text=True)
        if r.returncode == 0 and re.search(r"v?2\.\d+", r.stdout):
            return cmd
    return None


def test_docker_compose_config():
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no Docker Compose v2 here (`docker compose version` fails): the file is "
                    "checked by parsing only")
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "--profile", "setup", "config", "--services"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "export-classifier" in r.stdout.split()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
