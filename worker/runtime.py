"""Start a worker: load the pipelines, build one lane per pipeline, serve health and metrics,
and run the stream loop until SIGTERM; or, for several processes, hand over to the supervisor."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from worker import allocator
from worker.config import ConfigError, WorkerConfig
from worker.devices import visible_gpus

log = logging.getLogger("worker")


def process_count(cfg: WorkerConfig) -> int:
    if cfg.device == "gpu":
        return cfg.procs * max(1, len(visible_gpus()))
    return cfg.procs


def startup_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean 'the configuration is wrong': a route, the repository, a pipeline, the
    device, a model that does not fit. Fixing the configuration is the only cure."""
    from worker.inference.errors import InferenceConfigError, ModelFitError
    from worker.pipeline.errors import PipelineError
    from worker.repository.errors import RepositoryError

    from worker.kafka_security import KafkaSecurityError, KafkaStartError

    # KafkaStartError: TLS or SASL refused at connect (a restart would be refused the same way)
    return (ConfigError, RepositoryError, InferenceConfigError, ModelFitError, PipelineError,
            KafkaSecurityError, KafkaStartError)


def run_worker(cfg: WorkerConfig, argv: list[str]) -> int:
    if cfg.device == "gpu" and not visible_gpus():
        raise ConfigError("--device gpu but no GPU is visible (CUDA_VISIBLE_DEVICES / nvidia-smi); "
                          "use --device cpu")
    if process_count(cfg) > 1 or cfg.supervise:
        from worker.supervisor import Supervisor

        return Supervisor(cfg, argv).run()
    if cfg.device == "gpu":
        cfg.device = "0"
    allocator.tune()  # large fetch responses reuse the heap instead of faulting in (allocator.py)
    return asyncio.run(serve(cfg))


def dali_threads(cfg: WorkerConfig) -> int:
    """All cores for a lone process; the supervisor divides them and passes --num-threads."""
    return cfg.num_threads or os.cpu_count() or 2


def load_pipeline(cfg: WorkerConfig, name: str, version: int):
    """One served version of a pipeline as the worker runs it (imports a dali.py: trusted code)."""
    from worker.repository.load import load_model

    device = "cpu" if cfg.device == "cpu" else int(cfg.device)
    return load_model(Path(cfg.repository), name, version=version, device=device,
                      num_threads=dali_threads(cfg))


def served_pipeline(model):
    """What routing needs to know of a loaded model (one version)."""
    from worker.pipeline.media import decoder_inputs, media_inputs
    from worker.stream.plan import ServedPipeline

    # an unbatched model takes a sample, or a request of samples (a leading batch dimension,
    # as Triton lists its dims and a Triton client sends it; pipeline/unbatched.py)
    specs = {s.name: (s.dtype, s.ndim if model.batched else (s.ndim, s.ndim + 1)) for s in model.inputs}
    return ServedPipeline(model.name, specs, model.max_batch_size,
                          image_inputs=frozenset(decoder_inputs(model.serialized)),
                          media_inputs=media_inputs(model.serialized), version=model.version,
                          split_outputs=frozenset(getattr(model, "split", ())))


def make_lane(cfg: WorkerConfig, lp, model, runners: dict):
    """The Lane of ``lp``: its runner from ``runners`` (by ``runner_key``), or a new one (a DALI
    pipeline, in a child process unless isolate_dali is off, and the thread that feeds it)."""
    from worker.pipeline.isolation import IsolatedRunner
    from worker.pipeline.runner import PipelineRunner
    from worker.stream.worker import Lane

    if lp.runner_key not in runners:
        kind = IsolatedRunner if cfg.isolate_dali else PipelineRunner
        runner = kind(model, feed=lp.feed, output_cast=lp.output_dtype)
        prefix = f"dali-{lp.pipeline.name}-v{lp.version}"
        runners[lp.runner_key] = (runner, ThreadPoolExecutor(1, thread_name_prefix=prefix))
    runner, pool = runners[lp.runner_key]
    return Lane(plan=lp, run=runner.run, pool=pool, close=runner.close, isolated=cfg.isolate_dali,
                runner=runner)


