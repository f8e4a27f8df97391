"""The GPU benchmark (issue 10): DALI alone vs the worker end to end, K = 1, 2, 4, 8 processes.

``python -m bench.gpu [--device gpu|cpu] [--procs 1,2,4,8] [--batch-size 128] [--bulk N] [--quick]``

In one run, on one corpus, at one batch size:

(a) DALI alone: ``classify_reduce`` loaded and run by the worker's own code
    (``bench.dali_alone``), fed from memory, one process with every core as DALI threads; also
    ``classify`` with outputs cast to float16 and copied to host, the reference for (c);
(b) the worker end to end through a loopback broker (produce, consume, pipeline, publish,
    commit) with ``classify_reduce`` (tiny outputs: the broker's bandwidth is not what is
    measured), for each K: ``python -m worker run --procs K`` (``--device gpu``: K processes
    per visible GPU, each ``cores / K`` DALI threads);
(c) the same with ``classify`` and the route's ``output_dtype = "float16"`` (301 KB per
    result: this one does measure the broker).

Each case reports images/s (first to last result, and ``steady``: without the first and last
10% of results, i.e. without group rebalances as processes join), p50/p99 latency at half
that rate, and GPU utilisation over the measured span (``nvidia-smi`` or NVML; none on CPU).
The summary has (b)/(a) per K and the best. (b) and (c) read backlogs produced once into
shared topics (each case is a new consumer group); each case's own topics are deleted after it.

The broker: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else ``worker.devkafka.KafkaBroker`` (on the GPU
host ``. /tmp/dsw/env.sh`` sets ``KAFKA_LIBS`` and ``JAVA_HOME`` for it). How to run it on the
GPU host: ``bench/GPU.md``. Writes ``bench/results/gpu-<device>-<host>.json`` (with ``--cases``
a subset: ``gpu-<device>-<cases>-<host>.json``).
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid

from bench import common, corpus, dali_alone, e2e, kafka_io

REDUCE, FULL, F16 = "classify_reduce", "classify", "float16"

# FIELD-NOTES, H100 80 GB, 16 cores: DALI alone from memory, one process, 16 threads (img/s by
# batch size), and a naive K-process consume-and-run loop at batch 128 (no publish, no commits).
FIELD_NOTES_DALI_ALONE = {64: 14700, 128: 18400, 256: 21800}
FIELD_NOTES_NAIVE_LOOP = {1: 3500, 2: 5900, 4: 9500, 8: 13000}

# (bulk, paced) by (device, quick)
_COUNTS = {("gpu", False): (30000, 1000), ("gpu", True): (3000, 300),
           ("cpu", False): (600, 150), ("cpu", True): (300, 60)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="gpu", choices=("gpu", "cpu"))
    ap.add_argument("--procs", help="worker processes K to measure (default 1,2,4,8; --quick: 1,2)")
    ap.add_argument("--batch-size", type=int,
                    help="batch size of (a) and the routes' max_batch_size (default 128; --quick on cpu: 32)")
    ap.add_argument("--bulk", type=int, help="backlog records for (b), and images for (a) "
                    "(default gpu 30000, cpu 600; --quick: 3000 / 300)")
    ap.add_argument("--bulk-c", type=int, help="backlog records for (c) (default: bulk / 3 on gpu, bulk on cpu)")
    ap.add_argument("--paced", type=int, help="records produced at half the measured rate, for latency "
                    "(default gpu 1000, cpu 150; --quick: 300 / 60)")
    ap.add_argument("--partitions", type=int, help="partitions per topic (default max(4, 2 * max K))")
    ap.add_argument("--cases", default="a,b,c", help="which of a,b,c to run (default all)")
    ap.add_argument("--count", type=int, default=300, help="corpus files")
    ap.add_argument("--corpus", default="bench/corpus")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for a case's backlog results, and again for its paced ones")
    ap.add_argument("--quick", action="store_true", help="smoke test: small counts, K = 1, 2")
    args = ap.parse_args(argv)
    bulk, paced = _COUNTS[(args.device, args.quick)]
    args.procs = [int(k) for k in (args.procs or ("1,2" if args.quick else "1,2,4,8")).split(",") if k.strip()]
    if not args.procs or min(args.procs) < 1:
        ap.error("--procs: give K >= 1, comma-separated")
    if args.batch_size is None:
        args.batch_size = 32 if (args.quick and args.device == "cpu") else 128
    args.bulk = args.bulk or bulk
    args.bulk_c = args.bulk_c or (max(1, args.bulk // 3) if args.device == "gpu" else args.bulk)
    args.paced = args.paced if args.paced is not None else paced
    args.partitions = args.partitions or max(4, 2 * max(args.procs))
    args.cases = sorted({c.strip() for c in args.cases.split(",") if c.strip()})
    if not args.cases or set(args.cases) - {"a", "b", "c"}:
        ap.error("--cases: a comma-separated subset of a,b,c")
    if args.partitions < max(args.procs):
        ap.error(f"--partitions {args.partitions} < K {max(args.procs)}: some processes would sit idle")
    return args


# ---------------------------------------------------------------- GPU utilisation


class _NVML:
    """The few NVML calls we need, through ctypes on the driver's libnvidia-ml (no pynvml needed)."""

    class _Util(ctypes.Structure):
        _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]

    class _Mem(ctypes.Structure):
        _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]

    def __init__(self):
        self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        self._check(self.lib.nvmlInit_v2())
        n = ctypes.c_uint()
        self._check(self.lib.nvmlDeviceGetCount_v2(ctypes.byref(n)))
        self.handles = []
        for i in range(n.value):
            h = ctypes.c_void_p()
            self._check(self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(i), ctypes.byref(h)))
            self.handles.append(h)
        self.has_jpg = hasattr(self.lib, "nvmlDeviceGetJpgUtilization")

    @staticmethod
    def _check(rc: int) -> None:
        if rc != 0:
            raise OSError(f"NVML error {rc}")

    def sample(self) -> list[tuple[int, float | None, float | None, float | None]]:
        rows = []
        for i, h in enumerate(self.handles):
            u, m = self._Util(), self._Mem()
            util = float(u.gpu) if self.lib.nvmlDeviceGetUtilizationRates(h, ctypes.byref(u)) == 0 else None
            mem = m.used / 1048576.0 if self.lib.nvmlDeviceGetMemoryInfo(h, ctypes.byref(m)) == 0 else None
            jpg = None
            if self.has_jpg:
                j, period = ctypes.c_uint(), ctypes.c_uint()
                if self.lib.nvmlDeviceGetJpgUtilization(h, ctypes.byref(j), ctypes.byref(period)) == 0:
                    jpg = float(j.value)
            rows.append((i, util, mem, jpg))
        return rows

    def close(self) -> None:
        try:
            self.lib.nvmlShutdown()
        except Exception:
            pass


