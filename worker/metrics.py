"""Prometheus metrics of a worker, and the small helpers the stream loop calls.

One HTTP port per container serves every worker process's metrics (``worker/health.py``). With
several processes this uses prometheus_client's multiprocess mode: the supervisor calls
:func:`prepare_multiprocess_dir` *before* it spawns children, each child writes its values to
memory-mapped files in that folder, and the server aggregates the folder at scrape time. When a
child dies the supervisor calls :func:`process_dead` so that its live gauges (in-flight batches,
paused partitions, lag) stop counting; its counters and histograms stay, as they should (a
counter must not go down because a process was replaced).

Every metric object is created on first use, not at import, so that importing this module
before ``PROMETHEUS_MULTIPROC_DIR`` is set cannot silently select single-process storage.

How each gauge aggregates across processes (``multiprocess_mode``), chosen deliberately:

* ``in_flight_batches``, ``paused_partitions``, ``assigned_partitions``: ``livesum`` -- each
  process owns its own batches and partitions, the container's figure is the sum over the
  processes that are alive (a dead child's last value must not linger).
* ``consumer_lag``: ``livemostrecent`` -- a partition belongs to one process at a time but moves
  on a rebalance; the process that wrote the partition's lag most recently is its owner, so the
  newest value wins and an old owner's stale value is ignored (a sum would double-count it).
* ``kafka_connected``: ``livemin`` -- 0 when any live process lost the broker.
* ``kafka_seconds_since_fetch``, ``kafka_seconds_since_commit``: ``livemax`` -- the process
  that has gone longest without is the one to look at.

GPU memory and utilisation are not written by the workers: the HTTP server reads them from NVML
at scrape time (:class:`GpuCollector`), when ``pynvml`` (package ``nvidia-ml-py``) imports and a
GPU exists; otherwise those series are absent.
"""
from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "dali_worker"

# batches are powers of two up to the largest pipeline batch we expect
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# a CPU batch of 64 takes ~0.2 s here, a GPU batch a few ms; a stuck one tens of seconds
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                         5.0, 10.0, 30.0)
# end-to-end includes time waiting in the topic: up to minutes when a consumer lags
END_TO_END_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0, 300.0)

_lock = threading.Lock()
_m: SimpleNamespace | None = None


def multiprocess_dir() -> str | None:
    """The multiprocess folder from the environment, or None in single-process mode."""
    return os.environ.get(ENV_DIR) or os.environ.get("prometheus_multiproc_dir") or None


def prepare_multiprocess_dir(path: str | os.PathLike) -> Path:
    """Supervisor only, before spawning children: empty ``path`` (stale files from an earlier
    run would be summed into this one's counters) and export it as ``PROMETHEUS_MULTIPROC_DIR``
    so that every child inherits it."""
    folder = Path(path)
    if folder.exists():
        for entry in folder.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_DIR] = str(folder)
    return folder


def process_dead(pid: int, path: str | os.PathLike | None = None) -> None:
    """Supervisor: a child exited. Drop its live gauges and its readiness report."""
    from prometheus_client import multiprocess

    folder = str(path) if path is not None else multiprocess_dir()
    if not folder:
        return
    multiprocess.mark_process_dead(pid, folder)
    Path(folder, f"ready-{pid}.json").unlink(missing_ok=True)


def _metrics() -> SimpleNamespace:
    global _m
    if _m is not None:
        return _m
    with _lock:
        if _m is None:
            _m = _create()
    return _m


