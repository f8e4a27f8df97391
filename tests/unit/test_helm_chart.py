"""The Helm chart (deploy/helm/dali-stream-worker), without a cluster: ``helm lint`` and
``helm template`` with the default and the CPU values, every rendered object checked against
Kubernetes' own JSON schemas (the ``kubernetes-validate`` package: schemas generated from each
release's OpenAPI document, strict, so an unknown field fails) and the CRDs' objects against
the CRDs' schemas (vendored from KEDA 2.20.2 and the Prometheus Operator 0.93.0,
deploy/helm/crd-schemas/). Then what the schemas cannot know: the configuration the pods get is
one the worker accepts, the autoscaler's ceiling follows from partitions and processes, the
grace period covers the drain, the probes hit the health endpoints, every pod passes the
"restricted" Pod Security Standard (its rules as a table below), the values schema refuses wrong
values, and ``helm template`` works with helm's defaults (no ``--kube-version``)."""
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
# the oldest Kubernetes CI validates against (Pod Security admission is GA from 1.25) and a current one
KUBE_VERSIONS = ("1.25.0", "1.34.0")
# every values file the chart ships: each must render, validate and pass the restricted profile
SHIPPED_VALUES = sorted(CHART.glob("values*.yaml"))

SECURED = [
    "kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=SCRAM-SHA-512",
    "kafka.security.username=dali-worker", "kafka.credentials.existingSecret=kafka-client",
    "kafka.credentials.passwordKey=password", "kafka.credentials.caKey=ca.crt",
    "triton.credentials.existingSecret=triton-tls",
]
MTLS = [  # mutual TLS with an encrypted key, no SASL
    "kafka.security.protocol=SSL", "kafka.credentials.existingSecret=kafka-client",
    "kafka.credentials.caKey=ca.crt", "kafka.credentials.certKey=user.crt",
    "kafka.credentials.keyKey=user.key", "kafka.credentials.keyPasswordKey=user.password",
]
OAUTH = [  # the worker reads a token file; KEDA gets its own token by client credentials
    "kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=OAUTHBEARER",
    "kafka.credentials.existingSecret=kafka-client", "kafka.credentials.caKey=ca.crt",
    "kafka.credentials.oauthTokenKey=token", "kafka.credentials.oauthClientIdKey=client-id",
    "kafka.credentials.oauthClientSecretKey=client-secret",
    "kafka.security.oauth.tokenEndpointUri=https://idp.example.com/oauth2/token",
    "kafka.security.oauth.scopes={kafka,lag}", "kafka.security.oauth.extensions.logicalCluster=lkc-1",
]
SCHEDULING = [
    "nodeSelector.nvidia\\.com/gpu\\.family=hopper", "runtimeClassName=nvidia",
    "tolerations[0].key=nvidia.com/gpu", "tolerations[0].operator=Exists",
    "tolerations[0].effect=NoSchedule",
    "topologySpreadConstraints[0].maxSkew=1",
    "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
    "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    ".matchExpressions[0].key=nvidia.com/gpu.product",
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    ".matchExpressions[0].operator=In",
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    ".matchExpressions[0].values={NVIDIA-H100-80GB-HBM3}",
    "image.registry=registry.example.com", "image.digest=sha256:" + "ab" * 32,
    "imagePullSecrets[0].name=regcred",
]
VARIANTS = {
    "default": ([], []),
    "cpu": ([CPU_VALUES], []),
    "cpu-autoscaled": ([CPU_VALUES], ["autoscaling.enabled=true"]),
    "secured-with-servicemonitor": ([], SECURED + ["serviceMonitor.enabled=true"]),
    "created-secrets": ([], ["kafka.credentials.create.password=s3cret",
                             "kafka.credentials.passwordKey=password",
                             "kafka.security.protocol=SASL_PLAINTEXT", "kafka.security.username=w",
                             "triton.credentials.create.ca\\.pem=x"]),
    "mtls": ([], MTLS),
    "oauthbearer": ([], OAUTH),
    "scheduling": ([], SCHEDULING),
}


def helm(*args: str) -> "subprocess.CompletedProcess":  # noqa: F821
    return run([tool("helm"), *args], cwd=ROOT)