def parse_smi_line(line: str) -> tuple[int, float | None, float | None] | None:
    """``index, utilization.gpu, memory.used`` (csv, noheader, nounits) -> (index, util %, MiB);
    None for a line that is not one ("[N/A]" fields become None)."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 3:
        return None

    def num(s):
        try:
            return float(s)
        except ValueError:
            return None

    if not parts[0].isdigit():
        return None
    return int(parts[0]), num(parts[1]), num(parts[2])


class GpuSampler(threading.Thread):
    """Samples every GPU every 0.2 s: NVML through ctypes (also the NVJPG engines' utilisation,
    which ``utilization.gpu`` does not count), else ``nvidia-smi -lms 200``, else nothing (CPU
    hosts). ``samples``: (unix time, gpu index, util %, memory used MiB, jpeg util % or None)."""

    QUERY = "index,utilization.gpu,memory.used"

    def __init__(self, interval_s: float = 0.2):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.samples: list[tuple[float, int, float | None, float | None, float | None]] = []
        self._halt = threading.Event()
        self._nvml = self._smi = None
        self.backend = None
        try:
            self._nvml = _NVML()
            self.backend = "nvml"
        except Exception:
            smi = shutil.which("nvidia-smi")
            if smi:
                try:
                    self._smi = subprocess.Popen(
                        [smi, f"--query-gpu={self.QUERY}", "--format=csv,noheader,nounits",
                         "-lms", str(int(interval_s * 1000))],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    self.backend = "nvidia-smi"
                except OSError:
                    self._smi = None

    def run(self):
        if self._nvml is not None:
            while not self._halt.wait(self.interval_s):
                try:
                    now = time.time()
                    self.samples.extend((now, *row) for row in self._nvml.sample())
                except Exception:
                    pass
        elif self._smi is not None:
            for line in self._smi.stdout:
                row = parse_smi_line(line)
                if row is not None:
                    self.samples.append((time.time(), *row, None))
                if self._halt.is_set():
                    break

    def stop(self):
        self._halt.set()
        if self._smi is not None and self._smi.poll() is None:
            self._smi.terminate()
            try:
                self._smi.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._smi.kill()
        self.join(timeout=5)
        if self._nvml is not None:
            self._nvml.close()

    def window(self, t0: float | None, t1: float | None) -> dict | None:
        return window_stats(self.samples, t0, t1, self.backend)


def window_stats(samples, t0: float | None, t1: float | None, backend: str | None = "nvidia-smi") -> dict | None:
    """Mean/max GPU utilisation, peak memory and mean NVJPG utilisation of the samples taken in
    [t0, t1] (unix seconds), over all GPUs; None without a sampler or a window."""
    if backend is None or t0 is None or t1 is None:
        return None
    rows = [s for s in samples if t0 <= s[0] <= t1]
    util = [s[2] for s in rows if s[2] is not None]
    mem = [s[3] for s in rows if s[3] is not None]
    jpg = [s[4] for s in rows if s[4] is not None]
    avg = lambda xs: round(sum(xs) / len(xs), 1) if xs else None  # noqa: E731
    return {"backend": backend, "samples": len(rows), "util_mean_pct": avg(util),
            "util_max_pct": max(util) if util else None,
            "memory_used_max_mib": round(max(mem), 0) if mem else None, "jpeg_util_mean_pct": avg(jpg)}


# ---------------------------------------------------------------- the cases


def _ips(res: dict | None, key: str = "images_per_s") -> float | None:
    if not res or "error" in res:
        return None
    return (res.get("throughput") or {}).get(key)


def _ratio(num, den):
    return round(num / den, 3) if num and den else None


def run_a(data: list[bytes], args, sampler: GpuSampler, log) -> dict:
    """(a): classify_reduce, and classify cast to float16 (the reference for (c)), at the batch size."""
    out = {}
    images = max(args.bulk, 4 * args.batch_size, 300)
    for key, name, cast in (("reduce", REDUCE, None), ("classify_f16", FULL, F16)):
        try:
            row = dali_alone.bench_batch_size(data, name, args.batch_size, images, args.device, output_cast=cast)
            row.update(pipeline=name, output_cast=cast, gpu=sampler.window(*row["window_unix"]))
        except BaseException as exc:  # a DALI build error raises SystemExit from Runner
            if isinstance(exc, KeyboardInterrupt):
                raise
            row = {"pipeline": name, "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"}
        gc.collect()  # free this pipeline (and its GPU memory) before the next
        log(f"  (a) {name}{' -> ' + cast if cast else ''}, batch {args.batch_size}: "
            + (f"{row['images_per_s']} img/s, batch p50 {row['batch_latency']['p50_ms']} ms" if "error" not in row
               else "FAILED: " + row["error"].splitlines()[0]))
        out[key] = row
    return out


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    except Exception:
        pass  # disk space only
    finally:
        await admin.close()


async def run_e2e(bootstrap: str, data: list[bytes], args, sampler: GpuSampler, log,
                  on_case=lambda key, res: None) -> dict:
    """(b) and (c) for each K; ``on_case(key, result)`` after each case (the caller saves)."""
    tag = f"bench-gpu-{uuid.uuid4().hex[:6]}"
    plan = []  # (key, backlog topic, bulk, cases)
    if "b" in args.cases:
        plan.append(("b", f"{tag}-backlog-b", args.bulk,
                     [e2e.Case("worker", k, args.batch_size, REDUCE, args.device, args.partitions)
                      for k in args.procs]))
    if "c" in args.cases:
        plan.append(("c", f"{tag}-backlog-c", args.bulk_c,
                     [e2e.Case("worker", k, args.batch_size, FULL, args.device, args.partitions,
                               output_dtype=F16) for k in args.procs]))
    await kafka_io.create_topics(bootstrap, [p[1] for p in plan], args.partitions)
    for key, topic, bulk, _ in plan:
        t = time.monotonic()
        secs = await kafka_io.produce(bootstrap, topic, data, bulk)
        log(f"  backlog for ({key}): {bulk} records in {secs:.1f} s ({bulk / max(secs, 1e-9):.0f}/s), "
            f"{time.monotonic() - t:.1f} s")
    out = {}
    for key, topic, bulk, cases in plan:
        rows = []
        for case in cases:
            t = time.monotonic()
            try:
                res = await e2e.run_case(bootstrap, data, case, bulk=bulk, paced=args.paced,
                                         timeout_s=args.timeout, backlog=topic)
            except Exception as exc:
                res = {"name": case.name, "case": {"procs": case.procs},
                       "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"}
            tp = res.get("throughput") or {}
            if tp.get("start_ms"):
                res["gpu"] = sampler.window(tp["start_ms"] / 1000.0, tp["end_ms"] / 1000.0)
            await _delete_topics(bootstrap, res.get("topics") or [])
            res["wall_s"] = round(time.monotonic() - t, 1)
            ips = _ips(res)
            g = res.get("gpu") or {}
            log(f"  ({key}) {case.name}: " + (
                f"{ips} img/s (steady {tp.get('steady_images_per_s')}), p50 {res['latency']['p50_ms']} ms, "
                f"p99 {res['latency']['p99_ms']} ms, startup {res['startup_s']} s, GPU {g.get('util_mean_pct')}%"
                if ips else "FAILED: " + res.get("error", "no throughput").splitlines()[0]))
            rows.append(res)
            on_case(key, res)
        await _delete_topics(bootstrap, [topic])
        out[key] = rows
    return out


# ---------------------------------------------------------------- summary


def summarize(doc: dict) -> dict:
    """Throughput, latency and GPU utilisation per K, and (b)/(a), (c)/(a classify f16) per K
    and the best; pure function of the result document (keys of per-K maps are strings, as in JSON).

    The ratios use the steady rate (first and last 10% of results left out) when there is one:
    first-to-last counts every result of the first batches but not the time they took, which
    flatters by about N / (N - K * batch), and it includes K processes joining the group one by
    one, which does not; the first-to-last ratio is kept beside it (``ratio_over_a_full_span``)."""
    a = doc.get("a_dali_alone") or {}
    a_red = (a.get("reduce") or {}).get("images_per_s")
    a_f16 = (a.get("classify_f16") or {}).get("images_per_s")
    batch = (doc.get("settings") or {}).get("batch_size")

    def per_k(rows, ref):
        table = {}
        for r in rows or []:
            k = str((r.get("case") or {}).get("procs"))
            lat = r.get("latency") or {}
            steady = _ips(r, "steady_images_per_s")
            table[k] = {"images_per_s": steady or _ips(r), "full_span_images_per_s": _ips(r),
                        "steady_images_per_s": steady,
                        "ratio_over_a": _ratio(steady or _ips(r), ref),
                        "ratio_over_a_full_span": _ratio(_ips(r), ref),
                        "p50_ms": lat.get("p50_ms"), "p99_ms": lat.get("p99_ms"),
                        "startup_s": r.get("startup_s"),
                        "gpu_util_mean_pct": (r.get("gpu") or {}).get("util_mean_pct"),
                        "jpeg_util_mean_pct": (r.get("gpu") or {}).get("jpeg_util_mean_pct"),
                        "peak_rss_mb": r.get("peak_rss_mb"), "error": (r.get("error") or "").splitlines()[0]
                        if r.get("error") else None}
        return table

    def best(table):
        ok = {k: v for k, v in table.items() if v["ratio_over_a"] is not None}
        if not ok:
            return None
        k = max(ok, key=lambda k: ok[k]["images_per_s"])
        return {"procs": int(k), "images_per_s": ok[k]["images_per_s"], "ratio_over_a": ok[k]["ratio_over_a"],
                "ratio_over_a_full_span": ok[k]["ratio_over_a_full_span"]}

    b, c = per_k(doc.get("b_worker_reduce"), a_red), per_k(doc.get("c_worker_f16"), a_f16)
    best_b = best(b)
    ref = FIELD_NOTES_DALI_ALONE.get(batch) if doc.get("device") == "gpu" else None
    return {
        "batch_size": batch,
        "a_dali_alone_images_per_s": a_red,
        "a_dali_alone_gpu_util_mean_pct": ((a.get("reduce") or {}).get("gpu") or {}).get("util_mean_pct"),
        "a_classify_f16_images_per_s": a_f16,
        "b_by_procs": b,
        "c_by_procs": c,
        "ratio_b_over_a": {k: v["ratio_over_a"] for k, v in b.items()},
        "ratio_b_over_a_full_span": {k: v["ratio_over_a_full_span"] for k, v in b.items()},
        "ratio_b_over_a_best": best_b["ratio_over_a"] if best_b else None,
        "b_best": best_b,
        "c_best": best(c),
        "acceptance_b_over_a_at_least_0_9": (best_b["ratio_over_a"] >= 0.9) if best_b else None,
        "field_notes_h100": {"dali_alone_images_per_s": ref,
                             "b_best_over_field_notes_dali_alone": _ratio(best_b["images_per_s"], ref) if best_b else None,
                             "naive_loop_by_procs": FIELD_NOTES_NAIVE_LOOP} if ref else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a topic just created has no leader for a moment; aiokafka retries and logs each retry
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    t_start = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - t_start:6.1f}s] {msg}", flush=True)

    if args.device == "gpu":
        from worker.runtime import visible_gpus

        if not visible_gpus():
            print("--device gpu but no GPU is visible (CUDA_VISIBLE_DEVICES / nvidia-smi); use --device cpu",
                  file=sys.stderr)
            return 2
    data = corpus.load(args.corpus, args.count)
    mean_kb = round(sum(map(len, data)) / len(data) / 1024, 1)
    log(f"corpus: {len(data)} files, mean {mean_kb} KB; device {args.device}, batch {args.batch_size}, "
        f"K {args.procs}, {args.partitions} partitions, bulk {args.bulk}/{args.bulk_c}, paced {args.paced}, "
        f"{os.cpu_count()} cores")
    doc: dict = {"device": args.device, "corpus": {"files": len(data), "mean_kb": mean_kb},
                 "settings": {k: v for k, v in vars(args).items()},
                 "threads": {"a": len(os.sched_getaffinity(0)),
                             "worker_per_process": {str(k): max(1, (os.cpu_count() or 2) // k) for k in args.procs}}}
    subset = "" if args.cases == ["a", "b", "c"] else "-" + "".join(args.cases)  # a split run: gpu-gpu-ab-<host>

    def save():  # after every case: a run cut short still leaves what it measured
        doc["summary"] = summarize(doc)
        doc["summary"]["wall_s"] = round(time.monotonic() - t_start, 1)
        return common.write_result(f"gpu-{args.device}{subset}", doc)

    def on_case(key, res):
        doc.setdefault({"b": "b_worker_reduce", "c": "c_worker_f16"}[key], []).append(res)
        save()

    sampler = GpuSampler()
    sampler.start()
    log(f"GPU sampler: {sampler.backend or 'none (no NVML, no nvidia-smi)'}")
    doc["gpu_sampler"] = sampler.backend
    broker = None
    try:
        if "a" in args.cases:
            log("(a) DALI alone from memory, one process, all cores")
            doc["a_dali_alone"] = run_a(data, args, sampler, log)
            save()
        if {"b", "c"} & set(args.cases):
            try:  # whatever happens, (a) and what ran are written
                bootstrap, broker = common.bootstrap_or_broker()
                log(f"broker {bootstrap}" + (" (worker.devkafka)" if broker else " (KAFKA_BOOTSTRAP_SERVERS)"))
                asyncio.run(run_e2e(bootstrap, data, args, sampler, log, on_case))
            except Exception as exc:
                doc["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"
                log("end-to-end cases FAILED: " + doc["error"].splitlines()[0])
    finally:
        sampler.stop()
        if broker:
            broker.stop()
    path = save()
    s = doc["summary"]
    log(f"(b)/(a) by K (steady): {s['ratio_b_over_a']}; first-to-last: {s['ratio_b_over_a_full_span']}")
    log(f"best: {s['b_best']}")
    log(f"wrote {path}")
    return 1 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main())