def _create() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge, Histogram, values

    if bool(multiprocess_dir()) != bool(getattr(values.ValueClass, "_multiprocess", False)):
        # prometheus_client picks its storage when it is imported; if it was imported before the
        # supervisor exported the folder (or this process was forked from one that had), switch
        # now, or this process's values would never reach the shared folder. And the other way:
        # a process whose folder is gone (unset after an earlier use) keeps its values in memory
        # instead of failing to open a file in no folder.
        values.ValueClass = values.get_value_class()
    p = PREFIX
    m = SimpleNamespace(
        messages_in=Counter(f"{p}_messages_in", "Records consumed from input topics", ["topic"]),
        messages_out=Counter(f"{p}_messages_out", "Result records published", ["topic"]),
        dead_letters=Counter(f"{p}_dead_letters", "Records sent to the dead-letter topic", ["reason"]),
        batch_size=Histogram(f"{p}_batch_size", "Samples per pipeline batch", ["pipeline"],
                             buckets=BATCH_SIZE_BUCKETS),
        batch_seconds=Histogram(f"{p}_batch_seconds", "Wall time of one pipeline batch (feed, run, "
                                "outputs)", ["pipeline"], buckets=BATCH_SECONDS_BUCKETS),
        end_to_end=Histogram(f"{p}_end_to_end_seconds", "Input record timestamp to result "
                             "published", ["pipeline"], buckets=END_TO_END_BUCKETS),
        in_flight=Gauge(f"{p}_in_flight_batches", "Batches submitted and not finished",
                        multiprocess_mode="livesum"),
        paused=Gauge(f"{p}_paused_partitions", "Partitions paused for backpressure (or left out of "
                     "fetches while records already fetched for them wait)",
                     multiprocess_mode="livesum"),
        assigned=Gauge(f"{p}_assigned_partitions", "Partitions assigned to this worker", ["topic"],
                       multiprocess_mode="livesum"),
        reloads=Counter(f"{p}_repository_reloads", "Pipeline versions a live reload swapped in "
                        "(loaded: added or changed) or out (unloaded)", ["pipeline", "action"]),
        reload_failures=Counter(f"{p}_repository_reload_failures", "Pipeline versions a live "
                                "reload could not load (the serving versions stay)", ["pipeline"]),
        lag=Gauge(f"{p}_consumer_lag", "High watermark minus consumer position, per partition",
                  ["topic", "partition"], multiprocess_mode="livemostrecent"),
        kafka_connected=Gauge(f"{p}_kafka_connected", "1 when the latest request to the Kafka broker "
                              "was answered, 0 when it failed", multiprocess_mode="livemin"),
        since_fetch=Gauge(f"{p}_kafka_seconds_since_fetch", "Seconds since a fetch from Kafka was "
                          "last answered", multiprocess_mode="livemax"),
        since_commit=Gauge(f"{p}_kafka_seconds_since_commit", "Seconds since a commit (offsets, or a "
                           "transaction) last succeeded or found nothing to commit",
                           multiprocess_mode="livemax"),
        model_requests=Counter(f"{p}_model_requests", "Inference requests sent to a model server "
                               "(each try, retries included)", ["model"]),
        model_retries=Counter(f"{p}_model_retries", "Inference requests tried again after the "
                              "server was down or overloaded", ["model"]),
    )
    # Every reason at 0 from the start: a counter series that first appears at N has no
    # increase to rate() over, so a burst of dead letters within one scrape would never show.
    from worker.reasons import Reason

    for reason in Reason:
        m.dead_letters.labels(reason.value)
    return m


# ---- helpers the stream loop calls --------------------------------------------------------

def message_in(topic: str, n: int = 1) -> None:
    _metrics().messages_in.labels(topic).inc(n)


def message_out(topic: str, n: int = 1) -> None:
    _metrics().messages_out.labels(topic).inc(n)


def dead_letter(reason: str, n: int = 1) -> None:
    """``reason``: a short fixed vocabulary (``decode``, ``too_large``, ``schema``, ``model``...),
    never an exception text: every distinct value is a new time series."""
    _metrics().dead_letters.labels(str(reason)).inc(n)


def observe_batch(pipeline: str, size: int, seconds: float) -> None:
    m = _metrics()
    m.batch_size.labels(pipeline).observe(size)
    m.batch_seconds.labels(pipeline).observe(seconds)


def observe_many(h, values: list[float]) -> None:
    """``h.observe(v)`` for each value, as one write per bucket touched and one to the sum: in
    multiprocess mode each write is a store into a shared file (a batch of 64 results wrote 128
    of them). Reads prometheus_client's Histogram internals (``_upper_bounds``, ``_buckets``,
    ``_sum``, as in its ``observe``); where they are missing, it observes one by one."""
    bounds, buckets, total = (getattr(h, "_upper_bounds", None), getattr(h, "_buckets", None),
                              getattr(h, "_sum", None))
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for v in values:
            h.observe(v)
        return
    counts: dict[int, int] = {}
    for v in values:
        i = bisect.bisect_left(bounds, v)  # the first bound >= v, as observe() picks it
        counts[i] = counts.get(i, 0) + 1
    total.inc(sum(values))
    for i, n in counts.items():
        buckets[i].inc(n)


def observe_end_to_end(pipeline: str, seconds: float) -> None:
    _metrics().end_to_end.labels(pipeline).observe(max(0.0, seconds))


def observe_end_to_end_ms(pipeline: str, record_timestamps_ms: Iterable[int],
                          now: float | None = None) -> None:
    """End-to-end latency of results published at ``now`` (default: now) for input records with
    these Kafka timestamps (milliseconds since the epoch, ``ConsumerRecord.timestamp``)."""
    now_ms = (time.time() if now is None else now) * 1000.0
    h = _metrics().end_to_end.labels(pipeline)
    for ts in record_timestamps_ms:
        if ts is not None and ts >= 0:
            h.observe(max(0.0, (now_ms - ts) / 1000.0))


def repository_reload(pipeline: str, action: str, n: int = 1) -> None:
    """``action``: ``loaded`` (a version added or changed, swapped in) or ``unloaded``."""
    _metrics().reloads.labels(pipeline, action).inc(n)


def repository_reload_failed(pipeline: str) -> None:
    _metrics().reload_failures.labels(pipeline).inc()


def set_in_flight(n: int) -> None:
    _metrics().in_flight.set(n)


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """``with metrics.in_flight(): await run_batch(...)`` counts the batch while it runs."""
    g = _metrics().in_flight
    g.inc()
    try:
        yield
    finally:
        g.dec()


def set_paused(n: int) -> None:
    _metrics().paused.set(n)


