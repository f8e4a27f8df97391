"""Delivery: what may be committed, and when. The only module that commits offsets.

Every consumed record ends as exactly one *outcome*: a result, or a dead letter. An input
offset is finished only when its outcome is durably written (broker acks with ``acks=all``),
and a position is committed only below the lowest unfinished offset (``offsets.py``). Two modes:

at-least-once
    Outcomes are produced by an idempotent producer as soon as they exist, in any order; when a
    record's ack arrives its offset is finished; a periodic commit (and one on revoke and at
    shutdown) commits what the tracker allows. A crash between ack and commit re-processes some
    messages (duplicates), never loses one.

exactly-once
    Outcomes and the consumed positions go to Kafka in the *same transaction*
    (``send_offsets_to_transaction``). A result may only enter a transaction together with the
    position that covers its input; a unit whose input lies above an unfinished offset waits in
    a buffer until the gap closes (``plan_release``), otherwise a crash would leave a committed
    result whose input is re-consumed and published a second time. Readers of the output use
    ``isolation_level=read_committed``. The transactional id is stable per worker slot, so a
    restarted process fences its dead predecessor and aborts its open transaction. The offsets
    carry the group generation and member id of the assignment (TxnOffsetCommit v3,
    ``txn_fencing.py``): a worker that was evicted while alive (a pause longer than the session
    timeout) has its transaction refused and aborted instead of committing duplicates.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field

from aiokafka.errors import (InvalidTopicError, KafkaError, KafkaTimeoutError, MessageSizeTooLargeError,
                             TopicAuthorizationFailedError, UnknownTopicOrPartitionError)
from aiokafka.structs import TopicPartition as KafkaTP

from worker.reasons import Reason
from worker.stream.offsets import OffsetTracker, TopicPartition
from worker.stream.txn_fencing import STALE_MEMBERSHIP, GroupMetadata, StaleGroupMembership, group_metadata

log = logging.getLogger(__name__)

# what the broker answers to a write into a topic the worker must not or cannot write
_REPLY_TO_ERRORS = (InvalidTopicError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError)


@dataclass
class OutRecord:
    """One outcome to produce: a result or a dead letter for the input at ``source``."""

    topic: str
    value: bytes
    key: bytes | None
    source: TopicPartition
    offset: int
    epoch: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    kind: str = "result"  # "result" | "dead_letter"
    reason: str | None = None  # a dead letter's reason code
    # (reason, why) -> the OutRecord to write instead when this one cannot be written: a result
    # too large for the producer or the broker, or whose reply_to topic cannot be written, becomes
    # a dead letter; a dead letter the broker still refuses becomes one without the original
    # value. None: nothing smaller to fall back to (then the worker stops without committing)
    on_unwritable: object = None
    from_reply_to: bool = False  # the topic came from the message, not from the configuration


@dataclass
class Unit:
    """Outcomes that became ready together (a batch, or one dead letter)."""

    records: list[OutRecord]


class DeliveryError(RuntimeError):
    """An outcome could not be written: the worker must stop without committing it."""


def _observe(fut) -> None:
    if not fut.cancelled():
        fut.exception()


def _fault_stop_before_transaction(units: list[Unit]) -> None:
    """Testing only (the zombie chaos test): with ``DSW_FAULT_STOP_BEFORE_COMMIT=<key>`` set, the
    process stops itself (SIGSTOP, like a long GC pause) right before the transaction that carries
    the outcome of the input with that key; it goes on where it stopped when continued."""
    marker = os.environ.get("DSW_FAULT_STOP_BEFORE_COMMIT")
    if not marker or not any(r.key == marker.encode() for u in units for r in u.records):
        return
    del os.environ["DSW_FAULT_STOP_BEFORE_COMMIT"]  # once
    log.warning("fault injection: stopping itself before the transaction that carries %s", marker)
    for h in logging.getLogger().handlers:
        h.flush()
    os.kill(os.getpid(), signal.SIGSTOP)


def plan_release(buffered: list[Unit], tracker: OffsetTracker,
                 committed: dict[TopicPartition, int]) -> tuple[list[Unit], dict[TopicPartition, int]]:
    """Exactly-once: which buffered units may enter a transaction now, and the positions to commit
    with them. A unit goes only if every input offset it carries lies below its partition's bound:
    the lowest offset not yet processed, lowered by every unit that has to stay. Held units lower
    the bound, which may hold more units: iterate to the fixpoint (units only ever leave the
    candidate set, so it terminates)."""
    candidates = list(buffered)
    held: list[Unit] = []
    while True:
        bound: dict[TopicPartition, int] = {}
        for unit in held:
            for r in unit.records:
                if r.offset < bound.get(r.source, 1 << 62):
                    bound[r.source] = r.offset

        def limit(tp: TopicPartition) -> int:
            pos = tracker.position(tp)
            b = bound.get(tp, 1 << 62)
            return b if pos is None else min(pos, b)

        newly = [u for u in candidates if any(r.offset >= limit(r.source) for r in u.records)]
        if not newly:
            break
        held.extend(newly)
        candidates = [u for u in candidates if u not in newly]
    positions = {}
    for tp in {r.source for u in candidates for r in u.records} | set(committed):
        pos = limit(tp)
        if pos < (1 << 62) and pos > committed.get(tp, -1):
            positions[tp] = pos
    return candidates, positions


class Delivery:
    """Shared by both modes: producing outcomes and turning an oversized result into a dead letter."""

    exactly_once = False

    def __init__(self, producer, tracker: OffsetTracker) -> None:
        self.producer = producer
        self.tracker = tracker
        self.delivered = 0
        self.dead_letters = 0
        # called once per unit with its records the broker has, each as what it finally is (a
        # result that became a dead letter at send time counts as a dead letter): metrics
        self.on_written = None
        # stream/kafka_health.py: each commit's start and outcome (readiness, metrics)
        self.health = None

    def _commit_started(self) -> None:
        if self.health is not None:
            self.health.commit_started()

    def _commit_succeeded(self) -> None:
        if self.health is not None:
            self.health.commit_succeeded()

    def _commit_failed(self, exc) -> None:
        if self.health is not None:
            self.health.commit_failed(exc)

    async def _produce(self, records: list[OutRecord]) -> None:
        futures = []
        for r in records:
            fut = await self._send(r)
            # observed as soon as it exists: when a later send raises (a fenced producer) or one
            # fails and we stop, the others' errors are not news, and an unobserved one would be
            # logged as "Future exception was never retrieved"
            fut.add_done_callback(_observe)
            futures.append((r, fut))
        written: list[OutRecord] = []
        try:
            await self._await_acks(futures, written)
        finally:  # one call per unit, with what the broker has (all of it, unless this raises)
            if written and self.on_written is not None:
                self.on_written(written)

    async def _await_acks(self, futures: list, written: list[OutRecord]) -> None:
        for r, fut in futures:
            try:
                await fut
            except MessageSizeTooLargeError as exc:  # the broker's limit, below the producer's
                if r.on_unwritable is None:
                    raise DeliveryError(self._lost(r, exc)) from exc
                self._replace(r, Reason.RESULT_TOO_LARGE, f"the broker refused it: {exc}")
                await (await self._send(r))
            except _REPLY_TO_ERRORS as exc:
                # a topic named by the message itself, refused by the broker (internal, denied,
                # invalid): the message's fault, so its dead letter, never a stop. Inside a
                # transaction a failed send dooms the transaction: stop, and the restart finds
                # the message refused by routing or writes its dead letter the same way
                if not (r.from_reply_to and r.on_unwritable is not None and not self.exactly_once):
                    raise DeliveryError(self._denied(r) if isinstance(exc, TopicAuthorizationFailedError)
                                        and not r.from_reply_to else self._lost(r, exc)) from exc
                self._replace(r, Reason.REPLY_TO_REFUSED, f"the broker refused its reply_to topic "
                              f"{r.topic!r}: {exc!r}")
                await (await self._send(r))
            except KafkaError as exc:
                raise DeliveryError(self._lost(r, exc)) from exc
            self.delivered += 1
            if r.kind == "dead_letter":
                self.dead_letters += 1
            written.append(r)

    @staticmethod
    def _lost(r: OutRecord, exc: BaseException) -> str:
        return (f"could not write the {r.kind} for {r.source[0]}/{r.source[1]}@{r.offset} to {r.topic}: "
                f"{exc!r}; nothing past it is committed")

    def _denied(self, r: OutRecord) -> str:
        """An ACL refuses one of our own topics: name the topic, the operation and the fix."""
        who = getattr(self.producer, "dsw_principal", None)
        return (f"the broker denied operation WRITE on topic {r.topic!r} to "
                f"{who or 'the principal of this worker'} (the {r.kind} for {r.source[0]}/{r.source[1]}@{r.offset}); "
                f"nothing past it is committed; fix: grant it, e.g. kafka-acls --add --allow-principal "
                f"{who or 'User:<name>'} --operation Write --operation Describe --topic {r.topic}")

    def _replace(self, r: OutRecord, reason: Reason, why: str) -> None:
        """Write ``r.on_unwritable(reason, why)`` in ``r``'s place (same input, same epoch)."""
        new = r.on_unwritable(reason, why)
        log.warning("%s for %s/%s@%s not writable to %s (%s); writing %s instead", r.kind,
                    r.source[0], r.source[1], r.offset, r.topic, why,
                    "a dead letter" if r.kind == "result" else "it without the original value")
        r.topic, r.value, r.key, r.headers = new.topic, new.value, new.key, new.headers
        r.kind, r.reason, r.on_unwritable, r.from_reply_to = new.kind, new.reason, new.on_unwritable, False

    async def _send(self, r: OutRecord):
        try:
            return await self.producer.send(r.topic, r.value, key=r.key, headers=r.headers or None)
        except MessageSizeTooLargeError as exc:
            if r.on_unwritable is None:
                raise DeliveryError(f"{r.kind} for {r.source[0]}/{r.source[1]}@{r.offset} is too large "
                                    f"for the producer ({len(r.value)} bytes): raise max_request_size") from exc
            self._replace(r, Reason.RESULT_TOO_LARGE, str(exc))
            return await self._send(r)
        except TopicAuthorizationFailedError as exc:  # no DESCRIBE either: refused at metadata
            if not r.from_reply_to or r.on_unwritable is None:
                raise DeliveryError(self._denied(r)) from exc
            self._replace(r, Reason.REPLY_TO_REFUSED, f"its reply_to topic {r.topic!r} is not ours to "
                          f"describe or write (ACL): {exc!r}")
            return await self._send(r)
        except (UnknownTopicOrPartitionError, InvalidTopicError, KafkaTimeoutError) as exc:
            if not (r.from_reply_to and r.on_unwritable is not None):
                raise DeliveryError(self._lost(r, exc)) from exc  # our own topic: configuration
            self._replace(r, Reason.REPLY_TO_REFUSED, f"its reply_to topic {r.topic!r} cannot be written: {exc!r}")
            return await self._send(r)

    @staticmethod
    def current(unit: Unit, tracker: OffsetTracker) -> list[OutRecord]:
        """Outcomes whose input partition is still ours in the same assignment."""
        return [r for r in unit.records if tracker.is_current(r.source, r.epoch)]