def template(values: list[Path] = (), sets: list[str] = (), kube: str | None = KUBE_VERSIONS[-1]):
    args = ["template", "dsw", str(CHART)] + (["--kube-version", kube] if kube else [])
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
        assert o["kind"] not in by_kind or o["kind"] in ("Secret", "ConfigMap"), f"two {o['kind']}s"
        # the worker's ConfigMap first (the OAuth one of KEDA is found by name)
        if o["kind"] != "ConfigMap" or "worker.toml" in o["data"]:
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
        assert name in fields | {"KAFKA_BOOTSTRAP_SERVERS", "DSW_CONFIG", "HOME"}, f"{name} is no setting of the worker"
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
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # The startup probe waits for the first poll: /healthz holds nothing against a process whose
    # loop has not started (it passes at once); /readyz passes only when every process has
    # loaded its pipelines, reached the model and joined the group, which its first poll does.
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # liveness waits for the start (pipelines, Triton's startup_timeout_s of 60 s, the join) to finish
    start = c["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120
    # the server binds the pod's interfaces, whatever the worker's own default
    assert env_of(objs)["DSW_METRICS_HOST"] == "0.0.0.0"


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
    (["worker.gpusPerPod=0"], "worker.gpusPerPod=0 with worker.device=gpu"),
    (["kafka.security.protocol=SSL", "kafka.credentials.caKey=ca.crt"],
     "names a file of a Secret, but there is none"),
    # Kafka security the worker would refuse at start, refused at render with the fix
    (["kafka.security.protocol=SASL_SSL", "kafka.credentials.existingSecret=k",
      "kafka.credentials.passwordKey=p"],
     "kafka.security.username is empty: SASL PLAIN logs in as a user"),
    (["kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=SCRAM-SHA-512",
      "kafka.security.username=  ", "kafka.credentials.existingSecret=k", "kafka.credentials.passwordKey=p"],
     "kafka.security.username is empty: SASL SCRAM-SHA-512 logs in as a user"),
    (["kafka.security.protocol=SASL_SSL", "kafka.security.username=u", "autoscaling.enabled=false"],
     "with SASL PLAIN needs the password: set kafka.credentials.passwordKey"),
    (["kafka.security.username=u"], "kafka.security.username is set but kafka.security.protocol=PLAINTEXT does not use SASL"),
    (["kafka.security.saslMechanism=PLAIN"], "kafka.security.saslMechanism is set but kafka.security.protocol=PLAINTEXT"),
    (["kafka.credentials.existingSecret=k", "kafka.credentials.caKey=ca.crt"],
     "kafka.credentials.caKey is set but kafka.security.protocol=PLAINTEXT does not use TLS"),
    (["kafka.security.protocol=SSL", "kafka.credentials.existingSecret=k", "kafka.credentials.certKey=c"],
     "kafka.credentials.certKey and keyKey go together"),
    (["kafka.security.protocol=SSL", "kafka.credentials.existingSecret=k", "kafka.credentials.keyPasswordKey=p"],
     "kafka.credentials.keyPasswordKey without keyKey"),
    (["kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=OAUTHBEARER",
      "kafka.credentials.existingSecret=k"],
     "the worker needs its token from exactly one of kafka.credentials.oauthTokenKey"),
    (["kafka.security.protocol=SASL_SSL", "kafka.security.saslMechanism=OAUTHBEARER",
      "kafka.credentials.existingSecret=k", "kafka.credentials.oauthTokenKey=t"],
     "the KEDA Kafka scaler cannot log in with the worker's OAUTHBEARER settings"),
    (["kafka.security.protocol=SSL", "kafka.security.checkHostname=false"],
     "set autoscaling.kafkaUnsafeSsl=true to let it skip verifying"),
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


# ---- helm's defaults ---------------------------------------------------------------------------

def test_template_and_lint_work_without_kube_version():
    """``helm template`` with no flags: a helm built with ``go install`` (as CI builds it) takes
    Kubernetes v1.20 as its default, so a ``kubeVersion`` constraint in Chart.yaml made it fail;
    the chart asks the cluster for the API it needs instead (policy/v1)."""
    r = template(kube=None)
    assert r.returncode == 0, r.stderr
    assert "kind: Deployment" in r.stdout
    r = helm("lint", "--strict", str(CHART))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kubeVersion" not in yaml.safe_load((CHART / "Chart.yaml").read_text())


# ---- the "restricted" Pod Security Standard ---------------------------------------------------
# The controls of https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline,
# which restricted includes, then restricted), as the Pod Security admission plugin checks them
# (k8s.io/pod-security-admission/policy) for Kubernetes 1.34. Each rule is a function of the
# pod's metadata and spec that returns its violations; a namespace labelled
# pod-security.kubernetes.io/enforce=restricted admits a pod only when every list is empty.

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec):
    return [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]


