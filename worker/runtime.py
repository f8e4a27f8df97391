"""Start a worker: load the pipelines, build one lane per pipeline, serve health and metrics,
and run the stream loop until SIGTERM; or, for several processes, hand over to the supervisor."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from worker.config import ConfigError, WorkerConfig
from worker.devices import visible_gpus

log = logging.getLogger("worker")


def process_count(cfg: WorkerConfig) -> int:
    if cfg.device == "gpu":
        return cfg.procs * max(1, len(visible_gpus()))
    return cfg.procs


def run_worker(cfg: WorkerConfig, argv: list[str]) -> int:
    if cfg.device == "gpu" and not visible_gpus():
        raise ConfigError("--device gpu but no GPU is visible (CUDA_VISIBLE_DEVICES / nvidia-smi); "
                          "use --device cpu")
    if process_count(cfg) > 1:
        from worker.supervisor import Supervisor

        return Supervisor(cfg, argv).run()
    if cfg.device == "gpu":
        cfg.device = "0"
    return asyncio.run(serve(cfg))


def dali_threads(cfg: WorkerConfig) -> int:
    """All cores for a lone process; the supervisor divides them and passes --num-threads."""
    return cfg.num_threads or os.cpu_count() or 2


def build_lanes(cfg: WorkerConfig) -> tuple[dict, dict]:
    """Load every pipeline the routes use (all of the repository's for a route with no default
    pipeline, since its envelopes may name any)."""
    from worker.pipeline.media import decoder_inputs
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import list_models, load_model
    from worker.stream.routing import ServedPipeline
    from worker.stream.worker import Lane

    repo = Path(cfg.repository)
    if not repo.is_dir():
        raise ConfigError(f"model repository {repo} does not exist (set --repository or $DSW_REPOSITORY)")
    wanted: dict[str, object] = {}
    for route in cfg.routes:
        names = [route.pipeline] if route.pipeline else [m for m in list_models(repo)]
        for name in names:
            wanted.setdefault(name, route)
    device = "cpu" if cfg.device == "cpu" else int(cfg.device)
    lanes, models = {}, {}
    for name, route in wanted.items():
        model = load_model(repo, name, device=device, num_threads=dali_threads(cfg))
        runner = PipelineRunner(model, feed=route.feed, output_cast=route.output_dtype)
        specs = {s.name: (s.dtype, s.ndim) for s in model.inputs}
        served = ServedPipeline(name, specs, model.max_batch_size,
                                image_inputs=frozenset(decoder_inputs(model.serialized)))
        lanes[name] = Lane(served=served, run=runner.run,
                           pool=ThreadPoolExecutor(1, thread_name_prefix=f"dali-{name}"))
        models[name] = model
        log.info("loaded pipeline %s version %s on %s: inputs %s, outputs %s, max batch %d, %s feed%s",
                 name, model.version, device, ", ".join(f"{s.name}:{s.dtype}" for s in model.inputs),
                 ", ".join(f"{s.name}:{s.dtype}/{s.ndim}d" for s in model.outputs), model.max_batch_size,
                 route.feed, f", outputs cast to {route.output_dtype}" if route.output_dtype else "")
    for route in cfg.routes:
        if route.pipeline in models:
            log.info("route %s -> %s: %s", ",".join(route.inputs), route.output,
                     output_volume(models[route.pipeline], route.output_dtype))
    return lanes, models


def output_volume(model, output_dtype: str | None, rate: int = 1000) -> str:
    """What a route puts on the wire per result, and per second at ``rate`` results/s: a float32
    224x224x3 tensor is 600 KB, 600 MB/s at 1k img/s, more than a broker takes for long."""
    import numpy as np

    total, parts = 0, []
    for spec in model.outputs:
        dtype = np.dtype(output_dtype) if output_dtype else np.dtype(spec.dtype)
        dims = [d for d in spec.dims]
        if not dims or any(d < 0 for d in dims):
            parts.append(f"{spec.name} {dtype.name} (shape varies per sample)")
            total = None
            continue
        n = int(np.prod(dims)) * dtype.itemsize
        parts.append(f"{spec.name} {dtype.name}{dims} {n / 1024:.1f} KiB")
        total = None if total is None else total + n
    if total is None:
        return f"outputs {', '.join(parts)}; bytes per result vary"
    per_s = (total + 256) * rate
    hint = (" -- consider output_dtype = float16/uint8, or forwarding to a model"
            if per_s > 100 * 1024 * 1024 else "")
    return (f"about {(total + 256) / 1024:.1f} KiB per result ({', '.join(parts)}), "
            f"{per_s / 1024 / 1024:.1f} MiB/s at {rate} results/s{hint}")


async def start_model_clients(cfg: WorkerConfig, lanes: dict, models: dict, readiness=None) -> None:
    """Forwarding routes: connect to the model server and check that the pipeline's outputs fit
    the model's inputs (names, dtypes, shapes) before consuming anything."""
    import numpy as np

    from worker.inference import ModelClient, ModelRoute

    for i, route in enumerate(cfg.routes):
        if not route.model:
            continue
        name = route.pipeline
        if name is None or name not in lanes:
            raise ConfigError(f"routes[{i}].model needs the route's 'pipeline' (the outputs it forwards)")
        client = ModelClient(ModelRoute.from_dict(route.model, where=f"routes[{i}].model"),
                             on_status=readiness.model_status if readiness is not None else None)
        specs = {s.name: (np.dtype(route.output_dtype) if route.output_dtype else s.dtype, s.ndim)
                 for s in models[name].outputs}
        await client.start(specs)
        lanes[name].model_client = client


async def serve(cfg: WorkerConfig) -> int:
    from worker import metrics
    from worker.health import HealthServer, Readiness
    from worker.stream.worker import StreamWorker

    readiness = Readiness(metrics.multiprocess_dir(), model_configured=any(r.model for r in cfg.routes))
    server = None
    if cfg.metrics_port and not metrics.multiprocess_dir():  # else the supervisor serves
        server = HealthServer(cfg.metrics_port, readiness=readiness).start()
        log.info("metrics and health on :%d (/metrics, /healthz, /readyz)", server.port)
    # SIGTERM may come while pipelines load (seconds): note it now, honour it once they are loaded
    loop = asyncio.get_running_loop()
    early_stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, early_stop.set)
    try:
        lanes, models = build_lanes(cfg)
        readiness.pipelines_loaded(list(lanes))
        await start_model_clients(cfg, lanes, models, readiness)
        if early_stop.is_set():
            log.info("stopped while loading: nothing consumed, nothing to commit")
            return 0
        worker = StreamWorker(cfg, lanes, metrics=metrics.StreamMetrics(), readiness=readiness)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.request_stop)
        return await worker.run()
    finally:
        if server is not None:
            server.stop()
