"""(a) The DALI pipeline alone, fed from memory: the ceiling the worker can approach.

``python -m bench.dali_alone [--device cpu|gpu] [--batch-sizes 8,32,64] [--images 600]``

The pipeline comes from the repository (``pipelines/<name>/``), loaded and run with the
worker's own code (``worker.repository.load_model``, ``worker.pipeline.PipelineRunner``):
each batch is fed and run synchronously and its outputs copied to host NumPy arrays, as in the
worker before publishing, without Kafka. Reports images/s and per-batch p50/p99 for
each batch size.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import common, corpus

REPO = Path(__file__).resolve().parent.parent / "pipelines"


class Runner:
    """The worker's own loader and runner (worker.repository, worker.pipeline) on one model."""

    def __init__(self, name: str, batch_size: int, device: str = "cpu", num_threads: int | None = None,
                 output_cast: str | None = None):
        from worker.pipeline.runner import PipelineRunner
        from worker.repository.load import load_model

        self.threads = num_threads or len(os.sched_getaffinity(0))
        model = load_model(REPO, name, device="cpu" if device == "cpu" else 0,
                           num_threads=self.threads, max_batch_size=batch_size)
        if len(model.input_names) != 1:
            raise SystemExit(f"model {name!r}: the benchmark feeds one encoded input, this one takes "
                             f"{model.input_names}")
        self.input_name = model.input_names[0]
        self.source = os.path.relpath(model.source, REPO.parent)
        self.runner = PipelineRunner(model, output_cast=output_cast)

    def run(self, batch: list[bytes]) -> list:
        results = self.runner.run([{self.input_name: b} for b in batch])
        bad = [r.error for r in results if not r.ok]
        if bad:
            raise SystemExit(f"{len(bad)} samples failed, first: {bad[0]}")
        return results


def bench_batch_size(data: list[bytes], name: str, batch_size: int, images: int, device: str,
                     output_cast: str | None = None) -> dict:
    runner = Runner(name, batch_size, device, output_cast=output_cast)
    batches = [[data[(start + j) % len(data)] for j in range(batch_size)]
               for start in range(0, max(images, batch_size), batch_size)]
    runner.run(batches[0])  # warm-up: allocations, thread pool
    lat = []
    t0_unix = time.time()
    cpu0 = time.process_time()  # every thread of this process: DALI's included
    t0 = time.perf_counter()
    for b in batches:
        t = time.perf_counter()
        runner.run(b)
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    n = sum(len(b) for b in batches)
    return {"batch_size": batch_size, "images": n, "seconds": round(wall, 3),
            "images_per_s": round(n / wall, 1), "cpu_ms_per_image": round(cpu / n * 1000, 3),
            "batch_latency": common.latency_summary(lat),
            "threads": runner.threads, "pipeline_source": runner.source,
            "window_unix": [round(t0_unix, 3), round(t0_unix + wall, 3)]}


def run(data: list[bytes], name: str = "classify", batch_sizes=(8, 32, 64), images: int = 600,
        device: str = "cpu") -> dict:
    rows = [bench_batch_size(data, name, b, images, device) for b in batch_sizes]
    best = max(rows, key=lambda r: r["images_per_s"])
    return {"pipeline": name, "device": device, "by_batch_size": rows,
            "best": {"batch_size": best["batch_size"], "images_per_s": best["images_per_s"]},
            "peak_rss_mb": common.peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dali_alone", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default="classify")
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--batch-sizes", default="8,32,64")
    ap.add_argument("--images", type=int, default=600, help="images per batch size")
    ap.add_argument("--corpus", default="bench/corpus")
    ap.add_argument("--count", type=int, default=300, help="corpus files")
    args = ap.parse_args(argv)
    data = corpus.load(args.corpus, args.count)
    res = run(data, args.pipeline, [int(b) for b in args.batch_sizes.split(",")], args.images, args.device)
    for r in res["by_batch_size"]:
        print(f"batch {r['batch_size']:4d}: {r['images_per_s']:8.1f} img/s  "
              f"p50 {r['batch_latency']['p50_ms']} ms  p99 {r['batch_latency']['p99_ms']} ms")
    print("wrote", common.write_result(f"dali_alone-{args.pipeline}-{args.device}", res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