def _sc(c):
    return c.get("securityContext") or {}


def _effective(spec, c, field):
    """A container's setting, else the pod's (securityContext fields both levels have)."""
    value = _sc(c).get(field)
    return (spec.get("securityContext") or {}).get(field) if value is None else value


def _probe_hosts(c):
    handlers = [c.get(p) or {} for p in ("livenessProbe", "readinessProbe", "startupProbe")]
    handlers += [(c.get("lifecycle") or {}).get(h) or {} for h in ("postStart", "preStop")]
    return [h[k]["host"] for h in handlers for k in ("httpGet", "tcpSocket") if (h.get(k) or {}).get("host")]


PSS_RULES = {
    # -- baseline --
    "HostProcess": lambda m, s: [c["name"] for c in _containers(s)
                                 if _effective(s, c, "windowsOptions") and _effective(s, c, "windowsOptions").get("hostProcess")],
    "Host namespaces": lambda m, s: [f for f in ("hostNetwork", "hostPID", "hostIPC") if s.get(f)],
    "Privileged containers": lambda m, s: [c["name"] for c in _containers(s) if _sc(c).get("privileged")],
    "Capabilities (baseline)": lambda m, s: [f"{c['name']}: {cap}" for c in _containers(s)
                                             for cap in (_sc(c).get("capabilities") or {}).get("add") or []
                                             if cap not in BASELINE_CAPABILITIES],
    "HostPath volumes": lambda m, s: [v["name"] for v in s.get("volumes", []) if "hostPath" in v],
    "Host ports": lambda m, s: [f"{c['name']}: {p['hostPort']}" for c in _containers(s)
                                for p in c.get("ports", []) if p.get("hostPort")],
    "AppArmor": lambda m, s: (
        [k for k, v in (m.get("annotations") or {}).items()
         if k.startswith("container.apparmor.security.beta.kubernetes.io/")
         and v != "runtime/default" and not v.startswith("localhost/")]
        + [c["name"] for c in [{"name": "(pod)", "securityContext": s.get("securityContext")}, *_containers(s)]
           if (_sc(c).get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost")]),
    "SELinux": lambda m, s: [c["name"] for c in [{"name": "(pod)", "securityContext": s.get("securityContext")}, *_containers(s)]
                             if (o := _sc(c).get("seLinuxOptions")) and
                             (o.get("type", "") not in SELINUX_TYPES or o.get("user") or o.get("role"))],
    "/proc mount type": lambda m, s: [c["name"] for c in _containers(s) if _sc(c).get("procMount") not in (None, "Default")],
    "Seccomp (baseline)": lambda m, s: [c["name"] for c in [{"name": "(pod)", "securityContext": s.get("securityContext")}, *_containers(s)]
                                        if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"],
    "Sysctls": lambda m, s: [x["name"] for x in (s.get("securityContext") or {}).get("sysctls") or []
                             if x["name"] not in SAFE_SYSCTLS],
    "Probe and lifecycle hosts": lambda m, s: [f"{c['name']}: {h}" for c in _containers(s) for h in _probe_hosts(c)],
    # -- restricted --
    "Volume types": lambda m, s: [v["name"] for v in s.get("volumes", [])
                                  if not (set(v) - {"name"}) <= RESTRICTED_VOLUME_TYPES],
    "Privilege escalation": lambda m, s: [c["name"] for c in _containers(s)
                                          if _sc(c).get("allowPrivilegeEscalation") is not False],
    "Running as non-root": lambda m, s: [c["name"] for c in _containers(s)
                                         if _sc(c).get("runAsNonRoot") is False or _effective(s, c, "runAsNonRoot") is not True],
    "Running as non-root user": lambda m, s: [c["name"] for c in [{"name": "(pod)", "securityContext": s.get("securityContext")}, *_containers(s)]
                                              if _sc(c).get("runAsUser") == 0],
    "Non-root groups": lambda m, s: [c["name"] for c in [{"name": "(pod)", "securityContext": s.get("securityContext")}, *_containers(s)]
                                     if _sc(c).get("runAsGroup") == 0 or _sc(c).get("fsGroup") == 0
                                     or 0 in (_sc(c).get("supplementalGroups") or [])],
    "Seccomp": lambda m, s: [c["name"] for c in _containers(s)
                             if (_effective(s, c, "seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost")],
    "Capabilities": lambda m, s: [c["name"] for c in _containers(s)
                                  if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])
                                  or set((_sc(c).get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}],
}


def pss_violations(pod_template: dict) -> dict[str, list]:
    meta, spec = pod_template.get("metadata") or {}, pod_template["spec"]
    return {rule: bad for rule, check in PSS_RULES.items() if (bad := check(meta, spec))}


def _pod_templates(objs):
    return [o["spec"]["template"] for o in objs["_all"] if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


@pytest.mark.parametrize("values", SHIPPED_VALUES, ids=lambda p: p.name)
def test_shipped_values_pass_the_restricted_pod_security_standard(values):
    for sets in ([], ["autoscaling.enabled=true"]):
        objs = render([values], sets)
        (pod,) = _pod_templates(objs)
        assert pss_violations(pod) == {}, f"{values.name} {sets}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_passes_the_restricted_pod_security_standard(variant):
    (pod,) = _pod_templates(render(*VARIANTS[variant]))
    assert pss_violations(pod) == {}


def test_the_pod_security_check_catches_each_violation():
    """Each rule of the table fires on the pod it is about (so a passing chart is not a
    rule that never looks)."""
    (good,) = _pod_templates(render())
    breaks = {
        "HostProcess": lambda s: _sc_of(s).update(windowsOptions={"hostProcess": True}),
        "Host namespaces": lambda s: s.update(hostNetwork=True),
        "Privileged containers": lambda s: _sc_of(s).update(privileged=True),
        "Capabilities (baseline)": lambda s: _sc_of(s).update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        "HostPath volumes": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "Host ports": lambda s: s["containers"][0]["ports"][0].update(hostPort=9400),
        "AppArmor": lambda s: _sc_of(s).update(appArmorProfile={"type": "Unconfined"}),
        "SELinux": lambda s: _sc_of(s).update(seLinuxOptions={"type": "spc_t"}),
        "/proc mount type": lambda s: _sc_of(s).update(procMount="Unmasked"),
        "Seccomp (baseline)": lambda s: _sc_of(s).update(seccompProfile={"type": "Unconfined"}),
        "Sysctls": lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "Probe and lifecycle hosts": lambda s: s["containers"][0]["livenessProbe"]["httpGet"].update(host="10.0.0.1"),
        "Volume types": lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
        "Privilege escalation": lambda s: _sc_of(s).pop("allowPrivilegeEscalation"),
        "Running as non-root": lambda s: (_sc_of(s).pop("runAsNonRoot"), s["securityContext"].pop("runAsNonRoot")),
        "Running as non-root user": lambda s: _sc_of(s).update(runAsUser=0),
        "Non-root groups": lambda s: s["securityContext"].update(supplementalGroups=[0]),
        "Seccomp": lambda s: (_sc_of(s).pop("seccompProfile"), s["securityContext"].pop("seccompProfile")),
        "Capabilities": lambda s: _sc_of(s).update(capabilities={"drop": ["NET_RAW"]}),
    }
    assert set(breaks) == set(PSS_RULES)
    for rule, brk in breaks.items():
        pod = copy.deepcopy(good)
        brk(pod["spec"])
        assert rule in pss_violations(pod), rule


def _sc_of(spec):
    return spec["containers"][0]["securityContext"]


# ---- read-only root filesystem, writable emptyDirs ------------------------------------------------

def test_root_filesystem_is_read_only_and_the_worker_writes_to_emptydirs():
    """Everything the worker writes is on an emptyDir: /tmp (the supervisor's metrics folder
    from tempfile.mkdtemp, pipeline loads' temporary folders), $HOME (CUDA's ~/.nv kernel cache,
    ~/.cache), the state folder (poison journal, transactional-id locks) and /dev/shm, which is
    memory-backed and sized by sharedMemorySize."""
    objs = render(sets=["sharedMemorySize=3Gi", "tmpSize=512Mi", "homeSize=256Mi"])
    c = container(objs)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in objs["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    env = env_of(objs)

    def volume_at(path):
        best = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
        return volumes[mounts[best]]

    for path in ("/tmp", env["HOME"], f"{env['HOME']}/.nv/ComputeCache", f"{env['HOME']}/.cache",
                 env["DSW_STATE_DIR"], "/dev/shm"):
        assert "emptyDir" in volume_at(path), f"{path} is not on a writable emptyDir"
    assert volume_at("/dev/shm")["emptyDir"] == {"medium": "Memory", "sizeLimit": "3Gi"}
    assert volume_at("/tmp")["emptyDir"]["sizeLimit"] == "512Mi"
    assert volume_at(env["HOME"])["emptyDir"]["sizeLimit"] == "256Mi"
    assert env["HOME"] == "/home/dsw"  # the image's dsw user (uid 10001)
    sc = objs["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert sc["runAsUser"] == sc["runAsGroup"] == c["securityContext"]["runAsUser"] == 10001


# ---- scheduling and the image ---------------------------------------------------------------------

def test_scheduling_values_reach_the_pod():
    spec = render(*VARIANTS["scheduling"])["Deployment"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.family": "hopper"}
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["NVIDIA-H100-80GB-HBM3"]
    (spread,) = spec["topologySpreadConstraints"]
    # a constraint without a labelSelector counts this release's pods
    assert spread["labelSelector"]["matchLabels"] == render()["Deployment"]["spec"]["selector"]["matchLabels"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    own = render(sets=["topologySpreadConstraints[0].maxSkew=1", "topologySpreadConstraints[0].topologyKey=zone",
                       "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
                       "topologySpreadConstraints[0].labelSelector.matchLabels.team=vision"])
    assert own["Deployment"]["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["labelSelector"] == \
        {"matchLabels": {"team": "vision"}}
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    for key in ("nodeSelector", "runtimeClassName", "tolerations", "affinity", "topologySpreadConstraints"):
        assert key not in render()["Deployment"]["spec"]["template"]["spec"], key


@pytest.mark.parametrize("sets,image", [
    ([], "dali-stream-worker:0.1.0"),
    (["image.tag=1.2.3"], "dali-stream-worker:1.2.3"),
    (["image.registry=registry.example.com:5000"], "registry.example.com:5000/dali-stream-worker:0.1.0"),
    (["image.registry=registry.example.com/", "image.repository=ml/dsw", "image.tag=1.2.3",
      "image.digest=sha256:" + "0f" * 32], "registry.example.com/ml/dsw@sha256:" + "0f" * 32),
])
def test_image_from_registry_repository_tag_or_digest(sets, image):
    """The digest wins over the tag: the pods run exactly the image that was tested."""
    assert container(render(sets=sets))["image"] == image


# ---- the values schema ------------------------------------------------------------------------------

@pytest.mark.parametrize("sets,where", [
    (["replicaCount=-1"], "/replicaCount"),
    (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    (["imagePullPolicy=Always"], "additional properties 'imagePullPolicy' not allowed"),  # a typo at the top
    (["worker.procsPerGpu=four"], "/worker/procsPerGpu"),
    (["worker.gpusPerPod=-1"], "/worker/gpusPerPod"),
    (["kafka.inputPartitions=0"], "/kafka/inputPartitions"),
    (["kafka.security.protocol=TLS"], "/kafka/security/protocol"),
    (["kafka.security.saslMechanism=SCRAM"], "/kafka/security/saslMechanism"),
    (["kafka.security.usrname=x"], "additional properties 'usrname' not allowed"),
    (["image.digest=sha256:abc"], "/image/digest"),
    (["sharedMemorySize=lots"], "/sharedMemorySize"),
    (["autoscaling.enabled=yes-please"], "/autoscaling/enabled"),
    (["probes.startup.periodSeconds=0"], "/probes/startup/periodSeconds"),
    (["tolerations[0].operator=Maybe"], "/tolerations/0/operator"),
    (["worker.delivery=exactly_once"], "/worker/delivery"),
    (["worker.device=tpu"], "/worker/device': value must be one of 'gpu', 'cpu'"),
])
def test_the_values_schema_refuses_wrong_values(sets, where):
    r = template(sets=sets)
    assert r.returncode != 0
    assert "values don't meet the specifications of the schema" in r.stderr, r.stderr
    assert where in r.stderr, r.stderr


def test_the_schema_knows_every_shipped_value():
    """Every key of values.yaml is in the schema (a key it lacks would be refused at the top
    level, or pass unchecked below it)."""
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(values, node, where):
        for key, value in values.items():
            assert key in node.get("properties", {}), f"{where}{key} is not in values.schema.json"
            sub = node["properties"][key]
            if isinstance(value, dict) and sub.get("properties"):
                walk(value, sub, f"{where}{key}.")

    walk(yaml.safe_load((CHART / "values.yaml").read_text()), schema, "")


# ---- KEDA's Kafka trigger: TLS and SASL as the worker has them -----------------------------------

def test_keda_gets_the_workers_mutual_tls():
    objs = render(*VARIANTS["mtls"])
    env = env_of(objs)
    assert env["DSW_SSL_CERT_FILE"].endswith("/user.crt") and env["DSW_SSL_KEY_FILE"].endswith("/user.key")
    assert env["DSW_SSL_KEY_PASSWORD_FILE"].endswith("/user.password")
    (trigger,) = objs["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["tls"] == "enable" and "sasl" not in trigger["metadata"]
    assert "unsafeSsl" not in trigger["metadata"]  # the broker's certificate is verified
    auth = objs["TriggerAuthentication"]["spec"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
    assert refs == {"ca": ("kafka-client", "ca.crt"), "cert": ("kafka-client", "user.crt"),
                    "key": ("kafka-client", "user.key"), "keyPassword": ("kafka-client", "user.password")}
    assert "env" not in auth  # no SASL user


def test_keda_gets_its_own_oauth_token_for_an_oauthbearer_worker():
    objs = render(*VARIANTS["oauthbearer"])
    env = env_of(objs)
    assert env["DSW_SASL_MECHANISM"] == "OAUTHBEARER"
    assert env["DSW_SASL_OAUTH_TOKEN_FILE"] == "/etc/dali-worker/kafka/token"
    assert "DSW_SASL_USERNAME" not in env
    (trigger,) = objs["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["sasl"] == "oauthbearer" and trigger["metadata"]["tls"] == "enable"
    auth = objs["TriggerAuthentication"]["spec"]
    refs = {r["parameter"]: r["key"] for r in auth["secretTargetRef"]}
    assert refs == {"ca": "ca.crt", "username": "client-id", "password": "client-secret"}
    (cm,) = [o for o in objs["_all"] if o["kind"] == "ConfigMap" and o is not objs["ConfigMap"]]
    params = {r["parameter"]: cm["data"][r["key"]] for r in auth["configMapTargetRef"]
              if r["name"] == cm["metadata"]["name"]}
    assert params == {"oauthTokenEndpointUri": "https://idp.example.com/oauth2/token",
                      "scopes": "kafka,lag", "oauthExtensions": "logicalCluster=lkc-1"}


def test_a_token_command_is_the_workers_alternative_to_a_token_file():
    objs = render(sets=[s for s in OAUTH if "oauthTokenKey" not in s] + ["kafka.security.oauth.tokenCommand=/app/token.sh"])
    env = env_of(objs)
    assert env["DSW_SASL_OAUTH_TOKEN_COMMAND"] == "/app/token.sh" and "DSW_SASL_OAUTH_TOKEN_FILE" not in env
    r = template(sets=OAUTH + ["kafka.security.oauth.tokenCommand=/app/token.sh"])
    assert r.returncode != 0 and "exactly one of" in r.stderr


def test_hostname_check_off_is_an_explicit_choice_for_keda():
    objs = render(sets=MTLS + ["kafka.security.checkHostname=false", "autoscaling.kafkaUnsafeSsl=true"])
    assert env_of(objs)["DSW_SSL_CHECK_HOSTNAME"] == "false"
    (trigger,) = objs["ScaledObject"]["spec"]["triggers"]
    assert trigger["metadata"]["unsafeSsl"] == "true"
