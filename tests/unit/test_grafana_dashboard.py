"""The Grafana dashboard (deploy/grafana/dashboards/dali-stream-worker.json), without a Grafana
(none is packaged where we can install from):

* Grafana's schema: the dashboard is decoded with ``grafana-foundation-sdk`` (the models Grafana
  generates from its own dashboard, panel and Prometheus query schemas, Grafana 11.6) and encoded
  again; a field the schema does not know is dropped on the way, so the round trip must give
  back every field and value;
* every query parses as PromQL with Prometheus' own parser (``promtool check rules``);
* every metric it reads is one the worker exports (worker/metrics.py, worker/health.py);
* it shows what operators asked for, on a grid without overlaps, from the datasource that
  compose provisions.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "dali-stream-worker.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


@pytest.fixture(scope="module")
def dash() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dash) -> list[dict]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def queries(dash) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dash) for t in p.get("targets", [])]


def concrete(expr: str) -> str:
    """A query as Grafana sends it: variables substituted."""
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
            .replace('"$pipeline"', '".*"'))


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return [f"{path}: became {type(b).__name__}"]
        out = [f"{path}/{k}: not in Grafana's schema" for k in a if k not in b]
        return out + [d for k in a if k in b for d in _diff(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return [f"{path}: list changed"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} became {b!r}"]


def test_dashboard_matches_grafanas_schema(dash):
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import dashboard as gd
    from grafana_foundation_sdk.models import prometheus

    register_default_plugins()  # panel options and Prometheus queries get their own models
    model = gd.Dashboard.from_json(dash)
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    assert _diff(dash, again) == []
    for p in model.panels:
        for t in getattr(p, "targets", None) or []:
            assert isinstance(t, prometheus.Dataquery), f"{p.title}: query not decoded as Prometheus'"


def test_the_schema_check_catches_a_stray_field(dash):
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import dashboard as gd

    register_default_plugins()
    bad = json.loads(json.dumps(dash))
    bad["panels"][1]["gridpos"] = bad["panels"][1].pop("gridPos")
    bad["panels"][1]["targets"][0]["legend"] = "x"
    again = json.loads(json.dumps(gd.Dashboard.from_json(bad), cls=JSONEncoder))
    problems = _diff(bad, again)
    assert any("gridpos" in p for p in problems) and any("/legend:" in p for p in problems)


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = "promtool is not installed (Debian: apt-get install prometheus, as .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def test_every_query_is_valid_promql(dash, tmp_path):
    """Prometheus' parser, through promtool: each query becomes the expression of a recording
    rule, which promtool parses and type-checks."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}", "expr": concrete(expr)}
        for i, (_title, expr) in enumerate(queries(dash))]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    r = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(queries(dash))} rules found" in r.stdout


def exported_metrics() -> set[str]:
    """Every metric family the worker's /metrics can show, read from the code that makes them."""
    names = set()
    for rel in ("worker/metrics.py", "worker/health.py"):
        src = (ROOT / rel).read_text()
        for kind, name in re.findall(r'(Counter|Histogram|Gauge|GaugeMetricFamily)\(f"\{(?:p|PREFIX|metrics\.PREFIX)\}_(\w+)"', src):
            base = f"dali_worker_{name}"
            if kind == "Counter":
                names.add(f"{base}_total")
            elif kind == "Histogram":
                names.update({f"{base}_bucket", f"{base}_sum", f"{base}_count"})
            else:
                names.add(base)
    return names


def test_every_metric_queried_is_exported(dash):
    exported = exported_metrics()
    assert {"dali_worker_messages_in_total", "dali_worker_consumer_lag", "dali_worker_ready",
            "dali_worker_gpu_utilization_ratio", "dali_worker_end_to_end_seconds_bucket"} <= exported
    used = {m for _t, e in queries(dash) for m in re.findall(r"\bdali_worker_\w+", e)}
    var_queries = [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    used |= {m for q in var_queries for m in re.findall(r"\bdali_worker_\w+", q)}
    assert used - exported == set(), "queried but never exported"
    # and the dashboard leaves none of the worker's own families out
    families = {re.sub(r"_(bucket|sum|count)$", "", m) for m in exported}
    shown = {re.sub(r"_(bucket|sum|count)$", "", m) for m in used}
    assert families - shown <= {"dali_worker_repository_reloads_total",
                                "dali_worker_repository_reload_failures_total"}, families - shown


def test_it_shows_what_operators_asked_for(dash):
    titles = " | ".join(p["title"].lower() for p in panels(dash))
    for what in ("throughput per pipeline", "batch fill", "dali time", "end-to-end latency",
                 "consumer lag", "dead letters by reason", "model requests and retries", "gpu utilization"):
        assert what in titles, what
    heatmaps = [p for p in panels(dash) if p["type"] == "heatmap"]
    assert heatmaps and all(t.get("format") == "heatmap" and "_bucket" in t["expr"]
                            for p in heatmaps for t in p["targets"])


def test_layout_and_ids(dash):
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))


def test_datasource_is_the_provisioned_one_by_default(dash):
    (ds,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    (var,) = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
    assert var["query"] == ds["type"] == "prometheus"
    assert var["current"]["value"] == ds["uid"]
    ref = {"type": "prometheus", "uid": "${%s}" % var["name"]}
    for p in panels(dash):
        assert p["datasource"] == ref, p["title"]
        assert all(t["datasource"] == ref for t in p["targets"]), p["title"]