class AtLeastOnce(Delivery):
    def __init__(self, producer, tracker: OffsetTracker, consumer) -> None:
        super().__init__(producer, tracker)
        self.consumer = consumer
        self._committing = 0  # commits awaiting the coordinator (the loop's, a revoke's, a flush's)

    async def deliver(self, unit: Unit) -> None:
        records = self.current(unit, self.tracker)
        await self._produce(records)
        for r in records:  # acked: now, and only now, the input is finished
            self.tracker.finish(r.source, r.offset, r.epoch)

    async def commit(self, tps=None) -> dict:
        positions = self.tracker.committable(tps)
        if not positions:
            if not self._committing:  # a commit still hanging elsewhere keeps its trouble timer
                self._commit_succeeded()  # nothing processed is left uncommitted
            return {}
        self._commit_started()
        self._committing += 1
        try:
            await self.consumer.commit({KafkaTP(t, p): off for (t, p), off in positions.items()})
        except KafkaError as exc:
            # a rebalance in progress: the new owner starts from the last good commit, which
            # re-processes (at least once), never skips
            log.warning("commit of %s failed (%r); it will be retried", positions, exc)
            self._commit_failed(exc)
            return {}
        finally:
            self._committing -= 1
        self._commit_succeeded()
        self.tracker.mark_committed(positions)
        return positions

    async def on_revoke(self, tps) -> None:
        await self.commit(tps)

    async def flush(self) -> None:
        await self.producer.flush()
        await self.commit()


