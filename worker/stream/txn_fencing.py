"""Zombie fencing for exactly-once (KIP-447) on top of aiokafka: TxnOffsetCommit v3.

aiokafka 0.14 sends ``TxnOffsetCommit`` v0, which carries no group membership: the group
coordinator then accepts offsets from anyone holding the transactional id, so a worker that was
evicted from its group (a long GC pause, SIGSTOP, a partition longer than ``session.timeout.ms``)
but is alive again still commits a transaction for partitions that another worker has already
processed: duplicates in read_committed output (tests/chaos/test_zombie.py counted 208 of 400).

Version 3 (Kafka 2.5+, a *flexible* version: compact strings and arrays, tagged fields, request
header v2) adds the consumer's ``generation_id``, ``member_id`` and ``group_instance_id``; the
coordinator refuses a stale one with ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID.
Here that refusal is an *abortable* transaction error (``StaleGroupMembership``): the caller aborts,
drops the work of the partitions it lost, and goes on once the group has given it a new
generation. (aiokafka raises an unknown error code from inside its sender task, which kills the
producer for good.)

Why this and not a transactional producer per input partition (the pre-KIP-447 scheme): one
producer, one connection set and one transaction per worker whatever the partition count, no
producer start on every rebalance, and the fencing is decided by the coordinator that owns the
group, which is the authority on who owns a partition. The shape follows Java's
``sendOffsetsToTransaction(offsets, ConsumerGroupMetadata)`` so that it could go upstream:
``GroupMetadata``, a versioned request, a handler, a sender and a producer subclass.

The membership sent is the one captured when the partitions were assigned (``group_metadata`` in
the rebalance listener), not the consumer's current one: after an eviction aiokafka's heartbeat
resets the generation to -1 and the member id to "", and the coordinator accepts *transactional*
offsets with exactly that pair without any check (it is what v0 means).

Not covered here: KIP-447's other half, ``OffsetFetch`` v7 with ``require_stable`` (aiokafka sends
v3). A worker stopped *between* its TxnOffsetCommit and its EndTxn (milliseconds) leaves pending
offsets that a new owner does not wait for, so that its commit after the new owner's is a
duplicate; the transaction timeout (aiokafka's 60 s) bounds how long that window can stay open.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import aiokafka.errors as Errors
from aiokafka import AIOKafkaProducer
from aiokafka.client import CoordinationType
from aiokafka.producer.producer import commit_structure_validate
from aiokafka.producer.sender import Sender, TxnOffsetCommitHandler
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.transaction import TxnOffsetCommitRequest_v0
from aiokafka.protocol.types import CompactArray, CompactString, Int16, Int32, Int64, Schema, TaggedFields

log = logging.getLogger(__name__)

# error codes of a stale membership in TxnOffsetCommit v3 (FENCED_INSTANCE_ID has no aiokafka class)
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID = 22, 25, 27, 82
STALE_MEMBERSHIP = {ILLEGAL_GENERATION: "ILLEGAL_GENERATION", UNKNOWN_MEMBER_ID: "UNKNOWN_MEMBER_ID",
                    REBALANCE_IN_PROGRESS: "REBALANCE_IN_PROGRESS", FENCED_INSTANCE_ID: "FENCED_INSTANCE_ID"}


@dataclass(frozen=True)
class GroupMetadata:
    """Java's ``ConsumerGroupMetadata``: who the consumer was in its group when it got its partitions."""

    group_id: str
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None


def group_metadata(consumer) -> GroupMetadata:
    """The membership of an aiokafka consumer right now (call it in ``on_partitions_assigned``,
    where it is the generation that gave the partitions). aiokafka has no public accessor."""
    coordinator = consumer._coordinator
    return GroupMetadata(consumer._group_id, coordinator.generation, coordinator.member_id,
                         getattr(coordinator, "_group_instance_id", None))


class StaleGroupMembership(Errors.CommitFailedError):
    """The group coordinator refused the transaction's offsets: this worker's generation is not
    the group's any more (it was evicted, or a rebalance is under way). Abort the transaction."""

    def __init__(self, group: GroupMetadata, code: int, partitions: list) -> None:
        Errors.KafkaError.__init__(
            self, f"group {group.group_id!r} refused transactional offsets of generation "
                  f"{group.generation_id} (member {group.member_id!r}) for {partitions}: "
                  f"{STALE_MEMBERSHIP.get(code, code)}")
        self.group, self.code, self.partitions = group, code, partitions


