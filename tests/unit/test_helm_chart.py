"""The Helm chart (deploy/helm/dali-stream-worker), without a cluster: ``helm lint`` and
``helm template`` with the default and the CPU values, every rendered object checked against
Kubernetes' own JSON schemas (the ``kubernetes-validate`` package: schemas generated from each
release's OpenAPI document, strict, so an unknown field fails) and the CRDs' objects against
the CRDs' schemas (vendored from KEDA 2.20.2 and the Prometheus Operator 0.93.0,
deploy/helm/crd-schemas/). Then what the schemas cannot know: the configuration the pods get is
one the worker accepts, the autoscaler's ceiling follows from partitions and processes, the
grace period covers the drain, the probes hit the health endpoints."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy_tools import run, tool
from worker.config import WorkerConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "dali-stream-worker"
CPU_VALUES = CHART / "values-cpu.yaml"
CRD_SCHEMAS = ROOT / "deploy" / "helm" / "crd-schemas"
# the oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and a current one
KUBE_VERSIONS = ("1.25.0", "1.34.0")

SECURED = [
    "kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=SCRAM-SHA-512",
    "kafka.security.username=dali-worker", "kafka.credentials.existingSecret=kafka-client",
    "kafka.credentials.passwordKey=password", "kafka.credentials.caKey=ca.crt",
    "triton.credentials.existingSecret=triton-tls",
]
VARIANTS = {
    "default": ([], []),
    "cpu": ([CPU_VALUES], []),
    "cpu-autoscaled": ([CPU_VALUES], ["autoscaling.enabled=true"]),
    "secured-with-servicemonitor": ([], SECURED + ["serviceMonitor.enabled=true"]),
    "created-secrets": ([], ["kafka.credentials.create.password=s3cret",
                             "kafka.credentials.passwordKey=password",
                             "kafka.security.protocol=SASL_PLAINTEXT",
                             "triton.credentials.create.ca\\.pem=x"]),
}


def helm(*args: str) -> "subprocess.CompletedProcess":  # noqa: F821
    return run([tool("helm"), *args], cwd=ROOT)


def template(values: list[Path] = (), sets: list[str] = (), kube: str = KUBE_VERSIONS[-1]):
    args = ["template", "dsw", str(CHART), "--kube-version", kube]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    return helm(*args)


def render(values=(), sets=(), kube: str = KUBE_VERSIONS[-1]) -> dict[str, dict]:
    r = template(values, sets, kube)
    assert r.returncode == 0, r.stderr
    objs = [d for d in yaml.safe_load_all(r.stdout) if d]
    by_kind = {}
    for o in objs:
        assert o["kind"] not in by_kind or o["kind"] == "Secret", f"two {o['kind']}s"
        by_kind.setdefault(o["kind"], o)
    by_kind["_all"] = objs
    return by_kind


def container(objs) -> dict:
    (c,) = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


def env_of(objs) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(objs)["env"]}


# ---- helm's own checks ------------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], [CPU_VALUES]], ids=["default", "cpu"])
def test_helm_lint(values):
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSIONS[-1]]
    for v in values:
        args += ["-f", str(v)]
    r = helm(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 chart(s) failed" in r.stdout


# ---- schemas -------------------------------------------------------------------------------------

def _strict(schema):
    """kubeconform's -strict for a CRD's schema: an object with properties takes no others
    (unless the CRD says it keeps unknown fields), so a misspelt field fails."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    return schema


def _crd_schema(obj) -> dict:
    group, version = obj["apiVersion"].split("/")
    path = CRD_SCHEMAS / f"{obj['kind'].lower()}-{group.split('.')[0]}-{version}.json"
    assert path.exists(), f"no vendored schema for {obj['apiVersion']} {obj['kind']} ({path.name})"
    schema = json.loads(path.read_text())
    schema.pop("$comment", None)
    # the API server checks metadata for every kind; the CRD's schema says only "object"
    return _strict(schema)


