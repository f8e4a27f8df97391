"""KIP-447's other half for exactly-once readers: committed offsets are fetched *stable*.

Transactional offsets (``send_offsets_to_transaction``) are pending in the group coordinator
from the TxnOffsetCommit until the transaction's commit marker lands. aiokafka 0.14 fetches
committed offsets with ``OffsetFetch`` v3, which answers the last *completed* commit and ignores
pending ones; a consumer that gets a partition in that window starts before the offsets of a
transaction that will still commit, and re-publishes its outcomes: duplicates. The window is
milliseconds normally, but long when the broker was killed between the two (it finishes the
commit only after its restart; tests/chaos/test_broker_faults.py caught one batch twice), or
when a worker stops between its TxnOffsetCommit and its EndTxn.

``OffsetFetch`` v7 (Kafka 2.5+, a flexible version) has ``require_stable``: the coordinator
answers UNSTABLE_OFFSET_COMMIT while offsets are pending, and the client asks again until they
are not (the transaction commits or aborts; its timeout bounds the wait). Java does this for
every ``read_committed`` consumer.

aiokafka sends OffsetFetch from inside its group coordinator (positions after an assignment,
``consumer.committed()``), which the consumer builds in ``start()``; the one seam is the
consumer's client. ``stable_offsets(consumer)`` narrows that client to ``StableOffsetsClient``,
whose ``send`` turns an OffsetFetch into v7 with ``require_stable``, waits out UNSTABLE, and
hands aiokafka a v3-shaped answer. A group-level error (the top-level ``error_code`` of v2+,
which aiokafka does not read: it would take "no offsets" for an answer and reset to earliest)
is copied to every partition, so that aiokafka raises it and retries.
"""
from __future__ import annotations

import asyncio
import logging

from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.commit import (OffsetFetchRequest, OffsetFetchRequest_v1, OffsetFetchRequest_v2,
                                      OffsetFetchRequest_v3, OffsetFetchResponse_v3)
from aiokafka.protocol.types import Boolean, CompactArray, CompactString, Int16, Int32, Int64, Schema, TaggedFields

log = logging.getLogger(__name__)

UNSTABLE_OFFSET_COMMIT = 88
# a transaction that stays open longer than this is not waited for: aiokafka then raises the
# error, and the worker stops for its supervisor (the transaction timeout is 60 s by default)
STABLE_WAIT_S = 120.0
RETRY_S = 0.1


class OffsetFetchResponse_v7(Response):
    API_KEY = 9
    API_VERSION = 7
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("partitions", CompactArray(
                ("partition_index", Int32),
                ("committed_offset", Int64),
                ("committed_leader_epoch", Int32),
                ("metadata", CompactString("utf-8")),  # nullable
                ("error_code", Int16),
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("error_code", Int16),
        ("tags", TaggedFields),
    )


class OffsetFetchRequest_v7(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 7
    RESPONSE_TYPE = OffsetFetchResponse_v7
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        ("topics", CompactArray(
            ("name", CompactString("utf-8")),
            ("partition_indexes", CompactArray(Int32)),
            ("tags", TaggedFields))),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class StableOffsetFetchRequest(Request[OffsetFetchRequest_v1 | OffsetFetchRequest_v2 | OffsetFetchRequest_v3
                                       | OffsetFetchRequest_v7]):
    """OffsetFetch at v7 with ``require_stable`` where the broker has it, else as aiokafka sends it."""

    API_KEY = 9

    def __init__(self, group_id: str, partitions: list[tuple[str, list[int]]]) -> None:
        self.group_id, self.partitions = group_id, partitions

    def build(self, request_struct_class):
        if request_struct_class.API_VERSION >= 7:
            return request_struct_class(self.group_id, [(t, ps, {}) for t, ps in self.partitions], True, {})
        return request_struct_class(self.group_id, self.partitions)


def as_v3(resp, requested: list[tuple[str, list[int]]]):
    """A v7 answer in the shape aiokafka parses (v3), group-level error copied to each partition."""
    if not isinstance(resp, OffsetFetchResponse_v7):
        return resp
    if resp.error_code:
        topics = [(t, [(p, -1, "", resp.error_code) for p in ps]) for t, ps in requested]
    else:
        topics = [(name, [(p, off, meta or "", code) for p, off, _epoch, meta, code, _ in parts])
                  for name, parts, _ in resp.topics]
    return OffsetFetchResponse_v3(resp.throttle_time_ms, topics, resp.error_code)


def _unstable(resp) -> list[tuple[str, int]]:
    if not isinstance(resp, OffsetFetchResponse_v7):
        return []
    if resp.error_code == UNSTABLE_OFFSET_COMMIT:
        return [("*", -1)]
    return [(name, p[0]) for name, parts, _ in resp.topics for p in parts if p[4] == UNSTABLE_OFFSET_COMMIT]


class StableOffsetsClient(AIOKafkaClient):
    """aiokafka's client, with committed offsets fetched stable (see the module's docstring)."""

    async def send(self, node_id, request, *, group=ConnectionGroup.DEFAULT):
        if not isinstance(request, OffsetFetchRequest) or request._partitions is None:
            return await super().send(node_id, request, group=group)
        stable = StableOffsetFetchRequest(request._consumer_group, request._partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STABLE_WAIT_S
        waited = False
        while True:
            resp = await super().send(node_id, stable, group=group)
            unstable = _unstable(resp)
            if not unstable or loop.time() > deadline:
                break
            if not waited:
                log.info("committed offsets of %s in group %s are pending in an open transaction; "
                         "waiting for it to commit or abort before consuming", unstable, request._consumer_group)
                waited = True
            await asyncio.sleep(RETRY_S)
        if waited and not unstable:
            log.info("offsets of group %s are stable again", request._consumer_group)
        return as_v3(resp, request._partitions)


def stable_offsets(consumer) -> None:
    """Make ``consumer`` (before ``start()``) fetch committed offsets stable. aiokafka creates its
    client in the consumer's constructor and offers no way to pass one; narrowing that one
    object's class changes nothing else about it."""
    if type(consumer._client) is not AIOKafkaClient:
        raise TypeError(f"expected aiokafka's own client, found {type(consumer._client).__name__}")
    consumer._client.__class__ = StableOffsetsClient