class TxnOffsetCommitResponse_v3(Response):
    API_KEY = 28
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("partitions", CompactArray(("partition_index", Int32), ("error_code", Int16), ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class TxnOffsetCommitRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 28
    API_VERSION = 3
    RESPONSE_TYPE = TxnOffsetCommitResponse_v3
    SCHEMA = Schema(
        ("transactional_id", CompactString("utf-8")),
        ("group_id", CompactString("utf-8")),
        ("producer_id", Int64),
        ("producer_epoch", Int16),
        ("generation_id", Int32),
        ("member_id", CompactString("utf-8")),
        ("group_instance_id", CompactString("utf-8")),  # nullable
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("partitions", CompactArray(
                ("partition_index", Int32),
                ("committed_offset", Int64),
                ("committed_leader_epoch", Int32),  # -1: unknown
                ("committed_metadata", CompactString("utf-8")),  # nullable
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class FencedTxnOffsetCommitRequest(Request[TxnOffsetCommitRequest_v0 | TxnOffsetCommitRequest_v3]):
    """TxnOffsetCommit at the highest version both sides know (v3 from this client). A broker
    without v3 cannot fence: refuse rather than silently send v0."""

    API_KEY = 28

    def __init__(self, transactional_id: str, producer_id: int, producer_epoch: int, group: GroupMetadata,
                 topics: list[tuple[str, list[tuple[int, int, str]]]]) -> None:
        self.transactional_id, self.producer_id, self.producer_epoch = transactional_id, producer_id, producer_epoch
        self.group, self.topics = group, topics

    def build(self, request_struct_class):
        if request_struct_class.API_VERSION < 3:
            raise Errors.IncompatibleBrokerVersion(
                "exactly-once needs TxnOffsetCommit v3 (Kafka 2.5 or newer) to fence a worker that "
                "was evicted from its group; this broker only speaks v0-v2")
        g = self.group
        return request_struct_class(
            self.transactional_id, g.group_id, self.producer_id, self.producer_epoch, g.generation_id,
            g.member_id, g.group_instance_id,
            [(topic, [(p, off, -1, meta, {}) for p, off, meta in parts], {}) for topic, parts in self.topics], {})


def abortable_error(txn, exc: Exception) -> None:
    """Put the transaction in aiokafka's abortable-error state *without* forgetting what it holds.

    aiokafka's ``error_transaction`` clears the partitions and the group already added to the
    transaction; ``abort_transaction`` then takes it for an empty one and never sends
    EndTxn(ABORT): the broker keeps the transaction open, and the producer's *next* transaction
    (the same producer id and epoch, the same partitions) commits the "aborted" records with its
    own. The broker-SIGKILL chaos test caught exactly that: a zombie's 64 aborted results
    published by the following commit."""
    partitions, group = set(txn._txn_partitions), txn._txn_consumer_group
    txn.error_transaction(exc)
    txn._txn_partitions.update(partitions)
    txn._txn_consumer_group = group
    # the caller gets exc from send_offsets_to_transaction; the transaction's own waiter holds it
    # too and is replaced on abort: mark it seen, so that asyncio does not log it as lost
    txn.wait_for_transaction_end().exception()


class _Errors:
    """A v3 response as aiokafka's v0 handler reads it: ``errors = [(topic, [(partition, code)])]``."""

    def __init__(self, resp) -> None:
        self.errors = [(name, [(p, code) for p, code, _ in parts]) for name, parts, _ in resp.topics]


class FencedTxnOffsetCommitHandler(TxnOffsetCommitHandler):
    def __init__(self, sender, offsets, group: GroupMetadata) -> None:
        super().__init__(sender, offsets, group.group_id)
        self._group = group

    def create_request(self):
        txn = self._sender._txn_manager
        topics = collections.defaultdict(list)
        for tp, offset in sorted(self._offsets.items()):
            topics[tp.topic].append((tp.partition, offset.offset, offset.metadata))
        return FencedTxnOffsetCommitRequest(txn.transactional_id, txn.producer_id, txn.producer_epoch,
                                            self._group, list(topics.items()))

    def handle_response(self, resp):
        resp = _Errors(resp) if isinstance(resp, TxnOffsetCommitResponse_v3) else resp
        stale = [(t, p, code) for t, parts in resp.errors for p, code in parts if code in STALE_MEMBERSHIP]
        if stale:
            exc = StaleGroupMembership(self._group, stale[0][2], sorted((t, p) for t, p, _ in stale))
            log.debug("%s", exc)
            abortable_error(self._sender._txn_manager, exc)
            return None
        return super().handle_response(resp)


class FencingSender(Sender):
    """aiokafka's sender, with TxnOffsetCommit sent through the fencing handler."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.group_metadata: dict[str, GroupMetadata] = {}  # by group id, set per send_offsets call

    async def _do_txn_offset_commit(self, offsets, group_id):
        group = self.group_metadata.get(group_id)
        if group is None:  # offsets sent with a bare group id: the unfenced v0 behaviour
            return await super()._do_txn_offset_commit(offsets, group_id)
        if not offsets:
            return
        try:
            node_id = await self._find_coordinator(CoordinationType.GROUP, group_id)
        except Errors.GroupAuthorizationFailedError as exc:
            self._txn_manager.error_transaction(exc)
            return
        await FencedTxnOffsetCommitHandler(self, offsets, group).do(node_id)


class FencingProducer(AIOKafkaProducer):
    """A transactional producer whose ``send_offsets_to_transaction`` takes the consumer's
    ``GroupMetadata`` (as Java's does since KIP-447) and so cannot commit for a stale member."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        s = self._sender
        self._sender = FencingSender(s.client, acks=s._acks, txn_manager=s._txn_manager,
                                     retry_backoff_ms=int(s._retry_backoff * 1000),
                                     message_accumulator=s._message_accumulator,
                                     request_timeout_ms=s._request_timeout_ms)

    async def send_offsets_to_transaction(self, offsets, group_id):
        if isinstance(group_id, GroupMetadata):
            if group_id.generation_id < 0 or not group_id.member_id:
                # -1/"" is what the coordinator accepts from anyone: never send it on purpose
                raise StaleGroupMembership(group_id, UNKNOWN_MEMBER_ID,
                                           sorted(commit_structure_validate(offsets)))
            self._sender.group_metadata[group_id.group_id] = group_id
            group_id = group_id.group_id
        await super().send_offsets_to_transaction(offsets, group_id)