class ExactlyOnce(Delivery):
    """Transactions that carry the consumer's group membership (``txn_fencing.py``): a worker
    evicted from its group cannot commit for partitions that moved on (zombie fencing, KIP-447)."""

    exactly_once = True

    def __init__(self, producer, tracker: OffsetTracker, group_id: str, consumer=None) -> None:
        super().__init__(producer, tracker)
        self.group_id = group_id
        self.consumer = consumer  # None: offsets go with the bare group id (unfenced; unit tests)
        self.group: GroupMetadata | None = None  # the membership that gave us our partitions
        self._stale_generation: int | None = None  # refused by the coordinator: wait for a new one
        self.buffered: list[Unit] = []
        self.committed: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()  # one transaction at a time per producer

    def joined(self) -> None:
        """Partitions were assigned: remember the generation and member id that own them. Call
        it before anything awaits, so that no transaction of this assignment goes without it."""
        if self.consumer is not None:
            self.group = group_metadata(self.consumer)

    async def deliver(self, unit: Unit) -> None:
        records = self.current(unit, self.tracker)
        for r in records:  # processed; committed only in the transaction that carries it
            self.tracker.finish(r.source, r.offset, r.epoch)
        if records:
            self.buffered.append(Unit(records))
        await self.release()

    async def release(self) -> dict:
        async with self._lock:
            self.buffered = [Unit(rs) for u in self.buffered if (rs := self.current(u, self.tracker))]
            units, positions = plan_release(self.buffered, self.tracker, self.committed)
            if not units and not positions:
                self._commit_succeeded()  # nothing processed is left uncommitted
                return {}
            if self.group is not None and self.group.generation_id == self._stale_generation:
                # evicted: nothing commits until the group gives us a new generation
                self._commit_failed("evicted from the consumer group; waiting to rejoin")
                return {}
            _fault_stop_before_transaction(units)
            self._commit_started()
            try:
                async with self.producer.transaction():
                    await self._produce([r for u in units for r in u.records])
                    if positions:
                        await self.producer.send_offsets_to_transaction(
                            {KafkaTP(t, p): off for (t, p), off in positions.items()},
                            self.group or self.group_id)
            except StaleGroupMembership as exc:
                # a zombie: the group moved our partitions on while we were away; the aborted
                # transaction's outcomes are never read (read_committed), the new owners redo
                # the inputs from the last commit, and the rebalance that follows drops the units
                # still buffered here (their epoch ends)
                self._stale_generation = exc.group.generation_id
                log.warning("this worker was evicted from group %s (generation %s is stale: %s); its "
                            "transaction of %d outcomes was aborted, their inputs are redone by the "
                            "partitions' owners; waiting to rejoin", exc.group.group_id,
                            exc.group.generation_id, STALE_MEMBERSHIP.get(exc.code, exc.code),
                            sum(len(u.records) for u in units))
                self._commit_failed(f"evicted from group {exc.group.group_id}; waiting to rejoin")
                return {}
            except BaseException as exc:
                self._commit_failed(exc)
                raise
            self._commit_succeeded()
            released = {id(u) for u in units}
            self.buffered = [u for u in self.buffered if id(u) not in released]
            self.committed.update(positions)
            self.tracker.mark_committed(positions)
            return positions

    async def commit(self, tps=None) -> dict:
        return await self.release()

    async def on_revoke(self, tps) -> None:
        await self.release()
        for tp in tps:
            self.committed.pop(tp, None)

    async def flush(self) -> None:
        await self.release()

    def assigned(self, tp: TopicPartition, committed: int | None) -> None:
        if committed is not None:
            self.committed[tp] = committed