def build_lanes(cfg: WorkerConfig, remote: dict | None = None) -> tuple[object, dict, dict]:
    """Load the pipelines the routes serve (and no other: a dali.py is code), every version
    their version_policy serves, compile the route plan, and give each lane its runner: one
    DALI pipeline and thread per distinct (pipeline, version, feed, output dtype), shared by
    the lanes that have the same. ``remote``: the ServedPipelines of the dali_backend routes
    (start_remote_pipelines); their lanes pass encoded fields through. Returns the plan, the
    lanes and ``{name: {version: model}}`` of the pipelines loaded here."""
    from worker.repository.versions import served_versions
    from worker.stream.plan import compile_plan, local_pipelines

    repo = Path(cfg.repository)
    names = local_pipelines(cfg)
    if names and not repo.is_dir():
        raise ConfigError(f"model repository {repo} does not exist (set --repository or $DSW_REPOSITORY)")
    models: dict[str, dict[int, object]] = {}
    for name in names:
        for version in served_versions(repo, name):
            model = load_pipeline(cfg, name, version)
            models.setdefault(name, {})[version] = model
            log.info("loaded pipeline %s version %s on %s: inputs %s, outputs %s, max batch %d%s", name,
                     model.version, cfg.device, ", ".join(f"{s.name}:{s.dtype}" for s in model.inputs),
                     ", ".join(f"{s.name}:{s.dtype}/{s.ndim}d" for s in model.outputs),
                     model.max_batch_size, "" if model.batched else " (unbatched)")
    served = {name: {v: served_pipeline(m) for v, m in by_version.items()}
              for name, by_version in models.items()}
    served.update({name: {p.version: p} for name, p in (remote or {}).items()})
    plan = compile_plan(cfg, served)
    runners: dict[tuple, tuple] = {}
    lanes = {key: (passthrough_lane(lp) if lp.pipeline.remote else
                   make_lane(cfg, lp, models[lp.pipeline.name][lp.version], runners))
             for key, lp in plan.lanes.items()}
    for rp in plan.routes:
        r = rp.route
        log.info("%s -> %s: %s, batches of up to %d or %.0f ms, %s feed%s%s", rp.describe(), r.output,
                 ", ".join(f"{n} v{','.join(map(str, vs))} (default v{rp.lanes[n].version})"
                           for n, vs in rp.versions.items()),
                 max(lp.max_batch_size for lp in rp.lanes.values()), r.max_delay_ms,
                 r.feed, f", outputs cast to {r.output_dtype}" if r.output_dtype else "",
                 f", forwarded to model {r.model.get('name')}" if r.model else "")
        if r.pipeline in rp.lanes and r.pipeline in models:
            log.info("%s: %s", rp.describe(),
                     output_volume(models[r.pipeline][rp.lanes[r.pipeline].version], r.output_dtype))
    return plan, lanes, models


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


def passthrough_lane(lp):
    """The lane of a dali_backend route: no DALI here; each message's encoded fields go to the
    model as they are (worker/inference/dali_backend.py)."""
    from worker.pipeline.runner import SampleResult
    from worker.stream.worker import Lane

    def run(samples: list[dict]) -> list:
        out = []
        for i, sample in enumerate(samples):
            try:
                out.append(SampleResult(i, True, outputs={k: as_uint8(v) for k, v in sample.items()}))
            except (TypeError, ValueError) as exc:
                out.append(SampleResult(i, False, error=f"sample {i}: {exc}", reason="wrong_dtype"))
        return out

    from worker.inference.dali_backend import as_uint8

    return Lane(plan=lp, run=run, pool=ThreadPoolExecutor(1, thread_name_prefix=f"encoded-{lp.pipeline.name}"))


async def start_remote_pipelines(cfg: WorkerConfig, readiness=None) -> tuple[dict, dict]:
    """The dali_backend routes: connect to each one's DALI model in Triton, read its inputs
    (all encoded bytes: UINT8 [-1]) and batch limit. Returns ``{pipeline: ServedPipeline}``
    and ``{route index: DaliBackendClient}``, the clients started."""
    import numpy as np

    from worker.inference import ModelRoute
    from worker.inference.dali_backend import DaliBackendClient
    from worker.stream.plan import ServedPipeline, remote_pipelines

    served, clients = {}, {}
    for name, index in remote_pipelines(cfg).items():
        table = {"name": name, **cfg.routes[index].model}
        client = DaliBackendClient(ModelRoute.from_dict(table, where=f"routes[{index}].model"),
                                   on_status=readiness.model_status if readiness is not None else None)
        plan = await client.start()
        inputs = [b.source for b in plan.bindings]
        served[name] = ServedPipeline(name, {n: (np.dtype(np.uint8), 1) for n in inputs},
                                      max(1, client.client.model.max_batch_size or 1), remote=True)
        clients[index] = client
        log.info("routes[%d]: pipeline %s runs in Triton's DALI backend (%s): encoded inputs %s%s", index,
                 name, client.route.model_ref, ", ".join(inputs),
                 f"; one sample per request (open dims of {', '.join(client.samples_alone)})"
                 if client.samples_alone else "")
    return served, clients


