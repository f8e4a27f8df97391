"""(d) The worker forwarding full tensors to a real Triton, over the wire and through system
shared memory, beside (b) the worker without a model and (a) DALI alone, in one run.

``python -m bench.triton_forward [--batch-size 32] [--bulk 1200]``

- (a) DALI alone from memory: ``classify_reduce`` and ``classify`` (full 3x224x224 float32);
- (b) the worker end to end, ``classify_reduce`` (tiny results), no model;
- (d) the worker end to end, ``classify`` forwarded to Triton's ``mean-classifier`` (a cheap
  Python-backend model: the cost measured is the hand-off, not the model), first with
  ``shared_memory = "off"`` (gRPC carries 600 KB per image), then ``"auto"`` (a registered
  region per request).

Next to images/s: CPU milliseconds per image of the worker's processes and, apart, of Triton,
over the measured span. On two shared cores the broker, the worker and Triton compete for the
same CPU, so the throughput ratio alone is capped by their shares; CPU per image says what each
hand-off costs. Triton comes from the test fixture (``tests/triton_server.py``: the pytriton
wheel, cached under ~/.cache). Writes ``bench/results/triton-<device>-<host>.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from bench import common, corpus, dali_alone, e2e


def _row(res: dict) -> dict:
    if "error" in res:
        return {"error": res["error"].splitlines()[0]}
    tp = res["throughput"]
    return {"images_per_s": tp["images_per_s"], "steady_images_per_s": tp.get("steady_images_per_s"),
            "cpu_ms_per_image": res.get("cpu_ms_per_image"),
            "server_cpu_ms_per_image": res.get("server_cpu_ms_per_image"),
            "p50_ms": res["latency"]["p50_ms"], "p99_ms": res["latency"]["p99_ms"],
            "peak_rss_mb": res.get("peak_rss_mb")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.triton_forward", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bulk", type=int, default=1200)
    ap.add_argument("--paced", type=int, default=100)
    ap.add_argument("--count", type=int, default=300, help="corpus files")
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    from tests.triton_server import CLASSIFIER, running_triton

    t_start = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - t_start:6.1f}s] {msg}", flush=True)

    data = corpus.load("bench/corpus", args.count)
    b = args.batch_size
    doc: dict = {"device": "cpu", "batch_size": b, "settings": vars(args),
                 "corpus": {"files": len(data), "mean_kb": round(sum(map(len, data)) / len(data) / 1024, 1)}}
    log("(a) DALI alone")
    doc["a_dali_alone"] = {name: dali_alone.bench_batch_size(data, name, b, max(args.bulk // 2, 300), "cpu")
                           for name in ("classify_reduce", "classify")}
    for name, r in doc["a_dali_alone"].items():
        log(f"  {name}: {r['images_per_s']} img/s, {r['cpu_ms_per_image']} CPU ms/img")
    bootstrap, broker = common.bootstrap_or_broker()
    try:
        with running_triton([CLASSIFIER]) as server:
            cases = {"b_worker": (e2e.Case("worker", 1, b, "classify_reduce", "cpu", args.partitions), None)}
            for mode in ("off", "auto"):
                model = {"url": server.grpc_url, "name": CLASSIFIER.name, "outputs": ["logits"],
                         "inputs": {"DALI_OUTPUT_0": "image"}, "shared_memory": mode}
                key = "d_wire" if mode == "off" else "d_shared_memory"
                cases[key] = (e2e.Case("worker", 1, b, "classify", "cpu", args.partitions, model=model),
                              [server.pid])
            for key, (case, pids) in cases.items():
                log(f"{key}: {case.name}")
                res = asyncio.run(e2e.run_case(bootstrap, data, case, bulk=args.bulk, paced=args.paced,
                                               timeout_s=600, server_pids=pids))
                doc[key] = {"case": case.name, **_row(res), "raw": res}
                log(f"  {({k: v for k, v in _row(res).items()})}")
    finally:
        if broker:
            broker.stop()

    def ips(key):
        return doc[key].get("images_per_s")

    def ratio(x, y):
        return round(x / y, 3) if x and y else None

    doc["summary"] = {
        "a_classify_reduce_images_per_s": doc["a_dali_alone"]["classify_reduce"]["images_per_s"],
        "a_classify_images_per_s": doc["a_dali_alone"]["classify"]["images_per_s"],
        "b_worker_images_per_s": ips("b_worker"),
        "d_wire_images_per_s": ips("d_wire"),
        "d_shared_memory_images_per_s": ips("d_shared_memory"),
        "ratio_d_wire_over_b": ratio(ips("d_wire"), ips("b_worker")),
        "ratio_d_shared_memory_over_b": ratio(ips("d_shared_memory"), ips("b_worker")),
        "ratio_shared_memory_over_wire": ratio(ips("d_shared_memory"), ips("d_wire")),
        "cpu_ms_per_image": {
            "a_classify_reduce": doc["a_dali_alone"]["classify_reduce"]["cpu_ms_per_image"],
            "a_classify": doc["a_dali_alone"]["classify"]["cpu_ms_per_image"],
            "b_worker": doc["b_worker"].get("cpu_ms_per_image"),
            "d_wire_worker": doc["d_wire"].get("cpu_ms_per_image"),
            "d_wire_triton": doc["d_wire"].get("server_cpu_ms_per_image"),
            "d_shared_memory_worker": doc["d_shared_memory"].get("cpu_ms_per_image"),
            "d_shared_memory_triton": doc["d_shared_memory"].get("server_cpu_ms_per_image"),
        },
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    path = common.write_result("triton-cpu", doc)
    log(f"summary: {doc['summary']}")
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
