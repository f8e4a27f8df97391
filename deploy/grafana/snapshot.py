"""A picture of the dashboard from real metrics, without Grafana (none is installable here).

``render`` draws every panel of deploy/grafana/dashboards/dali-stream-worker.json in the
dashboard's own grid, each from the panel's own PromQL, queried from a Prometheus over a time
range (stat panels: the last value; time series: lines; the heatmap: bucket increases). It is
not Grafana's rendering, but the same queries on the same data.

``demo`` makes the data first, on this machine: a development broker, a real Triton (the test
suite's pytriton install and mean-classifier model), the worker with two routes (images ->
classify_reduce, frames -> classify -> Triton) and its metrics port, Prometheus (Debian's
``prometheus``) scraping it every 2 s, then load in phases: steady, a backlog burst, undecodable
records, Triton stopped for a while; then ``render``.

    .venv/bin/pip install matplotlib
    .venv/bin/python deploy/grafana/snapshot.py demo --out docs/dashboard.png
    .venv/bin/python deploy/grafana/snapshot.py render --prometheus http://127.0.0.1:9090 \\
        --start 2026-12-02T19:00:00Z --end 2026-12-02T19:10:00Z --out dash.png
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "dali-stream-worker.json"


# ---- render ----------------------------------------------------------------------------------

def query_range(prom: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def concrete(expr: str, rate_interval: str) -> str:
    return expr.replace("$__rate_interval", rate_interval).replace('"$pipeline"', '".*"')


def legend(fmt: str, labels: dict) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt or "") or \
        ",".join(f"{k}={v}" for k, v in labels.items())


def fmt_value(v: float, unit: str | None) -> str:
    if v != v:  # NaN
        return "n/a"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "percentunit":
        return f"{v * 100:.0f}%"
    if unit == "bytes":
        return f"{v / 2**30:.1f} GiB"
    if unit in ("ops", "reqps"):
        return f"{v:.1f}/s"
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2f}"


def render(prom: str, start: float, end: float, out: Path, step: float = 5.0,
           rate_interval: str = "20s", title_note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    dash = json.loads(DASHBOARD.read_text())
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    unit_px, width_px = 34, 1800
    fig = plt.figure(figsize=(width_px / 100, (rows * unit_px + 60) / 100), dpi=100, facecolor="#111217")
    fig.suptitle(f"{dash['title']}  ·  {title_note}", color="#d8d9da", x=0.01, ha="left", fontsize=13)
    top = 1 - 50 / (rows * unit_px + 60)

    def box(g, title_room=0.018):
        x0 = g["x"] / 24
        w = g["w"] / 24
        y1 = top - g["y"] / rows * top
        h = g["h"] / rows * top
        left = 0.004 if title_room < 0.01 else 0.032  # room for the y tick labels
        return [x0 + left, y1 - h + 0.004, w - left - 0.004, max(0.001, h - title_room)]

    for p in dash["panels"]:
        g = p["gridPos"]
        if p["type"] == "row":
            ax = fig.add_axes(box({**g, "h": 1}, title_room=0.004))
            ax.axis("off")
            ax.text(0, 0.2, p["title"], color="#d8d9da", fontsize=12, fontweight="bold")
            continue
        ax = fig.add_axes(box(g))
        ax.set_facecolor("#181b1f")
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.tick_params(colors="#9fa7b3", labelsize=7)
        ax.set_title(p["title"], color="#d8d9da", fontsize=9, loc="left")
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        series = []
        for t in p["targets"]:
            for r in query_range(prom, concrete(t["expr"], rate_interval), start, end, step):
                ts = np.array([float(v[0]) for v in r["values"]])
                ys = np.array([float(v[1]) for v in r["values"]])
                series.append((legend(t.get("legendFormat", ""), r["metric"]), ts, ys, r["metric"]))
        if not series:
            ax.text(0.5, 0.5, "No data", color="#9fa7b3", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            _, ts, ys, _ = series[0]
            ax.plot(ts, ys, color="#73bf69", alpha=0.35, linewidth=1)
            ax.fill_between(ts, ys, color="#73bf69", alpha=0.12)
            last = ys[~np.isnan(ys)][-1] if np.any(~np.isnan(ys)) else float("nan")
            extra = "" if len(series) == 1 else "  of " + fmt_value(series[1][2][-1], unit)
            ax.text(0.5, 0.45, fmt_value(last, unit) + extra, color="#73bf69", fontsize=20,
                    fontweight="bold", ha="center", va="center", transform=ax.transAxes)
            continue
        if p["type"] == "heatmap":
            buckets = sorted(((float(m["le"]) if m["le"] != "+Inf" else float("inf")), ts, ys)
                             for _, ts, ys, m in series)
            les = [b[0] for b in buckets]
            cum = np.nan_to_num(np.array([b[2] for b in buckets]))
            counts = np.diff(np.vstack([np.zeros(cum.shape[1]), cum]), axis=0).clip(min=0)
            ts = buckets[0][1]
            keep = [i for i, le in enumerate(les) if np.isfinite(le)]
            grid = counts[keep]
            ax.imshow(np.ma.masked_equal(np.sqrt(grid), 0), aspect="auto", origin="lower", cmap="inferno",
                      extent=[mdates.date2num(dt.datetime.fromtimestamp(ts[0], dt.timezone.utc)),
                              mdates.date2num(dt.datetime.fromtimestamp(ts[-1], dt.timezone.utc)),
                              0, len(keep)], interpolation="nearest")
            ax.set_yticks(np.arange(len(keep)) + 1)  # a row counts the results up to its le
            ax.set_yticklabels([fmt_value(les[i], "s") for i in keep], fontsize=6)
            ax.set_ylabel("latency (upper bound)", color="#9fa7b3", fontsize=7)
            ax.xaxis_date()
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=dt.timezone.utc))
            continue
        for name, ts, ys, _ in series:
            ax.plot([dt.datetime.fromtimestamp(t, dt.timezone.utc) for t in ts], ys, linewidth=1.2, label=name)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=dt.timezone.utc))
        ax.set_ylim(bottom=0)
        if unit == "percentunit":
            ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _, u=unit: fmt_value(v, u)))
        ax.grid(color="#2c3235", linewidth=0.5)
        ax.legend(fontsize=6, loc="upper left", facecolor="#181b1f", edgecolor="#2c3235",
                  labelcolor="#d8d9da", ncol=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, facecolor=fig.get_facecolor())
    print(f"wrote {out}")


# ---- demo ------------------------------------------------------------------------------------

class Procs:
    """Processes this script started, stopped by their own pid at the end."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd, **kw) -> subprocess.Popen:
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=40):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def wait_http(url: str, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            urllib.request.urlopen(url, timeout=3).read()
            return
        except Exception:  # noqa: BLE001
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def demo(out: Path, minutes: float, keep: Path | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.triton_server import CLASSIFIER, TritonProcess, ensure_triton
    from worker.devkafka import KafkaBroker, free_port

    work = keep or Path(tempfile.mkdtemp(prefix="dsw-dashboard-"))
    work.mkdir(parents=True, exist_ok=True)
    procs = Procs()
    dali_worker = [sys.executable, "-m", "worker"]
    broker = KafkaBroker(heap="768m").start()
    triton = TritonProcess(ensure_triton(), [CLASSIFIER], work / "triton")
    try:
        triton.start()
        bootstrap = broker.bootstrap_servers
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        import asyncio

        async def topics():
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            await admin.create_topics([NewTopic("images", 4, 1), NewTopic("frames", 2, 1),
                                       NewTopic("results", 4, 1), NewTopic("predictions", 2, 1),
                                       NewTopic("dali.dead-letters", 1, 1)])
            await admin.close()
        asyncio.run(topics())

        metrics_port, prom_port = free_port(), free_port()
        cfg = work / "worker.toml"
        cfg.write_text(f"""
num_threads = 1
max_inflight_batches = 2
commit_interval_ms = 500

[[routes]]
input = ["images"]
pipeline = "classify_reduce"
output = "results"
max_batch_size = 32
max_delay_ms = 50

[[routes]]
input = ["frames"]
pipeline = "classify"
output = "predictions"
max_batch_size = 8
max_delay_ms = 50

[routes.model]
url = "{triton.grpc_url}"
name = "{CLASSIFIER.name}"
inputs = {{ DALI_OUTPUT_0 = "image" }}
outputs = ["logits"]
top_k = 3
max_retry_s = 120
backoff_max_s = 2
""")
        worker = procs.start([*dali_worker, "run", "--config", str(cfg), "--procs", "2", "--device", "cpu",
                              "--metrics-port", str(metrics_port)], env=env,
                             stdout=open(work / "worker.log", "w"), stderr=subprocess.STDOUT)
        (work / "prometheus.yml").write_text(
            f"global: {{scrape_interval: 2s}}\nscrape_configs:\n  - job_name: dali-worker\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n")
        procs.start(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                     f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                    stdout=open(work / "prometheus.log", "w"), stderr=subprocess.STDOUT)
        prom = f"http://127.0.0.1:{prom_port}"
        wait_http(f"{prom}/-/ready")
        wait_http(f"http://127.0.0.1:{metrics_port}/readyz", timeout=240)
        start = time.time()
        print(f"worker ready; load for {minutes:g} min (work dir {work})", flush=True)

        corpus = ROOT / "tests" / "data"
        bad = work / "bad"
        bad.mkdir()
        for i in range(12):
            (bad / f"junk{i}.jpg").write_bytes(os.urandom(3000))  # no image header: unreadable_header
        good = (corpus / "chelsea.jpg").read_bytes()
        for i in range(8):  # a JPEG cut short: the header reads, DALI fails to decode
            (bad / f"cut{i}.jpg").write_bytes(good[: len(good) // 3])

        def produce(path, topic, repeat=1, rate=0.0, wait=True):
            cmd = [*dali_worker, "produce", str(path), "--topic", topic, "--repeat", str(repeat)]
            if rate:
                cmd += ["--rate", str(rate)]
            p = procs.start(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if wait:
                p.wait()
            return p

        phase = minutes * 60 / 6
        steady = [produce(corpus, "images", repeat=10_000, rate=25, wait=False),
                  produce(corpus, "frames", repeat=10_000, rate=4, wait=False)]
        time.sleep(phase)
        produce(corpus, "images", repeat=300)            # a backlog of 1500 at once: lag, then catch-up
        time.sleep(phase)
        produce(bad, "images", repeat=2)                 # dead letters
        time.sleep(phase / 2)
        triton.stop()                                    # the model away: retries, frames lag
        time.sleep(phase)
        triton.start()
        time.sleep(phase * 1.5)
        for p in steady:
            procs.stop(p)
        time.sleep(max(10.0, phase / 2))
        end = time.time()
        # with --keep: `prometheus --storage.tsdb.path=DIR/tsdb` and `render` draw it again
        (work / "range.json").write_text(json.dumps({"start": start, "end": end}))
        render(prom, start, end, out, step=4, rate_interval="20s",
               title_note=f"a {int((end - start) / 60)} min run on a 2-core VM, CPU only "
                          f"({dt.datetime.fromtimestamp(start, dt.timezone.utc):%Y-%m-%d %H:%M} UTC)")
        procs.stop(worker)
        print((work / "worker.log").read_text()[-1500:])
    finally:
        procs.stop_all()
        triton.stop(kill=True)
        broker.stop()
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--prometheus", required=True)
    r.add_argument("--start", required=True, help="ISO time or epoch seconds")
    r.add_argument("--end", required=True)
    r.add_argument("--step", type=float, default=5)
    r.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("demo")
    d.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    d.add_argument("--minutes", type=float, default=6)
    d.add_argument("--keep", type=Path, help="keep the work folder (Prometheus' data, logs) here")
    a = ap.parse_args(argv)
    if a.cmd == "render":
        def when(s):
            try:
                return float(s)
            except ValueError:
                return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        render(a.prometheus, when(a.start), when(a.end), a.out, step=a.step)
    else:
        demo(a.out, a.minutes, a.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