async def start_model_clients(cfg: WorkerConfig, plan, lanes: dict, models: dict, readiness=None,
                              remote_clients: dict | None = None) -> None:
    """Forwarding routes: connect to the model server and check that the pipeline's outputs fit
    the model's inputs (names, dtypes, shapes) before consuming anything. Each forwarding route
    has its own client, given to its own lane only."""
    import numpy as np

    from worker.inference import ModelClient, ModelRoute

    shm_needs: list[tuple[str, int, int]] = []
    for rp in plan.routes:
        route = rp.route
        if not route.model:
            continue
        name = route.pipeline
        if remote_clients and rp.index in remote_clients:   # started by start_remote_pipelines
            lanes[rp.lanes[name].key].model_client = remote_clients[rp.index]
            continue
        if name is None or name not in models:
            raise ConfigError(f"{rp.describe()}: 'model' needs the route's 'pipeline' (the outputs it forwards)")
        model = models[name][rp.lanes[name].version]   # the one version a forwarding route runs
        client = ModelClient(ModelRoute.from_dict(route.model, where=f"routes[{rp.index}].model"),
                             on_status=readiness.model_status if readiness is not None else None)
        specs = {s.name: (np.dtype(route.output_dtype) if route.output_dtype else s.dtype, s.ndim)
                 for s in model.outputs}
        await client.start(specs)
        shm_needs += _shared_memory_need(client, model.max_batch_size)
        lanes[rp.lanes[name].key].model_client = client
    # every route's regions together, in every process of this host (docs/deployment.md, "/dev/shm")
    from worker.inference import shm

    shm.check_capacity(shm_needs, int(os.environ.get("DSW_HOST_PROCESSES", "1")))


def _shared_memory_need(client, pipeline_batch: int) -> list[tuple[str, int, int]]:
    """A client that hands its inputs over in /dev/shm keeps up to max_in_flight regions of one
    request (the pipeline's batch, within the model's limit): [(model, request bytes, regions)]."""
    from worker.inference import shm

    if not client.uses_shared_memory or client.model is None:
        return []
    batch = max(1, min(pipeline_batch or 1, client.model.max_batch_size or pipeline_batch or 1)) \
        if client.model.batched else 1
    nbytes = shm.request_bytes(client.model.inputs, batch)
    return [(client.route.model_ref, nbytes, client.route.max_in_flight)] if nbytes else []


def make_reloader(cfg: WorkerConfig, metrics=None):
    """The live reload of ``--repository-poll-s`` (worker/stream/reload.py), or None."""
    if not cfg.repository_poll_s:
        return None
    from worker.stream.plan import remote_pipelines

    if remote_pipelines(cfg):
        raise ConfigError("--repository-poll-s with a route in mode \"dali_backend\": that pipeline "
                          "lives in Triton's repository, which Triton reloads itself "
                          "(--model-control-mode=poll); run the live reload on workers whose "
                          "routes run their pipelines here")
    from functools import partial

    from worker.stream.plan import served_pipelines
    from worker.stream.reload import Reloader

    log.info("live reload: looking at repository %s every %g s", cfg.repository, cfg.repository_poll_s)
    return Reloader(cfg, served_pipelines(cfg), load=partial(load_pipeline, cfg), describe=served_pipeline,
                    make_lane=partial(make_lane, cfg), metrics=metrics)


async def serve(cfg: WorkerConfig) -> int:
    from worker import metrics
    from worker.health import HealthServer, Readiness
    from worker.stream.worker import StreamWorker

    readiness = Readiness(metrics.multiprocess_dir(), model_configured=any(r.model for r in cfg.routes))
    server = None
    if cfg.metrics_port and not metrics.multiprocess_dir():  # else the supervisor serves
        server = HealthServer(cfg.metrics_port, host=cfg.metrics_host, readiness=readiness).start()
        log.info("metrics and health on %s:%d (/metrics, /healthz, /readyz)", cfg.metrics_host, server.port)
    # SIGTERM may come while pipelines load (seconds): note it now, honour it once they are loaded
    loop = asyncio.get_running_loop()
    early_stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, early_stop.set)
    try:
        reloader = make_reloader(cfg, metrics.StreamMetrics())   # before loading: sees every change
        remote, remote_clients = await start_remote_pipelines(cfg, readiness)
        plan, lanes, models = build_lanes(cfg, remote)
        if reloader is not None:
            reloader.started(models)
        readiness.pipelines_loaded([*models, *remote])
        await start_model_clients(cfg, plan, lanes, models, readiness, remote_clients)
        if early_stop.is_set():
            log.info("stopped while loading: nothing consumed, nothing to commit")
            return 0
        worker = StreamWorker(cfg, plan, lanes, metrics=metrics.StreamMetrics(), readiness=readiness,
                              reloader=reloader)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.request_stop)
        return await worker.run()
    finally:
        if server is not None:
            server.stop()
