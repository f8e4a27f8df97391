"""The compose deployment (docker-compose.yml, Dockerfile, deploy/) agrees with itself and with
what the worker reads. Docker cannot run here, so these tests parse the files: services, ports,
volumes, environment, GPU reservations, topic partitions versus worker processes, the classifier
export's config against the classify pipeline. ``docker compose config -q`` runs where a Compose
v2 binary exists."""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
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
EXPORT_DOCKERFILE = ROOT / "deploy" / "export.Dockerfile"
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


def dockerfile_lines(path: Path = DOCKERFILE) -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def instructions(name: str, path: Path = DOCKERFILE) -> list[str]:
    return [ln.split(None, 1)[1] for ln in dockerfile_lines(path) if ln.split(None, 1)[0].upper() == name]


def base_image(path: Path) -> str:
    """The final stage's FROM image, with a default-valued ARG resolved."""
    args = dict(a.split("=", 1) for a in instructions("ARG", path) if "=" in a)
    base = instructions("FROM", path)[-1].split()[0]
    return args.get(base.strip("${}"), base)


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
    # part of a plain `up` (issue 21: behind a profile, Triton waited for a model nobody wrote)
    assert "profiles" not in services["export-classifier"]
    # built from deploy/export.Dockerfile: the official PyTorch image at a pinned tag, plus onnx
    assert services["export-classifier"]["build"]["context"] == "./deploy"
    assert (ROOT / "deploy" / services["export-classifier"]["build"]["dockerfile"]) == EXPORT_DOCKERFILE


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
    # on loopback only, unless PUBLISH_ADDRESS says otherwise (this Kafka has no authentication)
    assert published == [f"127.0.0.1:{port}:{listeners['EXTERNAL']}"] and host == "localhost"
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
    """--scale needs no fixed host port, container name or GPU id on the worker; its metrics port
    is published on loopback only, on a host port Docker picks."""
    worker = services["worker"]
    assert "container_name" not in worker
    assert all(str(p).startswith("127.0.0.1::") for p in worker.get("ports", []))
    assert container_ports(worker) == [worker_cfg(services).metrics_port]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert "device_ids" not in device


def test_nothing_is_published_beyond_loopback_by_default(services):
    """Docker's published ports bypass the host's firewall: 127.0.0.1 unless PUBLISH_ADDRESS."""
    published = {name: [str(p) for p in s.get("ports", [])] for name, s in services.items()}
    assert all(p.startswith("127.0.0.1:") for ports in published.values() for p in ports), published
    text = COMPOSE.read_text()
    assert text.count("${PUBLISH_ADDRESS:-127.0.0.1}") == sum(map(len, published.values()))


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
    # its APIs (model control, shared-memory registration) are not published unless asked for
    assert "ports" not in triton
    extra = yaml.safe_load((ROOT / "deploy" / "compose" / "publish-triton.yml").read_text())
    published = extra["services"]["triton"]["ports"]
    assert all(p.startswith("${PUBLISH_ADDRESS:-127.0.0.1}:") for p in published)
    assert {8000, 8001, 8002} == set(container_ports({"ports": published}))
    cfg = worker_cfg(services)
    model = cfg.routes[0].model
    host, port = model["url"].split(":")
    assert host == "triton" and int(port) == 8001
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
    script = next(a for a in svc["entrypoint"] if a.endswith(".py"))
    assert (ROOT / script).is_file()
    assert mounts[f"{workdir}/deploy"][0] == "./deploy"


# ---- issue 21: a fresh clone's `docker compose up` needs nothing done by hand --------------------

EXPORT_SCRIPT = "deploy/export_classifier.py"


def service_argv(service: dict) -> list[str]:
    """What the container runs: entrypoint then command (each a list or a shell-split string)."""
    argv = []
    for key in ("entrypoint", "command"):
        part = service.get(key) or []
        argv += shlex.split(part) if isinstance(part, str) else [str(a) for a in part]
    return argv


