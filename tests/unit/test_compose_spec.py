"""docker-compose.yml as Docker Compose v2 loads it, without Docker: tests/composecheck is a
few lines of Go around compose-go (the library `docker compose` itself uses: the Compose
specification's JSON schema, interpolation, profiles, depends_on, consistency checks). The
Compose in Debian is v1.29 and refuses the file's top-level `name`, so it cannot be the check.
Also the monitoring profile's files: Prometheus' configuration through `promtool check config`,
Grafana's provisioning against the dashboard and the mounts."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy_tools import run, tool
from tests.unit.test_grafana_dashboard import _promtool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def composecheck(*args: str, cwd: Path = ROOT):
    return run([tool("composecheck"), *args], cwd=cwd, env={"PATH": "/usr/bin:/bin"})


def test_compose_file_loads_as_docker_compose_v2_would():
    services = compose()["services"]
    plain = composecheck(str(COMPOSE))
    assert plain.returncode == 0, plain.stderr
    assert set(plain.stdout.split()) == {n for n, s in services.items() if "profiles" not in s}
    monitoring = composecheck("--profile", "monitoring", str(COMPOSE))
    assert monitoring.returncode == 0, monitoring.stderr
    assert set(monitoring.stdout.split()) == set(services)


def test_the_compose_check_refuses_what_docker_refuses(tmp_path):
    """A misspelt key, a dependency on a service that does not exist: Docker refuses both."""
    broken = compose()
    broken["services"]["worker"]["stop_grace"] = "45s"
    (tmp_path / "a.yml").write_text(yaml.safe_dump(broken))
    r = composecheck(str(tmp_path / "a.yml"), cwd=tmp_path)
    assert r.returncode == 1 and "stop_grace" in r.stderr, r.stderr
    broken = compose()
    broken["services"]["grafana"]["depends_on"] = {"prometheus2": {"condition": "service_started"}}
    (tmp_path / "b.yml").write_text(yaml.safe_dump(broken))
    r = composecheck("--profile", "monitoring", str(tmp_path / "b.yml"), cwd=tmp_path)
    assert r.returncode == 1 and "prometheus2" in r.stderr, r.stderr


def _mounts(svc) -> dict[str, str]:
    """container path -> host path (relative to the repository) of the bind mounts."""
    out = {}
    for v in svc.get("volumes", []):
        src, dst, *_ = v.split(":")
        if src.startswith("./"):
            out[dst] = src[2:]
    return out


def test_monitoring_profile_is_complete():
    services = compose()["services"]
    prom, graf = services["prometheus"], services["grafana"]
    assert prom["profiles"] == graf["profiles"] == ["monitoring"]
    for name in ("prometheus", "grafana"):
        for dst, src in _mounts(services[name]).items():
            assert (ROOT / src).exists(), f"{name} mounts {src}, which is not in the repository"
    # Prometheus scrapes the worker's metrics port (every replica) and Triton's
    prom_cfg = yaml.safe_load((ROOT / _mounts(prom)["/etc/prometheus/prometheus.yml"]).read_text())
    jobs = {j["job_name"]: j for j in prom_cfg["scrape_configs"]}
    worker_port = int(services["worker"]["environment"]["DSW_METRICS_PORT"])
    (sd,) = jobs["dali-worker"]["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["port"] == worker_port and sd["type"] == "A"
    # Triton's metrics port inside the compose network (its ports are not published)
    assert jobs["triton"]["static_configs"][0]["targets"] == ["triton:8002"]
    # Grafana: the provisioned datasource points at the prometheus service, the dashboards
    # provider at the mounted folder, the home dashboard is a file in it
    mounts = _mounts(graf)
    prov = ROOT / mounts["/etc/grafana/provisioning"]
    (ds,) = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert ds["url"] == "http://prometheus:9090"
    assert any(p.endswith(":9090") for p in prom["ports"])
    (provider,) = yaml.safe_load((prov / "dashboards" / "dali-stream-worker.yml").read_text())["providers"]
    folder = provider["options"]["path"]
    assert mounts[folder] == "deploy/grafana/dashboards"
    home = graf["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(folder + "/") and (ROOT / mounts[folder] / Path(home).name).is_file()


def test_prometheus_configuration_is_valid(tmp_path):
    cfg = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    shutil.copy(cfg, tmp_path / "prometheus.yml")
    r = run([_promtool(), "check", "config", str(tmp_path / "prometheus.yml")])
    assert r.returncode == 0, r.stdout + r.stderr
