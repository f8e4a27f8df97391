"""(a) The DALI pipeline alone, fed from memory: the ceiling the worker can approach.

``python -m bench.dali_alone [--device cpu|gpu] [--batch-sizes 8,32,64] [--images 600]``

The pipeline comes from the repository (``pipelines/<name>/``) when the worker's repository
loader or the model file is there, otherwise from the built-in copy below (same transform as
``pipelines/classify``: decode, resize shorter side 256, centre crop 224, normalize, CHW
float32). Each batch is fed with ``feed_input`` and run synchronously, outputs copied to host
NumPy arrays, as the worker does before publishing. Reports images/s and per-batch p50/p99 for
each batch size.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import common, corpus

REPO = Path(__file__).resolve().parent.parent / "pipelines"
MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


def builtin_classify(device: str):
    """The classify transform with DALI's Python API (used while the repository has none)."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=64, num_threads=2, device_id=None)
    def classify():
        raw = fn.external_source(name="INPUT", dtype=types.UINT8, ndim=1)
        images = fn.decoders.image(raw, device="mixed" if device == "gpu" else "cpu",
                                   output_type=types.RGB)
        images = fn.resize(images, resize_shorter=256, antialias=True)
        return fn.crop_mirror_normalize(images, crop=(224, 224), mean=MEAN, std=STD,
                                        dtype=types.FLOAT, output_layout="CHW")

    return classify()


def _serialized_from_repository(name: str) -> tuple[bytes, str] | None:
    """Serialized bytes of ``pipelines/<name>`` (model.dali, or dali.py autoserialized)."""
    model_dir = REPO / name
    if not model_dir.is_dir():
        return None
    versions = sorted((d for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit()),
                      key=lambda d: int(d.name))
    for v in reversed(versions):
        if (v / "model.dali").exists():
            return (v / "model.dali").read_bytes(), str(v / "model.dali")
        if (v / "dali.py").exists():
            from nvidia.dali._utils.autoserialize import invoke_autoserialize

            spec = importlib.util.spec_from_file_location(f"_bench_{name}", v / "dali.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "model.dali"
                invoke_autoserialize(module, str(out))
                return out.read_bytes(), str(v / "dali.py")
    return None


class Runner:
    """One pipeline fed from memory, one batch at a time."""

    def __init__(self, name: str, batch_size: int, device: str = "cpu", num_threads: int | None = None):
        from nvidia.dali import Pipeline

        from worker.repository.serialized import read_serialized

        threads = num_threads or len(os.sched_getaffinity(0))
        device_id = 0 if device == "gpu" else None
        # the repository's dali.py files read DALI_DEVICE to pick mixed (GPU) or CPU decoding
        os.environ["DALI_DEVICE"] = device
        found = _serialized_from_repository(name)
        if found is None:
            self.source = f"built-in {name} (bench/dali_alone.py)"
            data = builtin_classify(device).serialize()
        else:
            data, source = found
            self.source = os.path.relpath(source, REPO.parent)
        info = read_serialized(data, self.source)
        if len(info.inputs) != 1:
            raise SystemExit(f"{self.source}: the benchmark feeds one encoded input, this pipeline has "
                             f"{[i.name for i in info.inputs]}")
        self.input_name = info.inputs[0].name
        # prefetch_queue_depth=1: batches smaller than batch_size run (FIELD-NOTES)
        self.pipe = Pipeline.deserialize(serialized_pipeline=data, batch_size=batch_size,
                                         num_threads=threads, device_id=device_id,
                                         prefetch_queue_depth=1)
        self.pipe.build()
        self.threads = threads

    def run(self, batch: list[bytes]) -> list[np.ndarray]:
        self.pipe.feed_input(self.input_name, [np.frombuffer(b, dtype=np.uint8) for b in batch])
        outs = self.pipe.run()
        host = []
        for out in outs:
            if hasattr(out, "as_cpu"):
                out = out.as_cpu()
            host.extend(np.asarray(out[i]) for i in range(len(out)))
        return host


def bench_batch_size(data: list[bytes], name: str, batch_size: int, images: int, device: str) -> dict:
    runner = Runner(name, batch_size, device)
    batches = [[data[(start + j) % len(data)] for j in range(batch_size)]
               for start in range(0, max(images, batch_size), batch_size)]
    runner.run(batches[0])  # warm-up: allocations, thread pool
    lat = []
    t0 = time.perf_counter()
    for b in batches:
        t = time.perf_counter()
        runner.run(b)
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    return {"batch_size": batch_size, "images": n, "seconds": round(wall, 3),
            "images_per_s": round(n / wall, 1), "batch_latency": common.latency_summary(lat),
            "threads": runner.threads, "pipeline_source": runner.source}


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