def set_assigned(partitions: Iterable) -> None:
    """Record the assignment (an iterable of aiokafka ``TopicPartition``): per-topic counts.
    Topics that no longer have partitions here are set to 0."""
    g = _metrics().assigned
    counts: dict[str, int] = {}
    for tp in partitions:
        counts[tp.topic] = counts.get(tp.topic, 0) + 1
    for topic in _known_topics.difference(counts):
        g.labels(topic).set(0)
    for topic, n in counts.items():
        g.labels(topic).set(n)
    _known_topics.update(counts)


_known_topics: set[str] = set()


def set_kafka_health(connected: bool, since_fetch: float, since_commit: float) -> None:
    m = _metrics()
    m.kafka_connected.set(int(connected))
    m.since_fetch.set(max(0.0, since_fetch))
    m.since_commit.set(max(0.0, since_commit))


def model_request(model: str) -> None:
    _metrics().model_requests.labels(model).inc()


def model_retry(model: str) -> None:
    _metrics().model_retries.labels(model).inc()


def set_lag(topic: str, partition: int, lag: int | float) -> None:
    _metrics().lag.labels(topic, str(partition)).set(max(0, lag))


async def update_lag(consumer, positions: dict | None = None) -> dict:
    """Set ``consumer_lag`` for every partition assigned to an aiokafka consumer and return
    ``{TopicPartition: lag}``.

    Lag is ``consumer.highwater(tp)`` (the log end offset seen in the last fetch) minus the
    position: ``positions[tp]`` if given (the worker's next offset to process, i.e. last
    consumed + 1, which counts records fetched but not yet processed as lag), else
    ``await consumer.position(tp)``. Partitions with no fetch yet (highwater None) are skipped.
    """
    lags = {}
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        if positions is not None and tp in positions:
            pos = positions[tp]
        else:
            try:
                pos = await consumer.position(tp)
            except Exception:  # partition revoked meanwhile, or no position yet
                continue
        lag = max(0, int(high) - int(pos))
        set_lag(tp.topic, tp.partition, lag)
        lags[tp] = lag
    return lags


class StreamMetrics:
    """The object the stream loop holds (``StreamWorker(cfg, plan, lanes, metrics=StreamMetrics())``):
    the calls ``worker/stream/worker.py`` makes, on the module's metrics. ``pipeline`` and
    ``topic`` are optional so that the loop can pass them when it has them."""

    message_in = staticmethod(message_in)
    dead_letter = staticmethod(dead_letter)
    observe_batch = staticmethod(observe_batch)
    set_lag = staticmethod(set_lag)
    update_lag = staticmethod(update_lag)
    set_assigned = staticmethod(set_assigned)
    repository_reload = staticmethod(repository_reload)
    repository_reload_failed = staticmethod(repository_reload_failed)
    set_kafka_health = staticmethod(set_kafka_health)

    @staticmethod
    def results_out(n: int = 1, topic: str = "") -> None:
        message_out(topic, n)

    @staticmethod
    def observe_end_to_end(seconds: float, pipeline: str = "") -> None:
        observe_end_to_end(pipeline, seconds)

    @staticmethod
    def observe_end_to_end_many(seconds: Iterable[float], pipeline: str = "") -> None:
        """A batch's latencies: the labelled histogram looked up once, not per result."""
        observe_many(_metrics().end_to_end.labels(pipeline), [max(0.0, s) for s in seconds])

    @staticmethod
    def set_inflight(batches: int, paused_partitions: int) -> None:
        set_in_flight(batches)
        set_paused(paused_partitions)


# ---- reading (the HTTP server) -----------------------------------------------------------

def registry():
    """The registry to expose: an aggregate of the multiprocess folder when one is set (a fresh
    registry each scrape is what prometheus_client recommends), else the default registry."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    folder = multiprocess_dir()
    if not folder:
        return REGISTRY
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=folder)
    return reg


class GpuCollector:
    """GPU memory and utilisation from NVML, read at scrape time. ``GpuCollector.create()``
    returns None when ``pynvml`` is missing or no GPU answers, so callers register it only
    when it can work."""

    def __init__(self, nvml, count: int):
        self._nvml = nvml
        self._count = count

    @classmethod
    def create(cls) -> "GpuCollector | None":
        try:
            import pynvml  # package nvidia-ml-py

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception:
            return None
        return cls(pynvml, count) if count > 0 else None

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        used = GaugeMetricFamily(f"{PREFIX}_gpu_memory_used_bytes", "GPU memory in use", labels=["gpu"])
        total = GaugeMetricFamily(f"{PREFIX}_gpu_memory_total_bytes", "GPU memory", labels=["gpu"])
        util = GaugeMetricFamily(f"{PREFIX}_gpu_utilization_ratio",
                                 "Fraction of the last sample period a kernel ran", labels=["gpu"])
        nv = self._nvml
        for i in range(self._count):
            try:
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                rates = nv.nvmlDeviceGetUtilizationRates(h)
            except Exception:  # a GPU fallen off the bus: report the others
                continue
            used.add_metric([str(i)], float(mem.used))
            total.add_metric([str(i)], float(mem.total))
            util.add_metric([str(i)], rates.gpu / 100.0)
        return [used, total, util]