def depends(service: dict) -> dict[str, str]:
    """depends_on as {service: condition} (the short list form means service_started)."""
    dep = service.get("depends_on") or {}
    if isinstance(dep, list):
        return {name: "service_started" for name in dep}
    return {name: (v or {}).get("condition", "service_started") for name, v in dep.items()}


def started_before(services, name: str) -> dict[str, str]:
    """Every service that `up` waits for before starting ``name``, directly or through others,
    with the condition it waits for."""
    seen: dict[str, str] = {}
    todo = [name]
    while todo:
        for dep, cond in depends(services[todo.pop()]).items():
            if dep not in seen:
                seen[dep] = cond
                todo.append(dep)
    return seen


def exporters(services) -> dict[str, tuple[str, object]]:
    """Services that run the classifier export: name -> (service, parsed arguments)."""
    ex = _export_module()
    out = {}
    for name, svc in services.items():
        argv = service_argv(svc)
        if any(a.endswith(EXPORT_SCRIPT) for a in argv):
            i = next(i for i, a in enumerate(argv) if a.endswith(EXPORT_SCRIPT))
            args = ex.build_parser().parse_args(argv[i + 1:])  # SystemExit on an unknown flag
            out[args.name] = (name, args)
    return out


def triton_model_repository(services) -> tuple[str, str]:
    triton = services["triton"]
    repo = next(a.split("=", 1)[1] for a in triton["command"] if a.startswith("--model-repository="))
    return repo, binds(triton)[repo][0]


def committed_in_git(rel: str) -> bool:
    """Whether a fresh clone has the folder ``rel``: git's word where this is a checkout, else
    the folder is there and .gitignore does not drop it."""
    if shutil.which("git") and (ROOT / ".git").exists():
        r = subprocess.run(["git", "ls-files", "--", rel], capture_output=True, text=True, cwd=ROOT)
        if r.returncode == 0:
            return bool(r.stdout.strip())
    ignored = {ln.strip().strip("/") for ln in (ROOT / ".gitignore").read_text().splitlines()}
    return (ROOT / rel).is_dir() and rel.strip("/") not in ignored


def required_models(services) -> dict[str, str]:
    """Model name -> who needs it: Triton's health check, --load-model, the worker's route
    (model, labels file) and the pipeline the worker loads from its own mount."""
    need = {}
    triton = services["triton"]
    for m in re.findall(r"/v2/models/([\w.-]+)/ready", " ".join(triton["healthcheck"]["test"])):
        need[m] = "triton health check"
    for a in triton["command"]:
        if a.startswith("--load-model="):
            need[a.split("=", 1)[1]] = "triton --load-model"
    cfg = worker_cfg(services)
    repo = env_of(services["worker"])["DSW_REPOSITORY"]
    for route in cfg.routes:
        need.setdefault(route.pipeline, "worker route pipeline")
        if route.model:
            need[route.model["name"]] = "worker route model"
            labels = route.model.get("labels_file")
            if labels:
                assert labels.startswith(repo + "/"), labels
                need.setdefault(labels[len(repo) + 1:].split("/")[0], "worker route labels_file")
    return need


def test_every_required_model_is_committed_or_exported_before_triton(services):
    """Issue 21: on a fresh clone Triton's health check waited forever for resnet50, which only a
    hand-run export wrote. Each model that Triton's health check, its --load-model list or the
    worker's route needs is either in git under pipelines/ or written by a one-shot service of
    plain `up` that Triton (and the worker) wait for with service_completed_successfully."""
    _, triton_source = triton_model_repository(services)
    made = exporters(services)
    need = required_models(services)
    assert {"resnet50", "classify"} <= set(need)
    for model, who in need.items():
        if committed_in_git(f"pipelines/{model}"):
            continue
        assert model in made, f"{model} ({who}) is neither in git nor written by a service of `up`"
        svc_name, args = made[model]
        svc = services[svc_name]
        assert "profiles" not in svc, f"{svc_name} is behind a profile: plain `up` skips it"
        assert svc.get("restart", "no") == "no", f"{svc_name} is a one shot: restart must be 'no'"
        # it writes into the folder Triton serves and the worker mounts
        source, read_only = binds(svc)[str(args.repository)]
        assert source == triton_source and not read_only
        assert binds(services["worker"])[env_of(services["worker"])["DSW_REPOSITORY"]][0] == source
        for dependent in ("triton", "worker"):
            assert started_before(services, dependent).get(svc_name) == "service_completed_successfully", \
                f"{dependent} does not wait for {svc_name} to complete successfully"
        # the worker's direct dependency: it reads labels.txt as it starts, whatever Triton does
        assert depends(services["worker"]).get(svc_name) == "service_completed_successfully"


