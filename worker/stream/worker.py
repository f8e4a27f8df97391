"""The streaming worker of one process: consume -> admit -> micro-batch -> DALI (in a thread)
-> outcomes -> delivery. Wiring only; each step's logic lives in the module named after it.

Concurrency, all on one asyncio loop:
- the fetch loop keeps calling ``getmany()`` (heartbeats and ``max.poll.interval.ms`` stay
  healthy) and flushes micro-batches that are full or due;
- each batch runs in its pipeline's own thread (a DALI pipeline is not thread-safe; DALI
  releases the GIL, so fetching, encoding and producing go on meanwhile);
- when a route has ``max_inflight_batches`` batches unfinished, the partitions of that route's
  input topics are paused (backpressure, ``backpressure.py``) and resumed when one finishes:
  memory stays bounded without stopping polls, and a route whose model is down holds only its
  own partitions; a partition whose records are already fetched is not paused but left out of
  ``getmany()`` until then, so that they are not dropped and fetched again (``fetch_hold.py``);
- the commit loop hands positions to delivery every ``commit_interval_ms``;
- the health loop tells readiness and metrics, every second, whether the loop turns and whether
  Kafka answers (``kafka_health.py``).

At start the Kafka clients are made and started until the broker answers: an unreachable
broker costs one log line per attempt, with a growing pause between attempts (1 s to 30 s), and
readiness names what the worker waits for; a security failure stops the start at once
(``KafkaStartError``: one line and exit 2).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from aiokafka.consumer.subscription_state import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from aiokafka.errors import (AuthenticationFailedError, ClusterAuthorizationFailedError,
                             GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError,
                             TransactionalIdAuthorizationFailed)

from worker import kafka_log

from worker.config import WorkerConfig
from worker.stream import fetch_hold
from worker.stream.backpressure import Backpressure
from worker.stream.batching import Batch, MicroBatcher
from worker.stream.delivery import AtLeastOnce, Delivery, DeliveryError, ExactlyOnce, OutRecord, Unit
from worker.stream.errors import MessageError
from worker.kafka_security import KafkaStartError
from worker.stream.kafka import make_consumer, make_producer
from worker.stream.kafka_health import KafkaHealth, describe_error
from worker.stream import txn_id
from worker.stream.offsets import OffsetTracker
from worker.stream.outcomes import build_unit, dead_letter_record, from_pipeline
from worker.pipeline.faults import fault_injection
from worker.stream.poison import PoisonGuard
from worker.stream.plan import LanePlan, Plan
from worker.stream.routing import Pending, Router, clip

log = logging.getLogger("worker")

# dead letters being written hold their original values: past this many, fetching pauses
MAX_PENDING_DEAD_LETTERS = 256
# the partition a getmany() names when every assigned one is kept or paused (never assigned)
NOTHING = TopicPartition("", -1)
# /healthz fails when the fetch loop has not turned for this long (it turns at least every 100 ms)
LOOP_STALL_S = 30.0
# an unreachable broker at start: the pause before the next attempt doubles up to this
START_BACKOFF_MAX_S = 30.0
# answers at start that no retry will change (the rest: one line, a pause, another attempt)
_REFUSED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError, ClusterAuthorizationFailedError,
            TransactionalIdAuthorizationFailed, AuthenticationFailedError)


@dataclass
class Lane:
    """One lane of the plan (a route and a pipeline, with their settings), the pipeline
    instance that runs its batches and that instance's single thread (shared by lanes with the
    same ``runner_key``)."""

    plan: LanePlan
    run: Callable  # list[dict[str, ndarray]] -> list[SampleResult]; called in the thread
    pool: ThreadPoolExecutor
    model_client: object = None  # worker.inference client, when the lane forwards to a model
    close: Callable | None = None  # stops the runner (its DALI child process) at shutdown
    isolated: bool = False  # DALI runs in a child process: a crash there costs one sample
    runner: object = None  # the runner behind ``run`` and ``close`` (live reload reuses it)


class StreamWorker:
    def __init__(self, cfg: WorkerConfig, plan: Plan, lanes: dict[str, Lane], metrics=None,
                 readiness=None, reloader=None) -> None:
        self.cfg = cfg
        self.lanes = lanes  # by lane key, as in plan.lanes
        self.metrics = metrics
        self.readiness = readiness
        self.tracker = OffsetTracker()
        self.router = Router(cfg, plan)
        self.batcher: MicroBatcher[Pending] = MicroBatcher(
            {k: lane.plan.max_batch_size for k, lane in lanes.items()},
            {k: lane.plan.max_delay_s for k, lane in lanes.items()},
            {k: lane.plan.route.max_batch_decoded_bytes for k, lane in lanes.items()},
            weight=lambda p: p.decoded_bytes)  # a batch's memory budget (batching.py)
        self.consumer = None
        self.producer = None
        self.delivery: Delivery | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self.backpressure = Backpressure(
            cfg.max_inflight_batches, {t: i for i, r in enumerate(cfg.routes) for t in r.inputs},
            MAX_PENDING_DEAD_LETTERS)
        self._dead_letters_pending = 0  # each holds its original value (up to max_message_bytes)
        self._stop_waiter: asyncio.Future | None = None
        self._next_commit = 0.0
        self._paused: set = set()  # partitions paused by backpressure
        # partitions at their limit whose fetched records are kept (fetch_hold.py), and the
        # future that wakes the fetch loop once one of them may be read again
        self._kept: set = set()
        self._room: asyncio.Future | None = None
        self.fatal: BaseException | None = None
        # results are encoded here so that a lane's thread goes straight on to its next batch
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="encode")
        self.poison = PoisonGuard(cfg.state_dir, f"slot{cfg.slot}")
        self._volume_reported: set[str] = set()
        # live reload (reload.py): it calls swap(); batches submitted per runner (by its pool),
        # and the runners swapped out that wait for theirs to finish before they are closed
        self.reloader = reloader
        self._pool_batches: dict[int, int] = {}
        self._retiring: dict[int, Lane] = {}
        # liveness (health.py): the fetch loop's last turn, and when each busy lane's batch went in
        self._loop_beat = 0.0
        self._busy_since: dict[str, float] = {}
        self.kafka = KafkaHealth(cfg.kafka_ready_timeout_s)
        self.transactional_id: str | None = None  # exactly-once: the id this process claimed
        self._txn_lock: int | None = None
        if readiness is not None:
            readiness.set_stall_limits(LOOP_STALL_S, cfg.liveness_timeout_s)

    # -- life cycle ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        if self.readiness is not None:
            self.readiness.stopping()
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped (SIGTERM: drain and commit) or a delivery failure (exit 1, no commit)."""
        try:
            if not await self._connect():
                log.info("stopped while waiting for Kafka: nothing consumed, nothing to commit")
                return 0
            log.info("worker %s consuming %s in group %s (%s), pipelines %s",
                     self.cfg.worker_id, ", ".join(self.cfg.input_topics), self.cfg.group_id,
                     self.cfg.delivery, ", ".join(sorted({l.plan.pipeline.name for l in self.lanes.values()})))
            committer = asyncio.create_task(self._commit_loop())
            health = asyncio.create_task(self._health_loop())
            try:
                await self._fetch_loop()
            finally:
                # a cancel inside commit_transaction would leave the transaction committing in
                # the background and its units buffered: let the loop see the stop and finish
                self._stop.set()
                await committer
                await health
            if self.fatal is None:
                await self._drain()
        finally:
            await self._close()
        if self.fatal is not None:
            log.error("worker stopped without committing unfinished work: %s", self.fatal)
            return 1
        log.info("worker %s drained and stopped: %d outcomes delivered (%d dead letters)",
                 self.cfg.worker_id, self.delivery.delivered if self.delivery else 0,
                 self.delivery.dead_letters if self.delivery else 0)
        return 0

    async def _connect(self) -> bool:
        """Make and start the Kafka clients until the broker answers (False: stopped first).
        Each failed attempt is one line: the clients are closed (no "Unclosed AIOKafkaConsumer"),
        aiokafka's own lines about it are muted, and the pause doubles up to 30 s."""
        if self.cfg.delivery == "exactly-once" and self._txn_lock is None:
            self.transactional_id, self._txn_lock = txn_id.claim(
                self.cfg.transactional_id, os.path.join(self.cfg.state_dir, "transactional-ids"),
                chosen=bool(self.cfg.transactional_id_prefix))
            if self.transactional_id != self.cfg.transactional_id:
                log.info("transactional id %s is held by another worker on this host: this one uses %s",
                         self.cfg.transactional_id, self.transactional_id)
        attempt = 0
        while True:
            attempt += 1
            self.producer = make_producer(self.cfg, self.transactional_id)
            self.consumer = make_consumer(self.cfg, _Listener(self))
            self.kafka.watch(self.producer.client)
            self.kafka.watch(self.consumer._client)
            # before the consumer starts: its first assignment (inside start) reaches delivery
            if self.cfg.delivery == "exactly-once":
                self.delivery = ExactlyOnce(self.producer, self.tracker, self.cfg.group_id, self.consumer)
            else:
                self.delivery = AtLeastOnce(self.producer, self.tracker, self.consumer)
            self.delivery.on_written = self._count_written
            self.delivery.health = self.kafka
            try:
                with kafka_log.muted():
                    await self.producer.start()
                    await self.consumer.start()
            except KafkaStartError:
                await self._close_clients()
                raise
            except _REFUSED as exc:  # the broker answered: waiting will not change its mind
                await self._close_clients()
                raise KafkaStartError(
                    f"Kafka at {self.cfg.bootstrap_servers} refused this worker at start: "
                    f"{describe_error(exc)}; fix: grant its principal the ACLs it needs (Describe and "
                    "Write on its topics, Read on the group, and with exactly-once Write on its "
                    "transactional id prefix; docs/security.md)") from None
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                await self._close_clients()
                delay = min(START_BACKOFF_MAX_S, 2.0 ** (attempt - 1))
                cause = describe_error(exc)
                log.warning("Kafka at %s cannot be reached (%s); attempt %d, next in %.0f s",
                            self.cfg.bootstrap_servers, cause, attempt, delay)
                if self.readiness is not None:
                    self.readiness.waiting(f"Kafka at {self.cfg.bootstrap_servers} ({cause})")
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    return False
                except asyncio.TimeoutError:
                    continue
            if attempt > 1:
                log.info("Kafka at %s answered (attempt %d)", self.cfg.bootstrap_servers, attempt)
            if self.readiness is not None:
                self.readiness.waiting("")
            return True

    async def _close_clients(self) -> None:
        """Stop both clients (started or not: an unstopped one warns when collected)."""
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception as exc:  # noqa: BLE001 - closing a client that never connected
                    log.debug("closing a Kafka client: %r", exc)
        self.consumer = self.producer = None

    async def _drain(self) -> None:
        """SIGTERM: stop fetching, run what is batched, wait for in-flight work, commit."""
        for batch in self.batcher.drain():
            self._submit(batch)
        deadline = asyncio.get_running_loop().time() + self.cfg.drain_timeout_s
        while self._tasks and self.fatal is None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                log.warning("drain: %d tasks unfinished after %.0f s; their inputs stay uncommitted",
                            len(self._tasks), self.cfg.drain_timeout_s)
                break
            await asyncio.wait(list(self._tasks), timeout=left)
        if self.fatal is None:
            await self.delivery.flush()

    async def _close(self) -> None:
        await self._close_clients()
        if self._txn_lock is not None:  # the transactional id is free for this host's next worker
            txn_id.release(self._txn_lock)
            self._txn_lock = None
        for client in {id(l.model_client): l.model_client for l in self.lanes.values()
                       if l.model_client is not None}.values():
            await client.close()
        loop = asyncio.get_running_loop()
        # one close per runner: lanes that share a runner share its pool (bound methods differ)
        lanes = [*self.lanes.values(), *self._retiring.values()]
        for lane in {id(l.pool): l for l in lanes if l.close is not None}.values():
            # in the lane's own thread, after any batch still there (a drain that timed out)
            try:
                await asyncio.wait_for(loop.run_in_executor(lane.pool, lane.close), 10)
            except Exception as exc:  # noqa: BLE001 - shutting down: the child dies with us anyway
                log.warning("lane %s: closing its runner failed: %r", lane.plan.key, exc)

    # -- the loops ----------------------------------------------------------------------------
    async def _fetch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop_waiter = asyncio.ensure_future(self._stop.wait())
        if self.reloader is not None:  # ends by itself once _stop is set (it never swaps after)
            loop.create_task(self.reloader.run(self, self._stop))
        while not self._stop.is_set():
            self._loop_beat = time.time()
            deadline = self.batcher.next_deadline()
            timeout_ms = 100 if deadline is None else max(0, min(100, int((deadline - loop.time()) * 1000)))
            data = await self._fetch(timeout_ms)
            if data is None:  # stopping while getmany waits (e.g. for a rebalance to end)
                break
            now = loop.time()
            for tp, records in data.items():
                if self.metrics:  # one call per partition and fetch, not per record
                    self.metrics.message_in(tp.topic, len(records))
                for record in records:
                    self._on_record(record, now)
            for batch in self.batcher.due(loop.time()):
                self._submit(batch)
            self._backpressure()

    async def _fetch(self, timeout_ms: int) -> dict | None:
        """One getmany(); None when stopping. With partitions paused or kept (fetch_hold.py)
        only the others are asked for (aiokafka drops the records of a paused partition that
        a getmany() of it meets: a fetch that was under way when it paused), and the call ends
        early once one of them may be read again."""
        if not self._kept and not self._paused:
            fetch = asyncio.ensure_future(self.consumer.getmany(timeout_ms=timeout_ms, max_records=512))
            waits = {fetch, self._stop_waiter}
        else:
            parts = self.consumer.assignment() - self._kept - self._paused
            # nothing else to ask for: a getmany() of no real partition still counts as a poll
            # (max.poll.interval.ms) and still raises the consumer's errors
            fetch = asyncio.ensure_future(self.consumer.getmany(*(parts or {NOTHING}), timeout_ms=timeout_ms,
                                                                max_records=512))
            self._room = asyncio.get_running_loop().create_future()
            waits = {fetch, self._stop_waiter, self._room}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if fetch.done():
            return fetch.result()
        if self._stop.is_set():
            fetch.cancel()
            return None
        # room for a partition left out: end this call (it was waiting, so it had no records)
        return await fetch_hold.end_poll(self.consumer, fetch)

    async def _commit_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), min(1.0, self.cfg.commit_interval_ms / 1000.0))
                return  # stopping: the drain commits
            except asyncio.TimeoutError:
                pass
            now = asyncio.get_running_loop().time()
            if now < self._next_commit:
                continue
            self._next_commit = now + self.cfg.commit_interval_ms / 1000.0
            try:
                await self.delivery.commit()
            except Exception as exc:  # a failed transaction: nothing is committed, stop
                self._fail(exc)
                return
            if self.metrics:
                try:
                    await self.metrics.update_lag(self.consumer)
                except Exception as exc:  # lag is for operators; never let it stop the worker
                    log.debug("lag update failed: %r", exc)

    async def _health_loop(self) -> None:
        """Every second: liveness (the fetch loop's last turn, busy lanes) and Kafka's health, to
        readiness and metrics. A task of its own, so that a commit waiting on a broker that is
        away never makes the worker look dead (/healthz); it makes it not ready (/readyz)."""
        while not self._stop.is_set():
            try:
                self._report_health()
            except Exception as exc:  # noqa: BLE001 - a report that failed once (a full /tmp for
                # the readiness file, a metrics write) must neither end this loop (the worker would
                # look dead and be restarted) nor surface in run() and skip the drain's commit
                log.warning("health report failed (retried every second): %r", exc)
            try:
                await asyncio.wait_for(self._stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    def _report_health(self) -> None:
        if self.consumer is not None:
            self.kafka.fetching(bool(self.consumer.assignment() - self._paused - self._kept))
        status = self.kafka.status()
        if self.readiness is not None:
            self.readiness.heartbeat(self._loop_beat, self._busy_since)
            self.readiness.kafka_status(status.fetch_since, status.commit_since, status.cause,
                                        self.cfg.kafka_ready_timeout_s, status.unreachable_since)
        if self.metrics is not None and hasattr(self.metrics, "set_kafka_health"):
            now = time.time()
            self.metrics.set_kafka_health(status.connected, now - status.last_fetch,
                                          now - status.last_commit)

    # -- per record -----------------------------------------------------------------------------
    def _on_record(self, record, now: float) -> None:
        tp = (record.topic, record.partition)
        epoch = self.tracker.begin(tp, record.offset)
        if epoch is None:  # fetched again (a position reset) while its first copy is in flight
            return
        try:
            pending = self.router.admit(record, epoch)
        except MessageError as err:
            self._dead_letter_now(record, epoch, err)
            return
        key = (record.topic, record.partition, record.offset)
        if self.poison.crashes(key):
            if self.poison.quarantined(key):
                self._dead_letter_now(record, epoch, MessageError(
                    "pipeline_error", f"message {pending.id!r} ({record.topic}/{record.partition}/"
                    f"{record.offset}) was in DALI each time a worker process crashed "
                    f"({self.poison.crashes(key)} times); it is set aside so that the partition moves "
                    "on. Check the media (a corrupt file can crash DALI's decoder)",
                    id=pending.id, pipeline=pending.pipeline))
                self.poison.settled(key)
            else:  # was in a batch that crashed the last worker: run it alone
                self._submit(Batch(pending.lane.key, [pending], now, "suspect"))
            return
        full = self.batcher.add(pending.lane.key, pending, now)
        if full is not None:
            self._submit(full)

    def _dead_letter_now(self, record, epoch: int, err: MessageError) -> None:
        route = self.cfg.route_for_topic(record.topic)
        log.warning("dead letter %s/%s@%s [%s]: %s", record.topic, record.partition, record.offset,
                    err.reason, clip(str(err), 2000))
        out = dead_letter_record(self.cfg, self.cfg.dead_letter_for(route), reason=err.reason,
                                 error=str(err), original=record.value, key=record.key,
                                 source=(record.topic, record.partition, record.offset, record.timestamp),
                                 epoch=epoch, id=err.id, pipeline=err.pipeline)
        self._dead_letters_pending += 1
        task = self._spawn(self.delivery.deliver(Unit([out])))
        task.add_done_callback(self._dead_letter_done)

    def _count_written(self, records: list[OutRecord]) -> None:
        """Metrics of one unit's written records: one call per topic and per reason, not per record."""
        if self.metrics is None:
            return
        counts = Counter(("dead_letter", r.reason) if r.kind == "dead_letter" else ("result", r.topic)
                         for r in records)
        for (kind, what), n in counts.items():
            if kind == "dead_letter":
                self.metrics.dead_letter(what, n)
            else:
                self.metrics.results_out(n, topic=what)

    def _dead_letter_done(self, _task) -> None:
        self._dead_letters_pending -= 1
        self._backpressure()

    # -- batches ------------------------------------------------------------------------------
    def _submit(self, batch: Batch[Pending]) -> None:
        # the lane now: a live reload may swap it before the task starts, the batch stays on it
        lane = self.lanes[batch.key]
        self.backpressure.submitted(lane.plan.route_index)
        self._pool_batches[id(lane.pool)] = self._pool_batches.get(id(lane.pool), 0) + 1
        task = self._spawn(self._run_batch(batch, lane))
        task.add_done_callback(lambda _: self._batch_done(lane))

    def _batch_done(self, lane: Lane) -> None:
        self.backpressure.finished(lane.plan.route_index)
        self._pool_batches[id(lane.pool)] -= 1
        self._backpressure()

    # -- live reload ----------------------------------------------------------------------------
    def swap(self, plan: Plan, lanes: dict[str, Lane]) -> list[Lane]:
        """Serve ``plan`` with ``lanes`` from now on, between two batches (reload.py): the open
        batches of lanes that change or go are submitted first, to the lanes that admitted
        them; runners no lane uses any more are closed once their batches have finished.
        Returns those retired runners' lanes."""
        old = self.lanes
        for key, lane in old.items():
            if lanes.get(key) is not lane:
                batch = self.batcher.take(key)
                if batch is not None:
                    self._submit(batch)
        self.lanes = lanes
        self.router = Router(self.cfg, plan)
        self.batcher.configure({k: lane.plan.max_batch_size for k, lane in lanes.items()},
                               {k: lane.plan.max_delay_s for k, lane in lanes.items()},
                               {k: lane.plan.route.max_batch_decoded_bytes for k, lane in lanes.items()})
        in_use = {id(lane.pool) for lane in lanes.values()}
        retired = [lane for pool, lane in {id(l.pool): l for l in old.values()}.items() if pool not in in_use]
        for lane in retired:
            self._retiring[id(lane.pool)] = lane
            self._spawn(self._retire(lane))
        return retired

    async def _retire(self, lane: Lane) -> None:
        """Close a swapped-out runner after its in-flight batches (polled: a swap is rare)."""
        while self._pool_batches.get(id(lane.pool), 0) > 0:
            await asyncio.sleep(0.05)
        try:
            if lane.close is not None:
                await asyncio.get_running_loop().run_in_executor(lane.pool, lane.close)
            log.info("released pipeline %s version %d (its batches are done)",
                     lane.plan.pipeline.name, lane.plan.version)
        except Exception as exc:  # noqa: BLE001 - its work is done; a failed close must not stop us
            log.warning("pipeline %s version %d: closing the swapped-out runner failed: %r",
                        lane.plan.pipeline.name, lane.plan.version, exc)
        finally:
            self._retiring.pop(id(lane.pool), None)
            self._pool_batches.pop(id(lane.pool), None)
            lane.pool.shutdown(wait=False)

    async def _run_batch(self, batch: Batch[Pending], lane: Lane) -> None:
        loop = asyncio.get_running_loop()
        items = batch.items
        t0 = time.perf_counter()
        name = lane.plan.pipeline.name
        results = await loop.run_in_executor(lane.pool, self._run_guarded, lane, items)
        t1 = time.perf_counter()
        outcomes = [from_pipeline(r) for r in results]
        timings = {"batch_wait_ms": round((loop.time() - batch.opened_at) * 1000 - (t1 - t0) * 1000, 3),
                   "pipeline_ms": round((t1 - t0) * 1000, 3)}
        model = None
        if lane.model_client is not None:
            outcomes = await lane.model_client.forward(outcomes)
            timings["model_ms"] = round((time.perf_counter() - t1) * 1000, 3)
            model = lane.model_client.model_info
        unit = await loop.run_in_executor(self._encoder, build_unit, items, outcomes, self.cfg, timings, model)
        self._report_volume(name, unit)
        if self.metrics:
            self.metrics.observe_batch(name, len(items), t1 - t0)
        await self.delivery.deliver(unit)
        if batch.reason == "suspect":
            for p in items:
                self.poison.settled((p.tp[0], p.tp[1], p.offset))
        if self.metrics:
            now_ms = time.time() * 1000
            by_pipeline: dict[str, list[float]] = {}
            for p in items:
                by_pipeline.setdefault(p.pipeline, []).append((now_ms - p.timestamp_ms) / 1000.0)
            for pipeline, seconds in by_pipeline.items():  # one histogram lookup per batch
                self.metrics.observe_end_to_end_many(seconds, pipeline=pipeline)

    def _report_volume(self, name: str, unit: Unit) -> None:
        """Once per pipeline: what a result weighs on the wire (shapes are often known only now)."""
        sizes = [len(r.value) for r in unit.records if r.kind == "result"]
        if name in self._volume_reported or not sizes:
            return
        self._volume_reported.add(name)
        per = sum(sizes) / len(sizes)
        log.info("pipeline %s: results weigh %.1f KiB each on the wire, %.1f MiB/s at 1,000 results/s%s",
                 name, per / 1024, per * 1000 / 2**20,
                 " -- consider output_dtype = float16/uint8, or forwarding to a model"
                 if per * 1000 > 100 * 2**20 else "")

    def _run_guarded(self, lane: Lane, items: list[Pending]) -> list:
        """In the lane's thread: note what enters DALI, so that a crash inside it is survivable.
        An isolated lane's DALI runs in its child, whose crash the runner survives and bisects
        itself: no journal there (two file writes per batch)."""
        inputs = [p.inputs for p in items]
        name = None if lane.isolated else lane.plan.key.replace(":", "-")  # a journal file per lane
        if name is not None:
            self.poison.entering(name, [(p.tp[0], p.tp[1], p.offset) for p in items])
        self._busy_since[lane.plan.key] = time.time()
        try:
            if name is not None:  # an isolated runner injects in its child, where DALI runs
                fault_injection(inputs)
            return lane.run(inputs)
        finally:
            self._busy_since.pop(lane.plan.key, None)
            if name is not None:
                self.poison.left(name)

    def _backpressure(self) -> None:
        """Pause the partitions of the routes at their in-flight limit, resume the others."""
        if self.consumer is None:
            return
        held: dict[int, int] = {}
        if isinstance(self.delivery, ExactlyOnce):
            for unit in self.delivery.buffered:
                route = self.backpressure.route_of_topic.get(unit.records[0].source[0]) if unit.records else None
                if route is not None:
                    held[route] = held.get(route, 0) + 1
        assignment = self.consumer.assignment()
        at_limit = self.backpressure.to_pause(assignment, held, self._dead_letters_pending)
        want, keep = fetch_hold.split(at_limit, fetch_hold.buffered(self.consumer) if at_limit else set())
        pause, resume = want - self._paused, (self._paused - want) & assignment
        if pause:
            self.consumer.pause(*pause)
            log.debug("paused fetching %s: %d batches in flight", sorted(map(tuple, pause)),
                      self.backpressure.total)
        if resume:
            self.consumer.resume(*resume)
        released = self._kept - keep
        self._paused, self._kept = want, keep
        if (resume or released) and self._room is not None and not self._room.done():
            self._room.set_result(None)
        if self.metrics:
            self.metrics.set_inflight(self.backpressure.total, len(self.consumer.paused()) + len(self._kept))

    # -- tasks ----------------------------------------------------------------------------------
    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def _fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            if "Fenced" in type(exc).__name__:
                log.error("another live process uses this worker's transactional id %s (on another "
                          "host with the same hostname and a transactional_id_prefix?): give each worker "
                          "its own transactional_id_prefix or run them under one supervisor (--procs)",
                          self.transactional_id or self.cfg.transactional_id)
            log.error("fatal: %s", exc, exc_info=not isinstance(exc, DeliveryError))
            if self.readiness is not None:
                self.readiness.failed(str(exc))
        self._stop.set()

    # -- rebalances -----------------------------------------------------------------------------
    async def on_revoked(self, revoked) -> None:
        tps = {(tp.topic, tp.partition) for tp in revoked}
        if not tps:
            return
        try:
            dropped = self.batcher.discard(lambda p: p.tp in tps)
            # give batches already running a bounded moment to finish, so that their outcomes
            # are committed rather than redone by the next owner (never more than a fraction of
            # the poll interval: the group waits for us)
            if self._tasks and self.fatal is None:
                await asyncio.wait(list(self._tasks), timeout=min(5.0, self.cfg.max_poll_interval_ms / 10000))
            if self.fatal is None and self.delivery is not None:
                await self.delivery.on_revoke(tps)
            log.info("revoked %s (%d batched samples dropped for the next owner)", sorted(tps), len(dropped))
        except Exception as exc:  # aiokafka would only log it and go on with stale state
            self._fail(exc)
        finally:
            for tp in tps:
                self.tracker.revoke(tp)
            if self.readiness is not None:
                self.readiness.group_left()

    async def on_assigned(self, assigned) -> None:
        keys = [(tp.topic, tp.partition) for tp in assigned]
        # before any await: records of these partitions may be fetched while we wait below
        for key in keys:
            self.tracker.assign(key)
        if isinstance(self.delivery, ExactlyOnce):
            self.delivery.joined()  # the generation that owns these partitions
        try:
            for tp, key in zip(assigned, keys):
                committed = await self.consumer.committed(tp)
                self.tracker.assign(key, committed)  # same epoch, now with its committed position
                if isinstance(self.delivery, ExactlyOnce):
                    self.delivery.assigned(key, committed)
        except Exception as exc:
            self._fail(exc)
            return
        self._paused, self._kept = set(), set()  # a new assignment starts unpaused
        self._backpressure()
        if self.metrics:
            self.metrics.set_assigned(self.consumer.assignment())
        if self.readiness is not None:
            self.readiness.group_joined(len(self.consumer.assignment()))
        log.info("assigned %s", sorted(keys))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned) -> None:
        await self.worker.on_assigned(assigned)