def validate_object(obj, kube: str) -> None:
    import kubernetes_validate

    if "/" in obj["apiVersion"] and "." in obj["apiVersion"].split("/")[0] \
            and not obj["apiVersion"].split("/")[0].endswith(".k8s.io"):
        jsonschema.validate(obj, _crd_schema(obj))
        return
    kubernetes_validate.validate(obj, kube, strict=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_rendered_objects_match_the_schemas(variant, kube):
    values, sets = VARIANTS[variant]
    objs = render(values, sets, kube)["_all"]
    assert objs
    for obj in objs:
        try:
            validate_object(obj, kube)
        except Exception as exc:  # noqa: BLE001 - report which object, whatever the validator
            err = getattr(exc, "caught", exc)
            where = "/".join(str(p) for p in getattr(err, "absolute_path", ()))
            pytest.fail(f"{variant}, Kubernetes {kube}: {obj['kind']} {obj['metadata']['name']}: "
                        f"{where}: {getattr(err, 'message', exc)}")


def test_the_schema_check_catches_a_bad_field():
    """The validators are strict: a field Kubernetes (or KEDA) does not know fails."""
    import kubernetes_validate

    objs = render()
    dep = copy.deepcopy(objs["Deployment"])
    dep["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, KUBE_VERSIONS[-1], strict=True)
    dep = copy.deepcopy(objs["Deployment"])
    dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "60"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, KUBE_VERSIONS[-1], strict=True)
    so = copy.deepcopy(objs["ScaledObject"])
    so["spec"]["maxReplicas"] = so["spec"].pop("maxReplicaCount")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(so, _crd_schema(so))


# ---- what the pods run -------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["default", "cpu"])
def test_the_worker_accepts_the_configuration(variant, tmp_path):
    """The ConfigMap's TOML with the Deployment's environment, loaded by the worker's own loader
    (as ``dali-worker run`` does in the pod): every key known, every route complete, the
    pipelines in the image's repository, and the autoscaler watching the route's topic and group."""
    values, sets = VARIANTS[variant]
    objs = render(values, sets)
    env = env_of(objs)
    cm = objs["ConfigMap"]
    mount = next(m for m in container(objs)["volumeMounts"] if m["name"] == "config")
    assert env["DSW_CONFIG"] == f"{mount['mountPath']}/worker.toml"
    (tmp_path / "worker.toml").write_text(cm["data"]["worker.toml"])
    env = {**env, "DSW_CONFIG": str(tmp_path / "worker.toml"), "DSW_STATE_DIR": str(tmp_path / "state")}
    cfg = load_config(env=env)
    assert cfg.bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert cfg.metrics_port > 0
    for route in cfg.routes:
        for name in [route.pipeline, *route.pipelines]:
            assert (ROOT / "pipelines" / name).is_dir(), f"pipeline {name} is not in the image's pipelines/"
        if route.model:
            assert route.model["url"] == yaml.safe_load((CHART / "values.yaml").read_text())["triton"]["url"]
    fields = {f"DSW_{f.upper()}" for f in WorkerConfig.__dataclass_fields__}
    for name in env:
        assert name in fields | {"KAFKA_BOOTSTRAP_SERVERS", "DSW_CONFIG"}, f"{name} is no setting of the worker"
    cpu_objs = render(*VARIANTS["cpu-autoscaled"]) if variant == "cpu" else objs
    (trigger,) = cpu_objs["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["topic"] in cfg.input_topics
    assert trigger["metadata"]["consumerGroup"] == cfg.group_id
    assert trigger["metadata"]["offsetResetPolicy"] == cfg.auto_offset_reset


def test_gpus_are_requested_and_processes_per_gpu_set():
    objs = render(sets=["worker.gpusPerPod=2", "worker.procsPerGpu=3"])
    res = container(objs)["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == 2
    assert env_of(objs)["DSW_DEVICE"] == "gpu" and env_of(objs)["DSW_PROCS"] == "3"
    cpu = render([CPU_VALUES])
    for part in container(cpu)["resources"].values():
        assert "nvidia.com/gpu" not in part
    assert env_of(cpu)["DSW_DEVICE"] == "cpu"


def test_probes_use_the_health_endpoints_on_the_metrics_port():
    objs = render()
    c = container(objs)
    port = int(env_of(objs)["DSW_METRICS_PORT"])
    (p,) = c["ports"]
    assert p["containerPort"] == port and p["name"] == "metrics"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # liveness waits for the start (pipelines, Triton's startup_timeout_s of 60 s) to finish
    start = c["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120


def test_grace_period_exceeds_the_drain():
    objs = render()
    grace = objs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(env_of(objs)["DSW_DRAIN_TIMEOUT_S"])
    r = template(sets=["worker.drainTimeoutSeconds=90"])
    assert r.returncode != 0
    assert "terminationGracePeriodSeconds=60 must exceed worker.drainTimeoutSeconds=90" in r.stderr


@pytest.mark.parametrize("partitions,gpus,procs", [(64, 1, 4), (64, 8, 4), (100, 2, 4), (12, 1, 5)])
def test_replica_ceiling_follows_from_partitions(partitions, gpus, procs):
    """KEDA caps replicas at the partition count, as if each pod were one consumer; here a pod
    is gpus x procs consumers, so the chart's ceiling is partitions // that, and KEDA's
    lagThreshold (per pod) is the per-consumer lag times it."""
    objs = render(sets=[f"kafka.inputPartitions={partitions}", f"worker.gpusPerPod={gpus}",
                        f"worker.procsPerGpu={procs}", "autoscaling.lagPerConsumer=1000"])
    spec = objs["ScaledObject"]["spec"]
    per_pod = gpus * procs
    assert spec["maxReplicaCount"] == partitions // per_pod
    assert spec["maxReplicaCount"] * per_pod <= partitions  # no idle consumer at the ceiling
    (trigger,) = spec["triggers"]
    assert int(trigger["metadata"]["lagThreshold"]) == 1000 * per_pod
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": objs["Deployment"]["metadata"]["name"]}
    # the HPA owns the replica count: a `replicas` in the Deployment would fight it on upgrade
    assert "replicas" not in objs["Deployment"]["spec"]


@pytest.mark.parametrize("sets,message", [
    (["kafka.inputPartitions=2"], "kafka.inputPartitions=2 is less than the consumers of one pod (4"),
    (["autoscaling.maxReplicas=20"], "autoscaling.maxReplicas=20: 20 pods x 4 consumers each = 80 consumers, but images has 64 partitions"),
    (["autoscaling.enabled=false", "replicaCount=17"], "replicaCount=17: 17 pods x 4 consumers each is more than the 64 partitions"),
    (["worker.device=tpu"], "worker.device=tpu: use gpu"),
    (["worker.gpusPerPod=0"], "worker.gpusPerPod=0 with worker.device=gpu"),
    (["kafka.credentials.passwordKey=password"], "names a file of a Secret, but there is none"),
    (["kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=OAUTHBEARER",
      "kafka.credentials.existingSecret=k", "kafka.credentials.passwordKey=p"],
     "the KEDA Kafka scaler cannot log in with the worker's OAUTHBEARER settings"),
])
def test_impossible_sizing_fails_with_the_fix(sets, message):
    r = template(sets=sets)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_credentials_are_files_from_the_secret_for_worker_and_scaler():
    objs = render(sets=SECURED)
    env = env_of(objs)
    mounts = {m["name"]: m for m in container(objs)["volumeMounts"]}
    volumes = {v["name"]: v for v in objs["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["kafka-credentials"]["secret"]["secretName"] == "kafka-client"
    assert volumes["triton-credentials"]["secret"]["secretName"] == "triton-tls"
    kafka_dir = mounts["kafka-credentials"]["mountPath"]
    assert mounts["kafka-credentials"]["readOnly"]
    assert env["DSW_SASL_PASSWORD_FILE"] == f"{kafka_dir}/password"
    assert env["DSW_SSL_CA_FILE"] == f"{kafka_dir}/ca.crt"
    assert "DSW_SASL_PASSWORD" not in env  # never a value in the pod spec
    assert env["DSW_SECURITY_PROTOCOL"] == "SASL_SSL" and env["DSW_SASL_MECHANISM"] == "SCRAM-SHA-512"
    (trigger,) = objs["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
    auth = objs["TriggerAuthentication"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {"password": ("kafka-client", "password"), "ca": ("kafka-client", "ca.crt")}
    assert auth["spec"]["env"] == [{"parameter": "username", "name": "DSW_SASL_USERNAME",
                                    "containerName": container(objs)["name"]}]


def test_metrics_service_pdb_and_servicemonitor_select_the_pods():
    objs = render(sets=["serviceMonitor.enabled=true", "serviceMonitor.labels.release=prom"])
    pod_labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind, selector in (("Service", objs["Service"]["spec"]["selector"]),
                           ("PodDisruptionBudget", objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"])):
        assert selector.items() <= pod_labels.items(), kind
    svc = objs["Service"]
    assert svc["spec"]["publishNotReadyAddresses"] is True  # scraped while rebalancing
    sm = objs["ServiceMonitor"]
    assert sm["metadata"]["labels"]["release"] == "prom"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    assert "ServiceMonitor" not in render()  # optional: off by default (needs the operator's CRDs)


def test_config_change_rolls_the_pods():
    a = render()["Deployment"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    b = render(sets=["triton.url=other:8001"])["Deployment"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert a != b


def test_rolling_update_never_adds_a_consumer_above_the_ceiling():
    """A surge pod at the ceiling would hold consumers with no partition to take."""
    strategy = render()["Deployment"]["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxSurge"] == 0


def test_cpu_values_are_a_smoke_run():
    objs = render([CPU_VALUES])
    assert "ScaledObject" not in objs and objs["Deployment"]["spec"]["replicas"] == 1
    env = env_of(objs)
    assert int(env["DSW_PROCS"]) * objs["Deployment"]["spec"]["replicas"] <= \
        yaml.safe_load(CPU_VALUES.read_text())["kafka"]["inputPartitions"]
    assert "model" not in objs["ConfigMap"]["data"]["worker.toml"]  # no Triton needed
    assert math.isclose(float(env["DSW_DRAIN_TIMEOUT_S"]), 30)