def test_triton_loads_what_is_there_at_startup(services):
    """Model control: 'none' loads every model present when Triton starts (the export has
    finished by then); 'explicit' loads only what --load-model names (checked above). 'poll'
    would let Triton start before the export and pick the model up later: not what the chain
    promises."""
    command = services["triton"]["command"]
    modes = [a.split("=", 1)[1] for a in command if a.startswith("--model-control-mode=")]
    assert modes in (["none"], ["explicit"])
    if modes == ["explicit"]:
        assert any(a.startswith("--load-model=") for a in command)
    # a failing pipeline of the user's does not take the classifier down with it
    assert "--exit-on-error=false" in command


def test_start_chain_end_to_end(services):
    """kafka (healthy) -> kafka-init (exits 0) and export-classifier (exits 0) -> triton
    (healthy) -> worker: each condition refers to a service that can meet it."""
    assert depends(services["kafka-init"]) == {"kafka": "service_healthy"}
    assert depends(services["export-classifier"]) == {}  # runs while Kafka starts
    assert depends(services["triton"]) == {"export-classifier": "service_completed_successfully"}
    assert started_before(services, "worker") == {
        "kafka-init": "service_completed_successfully",
        "kafka": "service_healthy",
        "export-classifier": "service_completed_successfully",
        "triton": "service_healthy",
    }
    for name, svc in services.items():
        for dep, cond in depends(svc).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            # a dependency behind a profile starts only with that profile: the dependent must
            # be behind it too (grafana -> prometheus, both "monitoring")
            dep_profiles = set(services[dep].get("profiles", []))
            assert dep_profiles <= set(svc.get("profiles", [])), \
                f"{name} depends on {dep}, behind the profile(s) {sorted(dep_profiles)} that {name} is not in"
            if cond == "service_healthy":
                build = services[dep].get("build")
                dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile") if build else None
                has_check = "healthcheck" in services[dep] or (
                    dockerfile is not None and instructions("HEALTHCHECK", dockerfile))
                assert has_check, f"{name} waits for {dep} to be healthy; it has no health check"
            elif cond == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", \
                    f"{dep} is waited for to exit; a restart policy would bring it back"
            else:
                assert cond == "service_started"
        assert name not in started_before(services, name), f"{name}: a dependency cycle"


def test_export_service_is_idempotent(services, tmp_path, capsys):
    """Every `up` runs the export: with the model already there it exits 0 at once, without
    touching the files and without PyTorch (Triton waits for that exit)."""
    ex = _export_module()
    svc_name, args = exporters(services)["resnet50"]
    assert args.if_missing and not args.force
    argv = service_argv(services[svc_name])
    argv = argv[next(i for i, a in enumerate(argv) if a.endswith(EXPORT_SCRIPT)) + 1:]
    i = argv.index("--repository")
    argv[i + 1] = str(tmp_path)  # the same arguments, into a folder of the test's

    model_dir = tmp_path / ex.MODEL_NAME
    ex.write_repository_files(model_dir, [f"c{i}" for i in range(ex.NUM_CLASSES)])
    onnx = model_dir / "1" / "model.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"not really onnx")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in ex.model_files(model_dir)}
    assert ex.is_complete(model_dir)
    assert ex.main(argv) == 0
    assert "already exported" in capsys.readouterr().out
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in ex.model_files(model_dir)} == before

    # an interrupted export (empty model.onnx, or labels missing) is not taken for a finished one
    onnx.write_bytes(b"")
    assert not ex.is_complete(model_dir)
    onnx.write_bytes(b"x")
    (model_dir / ex.LABELS_FILE).unlink()
    assert not ex.is_complete(model_dir)
    if importlib.util.find_spec("torch") is None:
        assert ex.main(argv) == 2  # it goes on to export, and says what it needs for that
        assert "pip install torch torchvision" in capsys.readouterr().err


