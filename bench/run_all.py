"""Every benchmark in one run, on one corpus, into one JSON with the ratios.

``python -m bench.run_all [--device cpu|gpu] [--quick]``

(a) DALI alone from memory (``bench.dali_alone``), (b) the worker end to end through the real
broker (``bench.e2e``), (c) the Pillow consumer through the broker and Pillow alone
(``bench.pil_consumer``), (d) the worker with a model forwarded (a real Triton with the test mean
classifier; ``bench.triton_forward`` compares the wire and shared memory). Ratios: (b)/(a) is the share of
the pipeline's own speed the worker delivers through Kafka; (b)/(c) is the speed-up over what a
user would write. Also: throughput by batch size and with 1 vs 2 worker processes.

Writes ``bench/results/all-<device>-<host>.json``. On the 2-core machine: about 4-6 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import traceback

from bench import common, corpus, dali_alone, e2e, pil_consumer

PIPELINE = "classify_reduce"  # tiny outputs: the figures measure preprocessing, not tensor copies
CLASSIFIER_NAME = "mean-classifier"  # tests/servers/triton/mean-classifier


def _ips(res: dict | None) -> float | None:
    if not res or "error" in res:
        return None
    return (res.get("throughput") or {}).get("images_per_s")


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


def _model_server():
    """A Triton with the mean classifier (tests/triton_server.py: the pytriton wheel's server,
    fetched into ~/.cache on first use), or (None, why)."""
    try:
        from tests.triton_server import CLASSIFIER, running_triton
    except Exception as exc:  # the tests package is not there (an installed wheel)
        return None, f"tests.triton_server not importable: {exc}"
    return running_triton([CLASSIFIER]), None


async def _cases(bootstrap, data, cases, bulk, paced, log) -> list[dict]:
    out = []
    for case in cases:
        t = time.monotonic()
        try:
            res = await e2e.run_case(bootstrap, data, case, bulk=bulk, paced=paced)
        except Exception as exc:
            res = {"name": case.name, "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"}
        res["wall_s"] = round(time.monotonic() - t, 1)
        ips = _ips(res)
        log(f"  {case.name}: " + (f"{ips} img/s, p50 {res['latency']['p50_ms']} ms, p99 "
                                  f"{res['latency']['p99_ms']} ms, startup {res['startup_s']} s"
                                  if ips else "FAILED: " + res["error"].splitlines()[0]))
        out.append(res)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--count", type=int, default=300, help="corpus files")
    ap.add_argument("--bulk", type=int, default=2400,
                    help="backlog records per end-to-end case (a few seconds of work: group joins must not dominate)")
    ap.add_argument("--paced", type=int, default=150, help="paced records per case (latency)")
    ap.add_argument("--batch-sizes", default="8,32,64")
    ap.add_argument("--procs", default="1,2", help="worker processes to compare")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--no-model", action="store_true", help="skip (d)")
    ap.add_argument("--quick", action="store_true", help="smoke test: small counts, one batch size")
    args = ap.parse_args(argv)
    # a topic just created has no leader for a moment; aiokafka retries and logs each retry
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    if args.quick:
        args.bulk, args.paced, args.batch_sizes, args.procs = 120, 40, "32", "1"
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    procs = [int(k) for k in args.procs.split(",")]
    main_batch = 32 if 32 in batch_sizes else batch_sizes[0]
    t_start = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - t_start:6.1f}s] {msg}", flush=True)

    data = corpus.load("bench/corpus", args.count)
    log(f"corpus: {len(data)} files, mean {sum(map(len, data)) / len(data) / 1024:.1f} KB")
    doc: dict = {"device": args.device, "pipeline": PIPELINE, "corpus": {
        "files": len(data), "mean_kb": round(sum(map(len, data)) / len(data) / 1024, 1)},
        "settings": vars(args)}

    log("(a) DALI alone from memory")
    doc["a_dali_alone"] = dali_alone.run(data, PIPELINE, batch_sizes, images=max(args.bulk, 300), device=args.device)
    for r in doc["a_dali_alone"]["by_batch_size"]:
        log(f"  batch {r['batch_size']}: {r['images_per_s']} img/s")
    log("(c) Pillow alone from memory")
    doc["c_pillow_alone"] = pil_consumer.alone(data, images=min(args.bulk, 300))
    log(f"  {doc['c_pillow_alone']['images_per_s']} img/s")

    P = args.partitions
    worker_cases = [e2e.Case("worker", 1, b, PIPELINE, args.device, P) for b in batch_sizes]
    worker_cases += [e2e.Case("worker", k, main_batch, PIPELINE, args.device, P) for k in procs if k != 1]
    pil_cases = [e2e.Case("pil", k, main_batch, PIPELINE, "cpu", P) for k in procs]
    bootstrap, broker = common.bootstrap_or_broker()
    server = None
    try:
        log(f"broker {bootstrap}; (b) worker end to end")
        doc["b_worker"] = asyncio.run(_cases(bootstrap, data, worker_cases, args.bulk, args.paced, log))
        log("(c) Pillow consumer end to end")
        doc["c_pillow_consumer"] = asyncio.run(_cases(bootstrap, data, pil_cases, args.bulk, args.paced, log))
        if args.no_model:
            doc["d_worker_model"] = {"skipped": "--no-model"}
        else:
            ctx, why = _model_server()
            if ctx is None:
                doc["d_worker_model"] = {"skipped": why}
                log(f"(d) skipped: {why}")
            else:
                log("(d) worker + model (Triton mean classifier, gRPC)")
                server = ctx.__enter__()
                model = {"url": server.grpc_url, "name": CLASSIFIER_NAME,
                         "inputs": {"DALI_OUTPUT_0": "image"}, "outputs": ["logits"]}
                case = e2e.Case("worker", 1, main_batch, "classify", args.device, P, model=model)
                doc["d_worker_model"] = asyncio.run(_cases(bootstrap, data, [case], args.bulk, args.paced, log))[0]
    finally:
        if server is not None:
            ctx.__exit__(None, None, None)
        if broker:
            broker.stop()

    a_best = doc["a_dali_alone"]["best"]["images_per_s"]
    # the comparison: the same pipeline at the same batch size, alone vs end to end
    a_by_b = {r["batch_size"]: r["images_per_s"] for r in doc["a_dali_alone"]["by_batch_size"]}
    b_main = next((r for r in doc["b_worker"] if r.get("name", "").endswith(f"k1-b{main_batch}")), None)
    c_main = next((r for r in doc["c_pillow_consumer"] if "-k1-" in r.get("name", "")), None)
    b_by_k = {r["case"]["procs"]: _ips(r) for r in doc["b_worker"]
              if "case" in r and r["case"]["batch_size"] == main_batch}
    doc["summary"] = {
        "a_dali_alone_best_images_per_s": a_best,
        "b_worker_images_per_s": _ips(b_main),
        "c_pillow_consumer_images_per_s": _ips(c_main),
        "c_pillow_alone_images_per_s": doc["c_pillow_alone"]["images_per_s"],
        "d_worker_model_images_per_s": _ips(doc["d_worker_model"]) if "skipped" not in doc["d_worker_model"] else None,
        "a_dali_alone_images_per_s": a_by_b.get(main_batch),
        "ratio_b_over_a": _ratio(_ips(b_main), a_by_b.get(main_batch)),
        "ratio_b_over_a_by_batch_size": {r["case"]["batch_size"]: _ratio(_ips(r), a_by_b.get(r["case"]["batch_size"]))
                                         for r in doc["b_worker"] if "case" in r and r["case"]["procs"] == 1},
        "ratio_b_best_over_a_best": _ratio(max((_ips(r) or 0) for r in doc["b_worker"]), a_best),
        "ratio_b_over_c": _ratio(_ips(b_main), _ips(c_main)),
        "worker_by_batch_size": {r["case"]["batch_size"]: _ips(r) for r in doc["b_worker"]
                                 if "case" in r and r["case"]["procs"] == 1},
        "worker_by_procs": b_by_k,
        "pillow_by_procs": {r["case"]["procs"]: _ips(r) for r in doc["c_pillow_consumer"] if "case" in r},
        "peak_rss_mb": {"a_dali_alone_process": doc["a_dali_alone"]["peak_rss_mb"],
                        **{r["name"]: r.get("peak_rss_mb") for r in doc["b_worker"] + doc["c_pillow_consumer"]}},
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    path = common.write_result(f"all-{args.device}", doc)
    log(f"summary: {doc['summary']}")
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
