"""Issue 21: the isolated runner (DALI in a child process, shared memory) against the in-process
runner, and the crash it exists for.

``python -m bench.isolation [--pipelines classify_reduce,classify] [--batch-sizes 32,64]``
    images/s and CPU time per image (this process, plus the child's from /proc) of
    ``PipelineRunner`` and ``IsolatedRunner`` on the photo corpus (``bench/corpus.py``), fed
    from memory as ``bench.dali_alone`` does; the two take turns batch by batch, ``--rounds``
    times over ``--images`` (``ratio_isolated_over_inprocess``: images/s over images/s).
``--mix RUNS``
    the heavy corrupt mix of the issue (600 corrupt JPEGs that pass the screen, 100 good, batch
    64, ``tests/corrupt_images.py``) through ``IsolatedRunner``: time, crashes, good images failed.
``--reproduce RUNS``
    the same mix through the in-process runner, as a worker with its poison journal would run
    it: each process runs batches until DALI kills it; the next process runs the messages that
    were in DALI alone first, and dead-letters one that crashed it alone (``pipeline_error``).
    Counts crashes, where they happened (a batch of several, or one sample alone) and good
    images lost. ``--original-runner`` disables the runner's confirmation re-run of failures
    (the runner before issue 21).

Results: ``bench/results/isolation-<device>-<host>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common, corpus

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "pipelines"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_pid(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _load(name: str, batch: int, threads: int):
    from worker.repository.load import load_model

    return load_model(REPO, name, device="cpu", num_threads=threads, max_batch_size=batch)


class _Meter:
    """Wall time and CPU time (this process, plus the runner's child from /proc) of one runner."""

    def __init__(self, runner, name: str):
        self.runner, self.name = runner, name
        self.pid = getattr(runner, "pid", None)
        self.batch_s: list[float] = []
        self.cpu = 0.0
        self.images = 0

    def run(self, batch) -> None:
        wall0, cpu0, child0 = time.perf_counter(), _cpu_self(), _cpu_pid(self.pid)
        results = self.runner.run(batch)
        self.batch_s.append(time.perf_counter() - wall0)
        self.cpu += _cpu_self() - cpu0 + _cpu_pid(self.pid) - child0
        self.images += len(results)
        if not all(r.ok for r in results):
            raise SystemExit(f"{self.name}: {sum(not r.ok for r in results)} samples failed: "
                             f"{next(r.error for r in results if not r.ok)}")
        if getattr(self.runner, "pid", None) != self.pid:
            raise SystemExit(f"{self.name}: the child changed during a clean run")

    def summary(self) -> dict:
        wall = sum(self.batch_s)
        return {"images": self.images, "seconds": round(wall, 3),
                "images_per_s": round(self.images / wall, 1),
                "cpu_ms_per_image": round(self.cpu / self.images * 1000, 3),
                "batch_latency": common.latency_summary(self.batch_s)}


def bench_pair(data: list[bytes], name: str, batch: int, images: int, rounds: int, threads: int) -> dict:
    """The two runners batch by batch in turn (which goes first alternates), so that the other
    loads of a shared machine fall on both alike."""
    from worker.pipeline.isolation import IsolatedRunner
    from worker.pipeline.runner import PipelineRunner

    inproc = PipelineRunner(_load(name, batch, threads))
    isolated = IsolatedRunner(_load(name, batch, threads))
    batches = [[{"image": data[(s + j) % len(data)]} for j in range(batch)]
               for s in range(0, images, batch)]
    try:
        for r in (inproc, isolated):                 # warm-up: allocations, thread pools, regions
            for b in batches[:3]:
                r.run(b)
        meters = {"in_process": _Meter(inproc, "in-process"), "isolated": _Meter(isolated, "isolated")}
        k = 0
        for _ in range(rounds):
            for b in batches:
                order = ("in_process", "isolated") if k % 2 == 0 else ("isolated", "in_process")
                for key in order:
                    meters[key].run(b)
                k += 1
    finally:
        isolated.close()
        inproc.close()
    pairs = [c / i for i, c in zip(meters["in_process"].batch_s, meters["isolated"].batch_s)]
    ipc_share = 1 - isolated.child_run_seconds / isolated.request_seconds
    out = {key: m.summary() for key, m in meters.items()}
    return {"pipeline": name, "batch_size": batch, "images_each": out["in_process"]["images"],
            "threads": threads, **out,
            "ratio_isolated_over_inprocess": round(out["isolated"]["images_per_s"] /
                                                   out["in_process"]["images_per_s"], 3),
            "median_batch_time_ratio_isolated_over_inprocess": round(statistics.median(pairs), 3),
            "isolated_time_outside_the_childs_runner": round(ipc_share, 4),
            "cpu_ratio_isolated_over_inprocess": round(out["isolated"]["cpu_ms_per_image"] /
                                                       out["in_process"]["cpu_ms_per_image"], 3)}


# -- the corrupt mix -----------------------------------------------------------------------
def _mix(seed: int, n_bad: int = 600, n_good: int = 100):
    sys.path.insert(0, str(ROOT))
    from tests import corrupt_images

    return corrupt_images.mixed(n_bad, n_good, seed)


def mix_isolated(seed: int, threads: int) -> dict:
    from worker.pipeline.isolation import IsolatedRunner

    items = _mix(seed)
    runner = IsolatedRunner(_load("classify", 64, threads))
    t0 = time.perf_counter()
    try:
        results = []
        for s in range(0, len(items), 64):           # as the worker: one lane.run per batch
            results += runner.run([{"image": b} for _, b in items[s:s + 64]])
    finally:
        runner.close()
    good = [r for (label, _), r in zip(items, results) if label.startswith("good")]
    failed = [r for r in results if not r.ok]
    return {"seed": seed, "seconds": round(time.perf_counter() - t0, 1), "crashes": runner.crashes,
            "good": len(good), "good_failed": sum(not r.ok for r in good), "failed": len(failed),
            "failed_with_console_text": sum(_has_reason(r.error) for r in failed)}


def _has_reason(error: str) -> bool:
    """What DALI printed made it into the error: '(console: ...)', or libjpeg's message after
    DALI's bare 'Failed to decode sample #0 :'."""
    return "(console:" in error or ("Failed to decode sample #0:" in error and not error.rstrip().endswith(":"))


def _repro_child(seed: int, state_path: str, original: bool, threads: int) -> int:
    """One worker process of --reproduce: the suspects alone first, then batches, journaling."""
    from worker.pipeline.runner import PipelineRunner

    items = _mix(seed)
    by_label = dict(items)
    state = json.loads(Path(state_path).read_text())
    runner = PipelineRunner(_load("classify", 64, threads))
    if original:
        runner._confirm = lambda run, good, bad: bad
    inner = runner._run_batch
    last_run = state_path + ".run"

    def logged(batch):
        with open(last_run, "w") as f:
            f.write(str(len(batch)))
        return inner(batch)
    runner._run_batch = logged
    out = open(state_path + ".results", "a")

    def run(labels: list[str], alone: bool) -> None:
        Path(state_path + ".journal").write_text(json.dumps({"labels": labels, "alone": alone}))
        results = runner.run([{"image": by_label[lb]} for lb in labels])
        Path(state_path + ".journal").unlink()
        for lb, r in zip(labels, results):
            out.write(json.dumps([lb, r.ok, r.error]) + "\n")
        out.flush()

    while state["alone"]:
        lb = state["alone"].pop(0)
        Path(state_path).write_text(json.dumps(state))     # the rest, should this one crash
        run([lb], True)
    labels = [lb for lb, _ in items]
    for s in range(state["next"], len(items), 64):
        state["next"] = s + 64
        Path(state_path).write_text(json.dumps({**state, "alone": []}))
        run(labels[s:s + 64], False)
    return 0


def reproduce(seed: int, original: bool, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        state_path = os.path.join(tmp, "state.json")
        counts: dict[str, int] = {}
        dead: list[str] = []
        crashes = []
        state = {"next": 0, "alone": []}
        t0 = time.perf_counter()
        while True:
            Path(state_path).write_text(json.dumps(state))
            cmd = [sys.executable, "-m", "bench.isolation", "--_repro-child", str(seed), state_path,
                   str(int(original)), str(threads)]
            p = subprocess.run(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
            state = json.loads(Path(state_path).read_text())
            journal = Path(state_path + ".journal")
            if p.returncode == 0 or not journal.exists():
                if p.returncode != 0:
                    raise SystemExit(f"--reproduce child failed with status {p.returncode} outside DALI")
                break
            j = json.loads(journal.read_text())
            journal.unlink()
            run_size = int(Path(state_path + ".run").read_text())
            crashes.append({"signal": -p.returncode, "in_dali": len(j["labels"]), "alone": j["alone"],
                            "dali_run_size": run_size,
                            "good_in_dali": sum(lb.startswith("good") for lb in j["labels"])})
            alone = []
            for lb in j["labels"]:
                counts[lb] = counts.get(lb, 0) + 1
                if counts[lb] >= 2 and j["alone"]:
                    dead.append(lb)                   # the poison journal's quarantine
                else:
                    alone.append(lb)
            state["alone"] = alone + state["alone"]
        results = {}
        for line in Path(state_path + ".results").read_text().splitlines():
            lb, ok, err = json.loads(line)
            results[lb] = (ok, err)
    good_failed = [lb for lb, (ok, _) in results.items() if lb.startswith("good") and not ok]
    return {"seed": seed, "runner": "original" if original else "current",
            "seconds": round(time.perf_counter() - t0, 1), "crashes": len(crashes),
            "crashes_in_a_batch_run": sum(c["dali_run_size"] > 1 for c in crashes),
            "crashes_in_a_single_run": sum(c["dali_run_size"] == 1 for c in crashes),
            "crashes_while_suspects_ran_alone": sum(c["alone"] for c in crashes),
            "good_failed_without_crash": len(good_failed),
            "good_dead_lettered_after_crashes": sum(lb.startswith("good") for lb in dead),
            "dead_lettered_after_crashes": len(dead), "crash_details": crashes}


def summary(res: dict) -> dict:
    """The figures to quote: ratios per pipeline and batch size, crash and loss totals."""
    out: dict = {}
    if res.get("throughput"):
        out["ratio_isolated_over_inprocess"] = {f"{r['pipeline']}/b{r['batch_size']}": r["ratio_isolated_over_inprocess"]
                                                for r in res["throughput"]}
        out["ipc_share_of_isolated_time"] = {f"{r['pipeline']}/b{r['batch_size']}": r["isolated_time_outside_the_childs_runner"]
                                             for r in res["throughput"]}
    if res.get("mix_isolated"):
        m = res["mix_isolated"]
        out["mix_isolated"] = {"runs": len(m), "crashes": sum(r["crashes"] for r in m),
                               "good_failed": sum(r["good_failed"] for r in m),
                               "failed": sum(r["failed"] for r in m),
                               "failed_with_console_text": sum(r["failed_with_console_text"] for r in m)}
    if res.get("reproduce_in_process"):
        rp = res["reproduce_in_process"]
        keys = ("crashes", "crashes_in_a_batch_run", "crashes_in_a_single_run",
                "crashes_while_suspects_ran_alone", "good_failed_without_crash",
                "good_dead_lettered_after_crashes")
        out["reproduce_in_process"] = {"runs": len(rp), "runs_with_a_crash": sum(r["crashes"] > 0 for r in rp),
                                       "runs_losing_a_good_image": sum(r["good_failed_without_crash"] +
                                                                       r["good_dead_lettered_after_crashes"] > 0 for r in rp),
                                       **{k: sum(r[k] for r in rp) for k in keys}}
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_repro-child"]:
        return _repro_child(int(argv[1]), argv[2], argv[3] == "1", int(argv[4]))
    ap = argparse.ArgumentParser(prog="python -m bench.isolation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipelines", default="classify_reduce,classify")
    ap.add_argument("--batch-sizes", default="32,64")
    ap.add_argument("--images", type=int, default=1280, help="images per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--mix", type=int, default=0, metavar="RUNS")
    ap.add_argument("--reproduce", type=int, default=0, metavar="RUNS")
    ap.add_argument("--original-runner", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--corpus", default="bench/corpus")
    ap.add_argument("--count", type=int, default=300, help="corpus files")
    args = ap.parse_args(argv)
    res: dict = {"device": "cpu"}
    if not args.no_throughput:
        data = corpus.load(args.corpus, args.count)
        res["throughput"] = []
        for name in args.pipelines.split(","):
            for b in (int(x) for x in args.batch_sizes.split(",")):
                row = bench_pair(data, name, b, args.images, args.rounds, args.threads)
                res["throughput"].append(row)
                i, c = row["in_process"], row["isolated"]
                print(f"{name:16s} batch {b:3d}: in-process {i['images_per_s']:7.1f} img/s "
                      f"{i['cpu_ms_per_image']:.2f} ms CPU/img | isolated {c['images_per_s']:7.1f} img/s "
                      f"{c['cpu_ms_per_image']:.2f} ms CPU/img | ratio {row['ratio_isolated_over_inprocess']:.3f} "
                      f"(median per batch {1 / row['median_batch_time_ratio_isolated_over_inprocess']:.3f}; "
                      f"IPC {row['isolated_time_outside_the_childs_runner'] * 100:.1f}% of the isolated time)",
                      flush=True)
    if args.mix:
        res["mix_isolated"] = [mix_isolated(seed, args.threads) for seed in range(1, args.mix + 1)]
        for r in res["mix_isolated"]:
            print("mix, isolated:", json.dumps(r), flush=True)
    if args.reproduce:
        res["reproduce_in_process"] = []
        for seed in range(1, args.reproduce + 1):
            r = reproduce(seed, args.original_runner, args.threads)
            res["reproduce_in_process"].append(r)
            print("reproduce, in-process:", json.dumps({k: v for k, v in r.items() if k != "crash_details"}), flush=True)
    res["peak_rss_mb"] = common.peak_rss_mb()
    res["summary"] = summary(res)
    print("wrote", common.write_result("isolation-cpu", res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