def test_export_runs_where_torch_is_installed(services, tmp_path):
    """The export itself, with the compose service's arguments and random weights (no download):
    it writes a complete model once, then skips. Needs torch, torchvision and onnx (the export
    image has them; run by hand with torch 2.5.1, onnx 1.17.0, onnxruntime 1.20.1, 25 s)."""
    for mod in ("torch", "torchvision", "onnx"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"no {mod} here; the export runs in deploy/export.Dockerfile's image")
    svc_name, _ = exporters(services)["resnet50"]
    argv = service_argv(services[svc_name])
    argv = argv[next(i for i, a in enumerate(argv) if a.endswith(EXPORT_SCRIPT)) + 1:]
    argv[argv.index("--repository") + 1] = str(tmp_path)
    argv[argv.index("--weights") + 1] = "none"
    script = [sys.executable, str(ROOT / EXPORT_SCRIPT), *argv]
    first = subprocess.run(script, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    ex = _export_module()
    assert ex.is_complete(tmp_path / ex.MODEL_NAME)
    again = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already exported" in again.stdout


def test_export_without_if_missing_keeps_an_existing_model(tmp_path, capsys):
    ex = _export_module()
    onnx = tmp_path / ex.MODEL_NAME / "1" / "model.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"keep me")
    assert ex.main(["--repository", str(tmp_path)]) == 1  # decided before importing torch
    assert "--force" in capsys.readouterr().err
    assert onnx.read_bytes() == b"keep me"
    with pytest.raises(SystemExit):
        ex.build_parser().parse_args(["--force", "--if-missing"])


def test_export_service_arguments_fit_the_route(services):
    """The service's flags are the script's (parsed by its own parser), and what it writes is
    what the route and the health check name, with weights the script accepts."""
    ex = _export_module()
    svc_name, args = exporters(services)["resnet50"]
    model = worker_cfg(services).routes[0].model
    assert args.name == model["name"] == ex.MODEL_NAME
    assert args.version == 1
    assert args.weights == "IMAGENET1K_V2"  # the default of ${CLASSIFIER_WEIGHTS:-...}
    assert args.match_owner  # root in the container; the files go back to the folder's owner
    assert not args.cpu  # Triton has the GPUs
    assert "user" not in services[svc_name]  # a fixed uid could not write into every clone
    # the weights are downloaded into the container, not into the repository
    assert env_of(services[svc_name])["TORCH_HOME"].startswith("/tmp/")
    # no GPU needed for the export
    assert "deploy" not in services[svc_name]


def test_match_owner_gives_the_files_to_the_repository_owner(tmp_path, monkeypatch):
    ex = _export_module()
    files = [tmp_path / "a", tmp_path / "b"]
    for f in files:
        f.write_text("x")
    calls = []
    monkeypatch.setattr(ex.os, "chown", lambda path, uid, gid: calls.append((path, uid, gid)))
    st = tmp_path.stat()
    monkeypatch.setattr(ex.os, "geteuid", lambda: 1234)  # not root: nothing to hand back
    ex.match_owner(tmp_path, files)
    assert calls == []
    monkeypatch.setattr(ex.os, "geteuid", lambda: 0)  # root in the container
    owned = os.stat_result((st.st_mode, 0, 0, 1, 1000, 1001, 0, 0, 0, 0))  # pipelines/: 1000:1001
    real_stat = os.stat
    monkeypatch.setattr(ex.os, "stat", lambda path, *a, **kw: owned if Path(path) == tmp_path
                        else real_stat(path, *a, **kw))
    ex.match_owner(tmp_path, [*files, tmp_path / "never written"])
    monkeypatch.undo()
    assert calls == [(f, 1000, 1001) for f in files]  # what a failed export did not write is skipped


def test_built_images_are_built_not_pulled(services):
    """There is no published dali-stream-worker image: `up` builds both from the checkout
    (without pull_policy Compose first tries to pull the image name, and fails noisily)."""
    for name in ("worker", "export-classifier"):
        assert services[name]["pull_policy"] == "build", name
        assert "build" in services[name]


def test_export_image_has_what_the_export_imports():
    """Run with torch 2.5.1 here: torch.onnx.export's TorchScript exporter stops with 'Module onnx
    is not installed!' (and the dynamo one wants onnxscript); the official PyTorch image has
    torch, torchvision and torchaudio only. The export image adds onnx (and onnxruntime, for the
    export's own ONNX-vs-PyTorch check), at pinned versions, on the pinned official image."""
    assert re.fullmatch(r"pytorch/pytorch:2\.5\.1-cuda[\d.]+-cudnn\d+-runtime", base_image(EXPORT_DOCKERFILE))
    runs = " ".join(instructions("RUN", EXPORT_DOCKERFILE))
    pins = dict(re.findall(r"\b(onnx|onnxruntime)==([\d.]+)", runs))
    assert set(pins) == {"onnx", "onnxruntime"}, runs
    assert "import onnx, onnxruntime, torch, torchvision" in runs  # the build fails, not the export
    # the script is mounted from ./deploy (edits apply without a rebuild), not baked in
    assert not instructions("COPY", EXPORT_DOCKERFILE)
    ex = _export_module()
    assert "import onnx" in (ROOT / EXPORT_SCRIPT).read_text()  # checked before any export starts
    assert ex.OPSET <= 21  # onnx 1.17 / onnxruntime 1.20 read opsets up to 21 (and 22)


def test_build_context_leaves_out_the_export_while_it_writes():
    """`up` builds the worker image while export-classifier writes model.onnx.tmp into the
    context: neither the model nor its temporary file goes into the build."""
    import fnmatch

    ignored = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    for path in ("pipelines/resnet50/1/model.onnx", "pipelines/resnet50/1/model.onnx.tmp"):
        assert any(fnmatch.fnmatch(path, pat) for pat in ignored), path
    assert not any(fnmatch.fnmatch("pipelines/resnet50/labels.txt", pat) for pat in ignored)


def test_docs_name_no_step_that_up_now_does():
    """The `setup` profile is gone: no command of ours still says to use it."""
    for rel in ("docker-compose.yml", "docs/deployment.md", EXPORT_SCRIPT):
        text = (ROOT / rel).read_text()
        assert "--profile setup" not in text, rel
        assert "HOST_UID" not in text, rel


# ---- Dockerfile ----------------------------------------------------------------------------------

def test_dockerfile_base_user_and_install():
    lines = dockerfile_lines()
    base = base_image(DOCKERFILE)
    # plain Debian: a CUDA base image would demand a newer driver than DALI does (versions.toml)
    assert base == tomllib.loads((ROOT / "versions.toml").read_text())["base"]["worker_image"]
    runs = " ".join(instructions("RUN"))
    assert "--require-hashes" in runs and "requirements.lock" in runs and "python3-venv" in runs
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
    gitignored = (ROOT / ".gitignore").read_text().split()
    for body in instructions("COPY"):
        *sources, _dest = body.split()
        if sources and sources[0].startswith("--from="):
            continue  # from the build stage
        for src in sources:
            if "[" in src:  # an optional file (a pattern that may match nothing): never committed
                assert re.sub(r"\[(.)\]", r"\1", src) in gitignored, src
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
        # the CLI plugin is Compose v2 or later whatever it calls itself (a build from source
        # says "version dev"); the standalone docker-compose must say v2+ (v1 rejects the file)
        if r.returncode == 0 and (cmd[0] == "docker" or re.search(r"v?[2-9]\.\d+", r.stdout)):
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
    r = subprocess.run([*cmd, "-f", str(COMPOSE), "config", "--services"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # every service, the export included, is part of a plain `docker compose up`, except the
    # monitoring profile's
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(r.stdout.split()) == {n for n, s in services.items() if "profiles" not in s}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
