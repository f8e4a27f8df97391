"""TxnOffsetCommit v3 (KIP-447) as this worker encodes it: the bytes follow Kafka's message
spec (flexible version: compact strings/arrays, tagged fields, request header v2), and a stale
membership in the answer is an abortable transaction error, not a dead producer."""
from __future__ import annotations

import struct
from io import BytesIO

import pytest
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from worker.stream.txn_fencing import (FencedTxnOffsetCommitHandler, FencedTxnOffsetCommitRequest, GroupMetadata,
                                       StaleGroupMembership, TxnOffsetCommitResponse_v3)

GROUP = GroupMetadata("g", generation_id=7, member_id="m-1", group_instance_id=None)


def _uvarint(n: int) -> bytes:
    out = b""
    while n & ~0x7F:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def _cstr(s: str | None) -> bytes:
    return _uvarint(0) if s is None else _uvarint(len(s) + 1) + s.encode()


def test_v3_request_bytes_follow_the_spec():
    req = FencedTxnOffsetCommitRequest("tx-0", 42, 3, GROUP, [("in", [(1, 100, "")])])
    struct_ = req.prepare({28: (0, 5)})  # a Kafka 4 broker: v0-v5, we pick our highest, v3
    assert struct_.API_VERSION == 3 and struct_.FLEXIBLE_VERSION
    expected = (_cstr("tx-0") + _cstr("g") + struct.pack(">qh", 42, 3) + struct.pack(">i", 7) + _cstr("m-1")
                + _cstr(None)  # group_instance_id: null
                + _uvarint(2) + _cstr("in")  # one topic
                + _uvarint(2) + struct.pack(">iqi", 1, 100, -1) + _cstr("") + b"\x00"  # partition, tags
                + b"\x00"  # topic tags
                + b"\x00")  # request tags
    assert struct_.encode() == expected
    header = struct_.build_request_header(correlation_id=5, client_id="c").encode()
    assert header == struct.pack(">hhih", 28, 3, 5, 1) + b"c" + b"\x00"  # header v2: tags at the end


def test_a_broker_without_v3_is_refused_not_sent_v0():
    req = FencedTxnOffsetCommitRequest("tx-0", 42, 3, GROUP, [("in", [(1, 100, "")])])
    with pytest.raises(IncompatibleBrokerVersion, match="TxnOffsetCommit v3"):
        req.prepare({28: (0, 2)})


def _response(code: int) -> TxnOffsetCommitResponse_v3:
    raw = (struct.pack(">i", 0) + _uvarint(2) + _cstr("in") + _uvarint(2) + struct.pack(">ih", 1, code)
           + b"\x00" + b"\x00" + b"\x00")
    return TxnOffsetCommitResponse_v3.decode(BytesIO(raw))


class _Txn:
    transactional_id, producer_id, producer_epoch = "tx-0", 42, 3

    def __init__(self):
        self.errors, self.committed = [], []
        self._txn_partitions, self._txn_consumer_group = set(), None

    def error_transaction(self, exc):
        self.errors.append(exc)

    def wait_for_transaction_end(self):
        return self  # a done future holding the error: exception() reads it

    def exception(self):
        return self.errors[-1]

    def offset_committed(self, tp, offset, group_id):
        self.committed.append((tp, offset, group_id))


class _Sender:
    _retry_backoff = 0.1

    def __init__(self):
        self._txn_manager = _Txn()


def _handler():
    offsets = {TopicPartition("in", 1): OffsetAndMetadata(100, "")}
    return FencedTxnOffsetCommitHandler(_Sender(), offsets, GROUP)


@pytest.mark.parametrize("code,name", [(22, "ILLEGAL_GENERATION"), (25, "UNKNOWN_MEMBER_ID"),
                                       (27, "REBALANCE_IN_PROGRESS"), (82, "FENCED_INSTANCE_ID")])
def test_a_stale_membership_aborts_the_transaction(code, name):
    h = _handler()
    assert h.handle_response(_response(code)) is None  # no retry
    [exc] = h._sender._txn_manager.errors
    assert isinstance(exc, StaleGroupMembership) and exc.code == code
    assert name in str(exc) and "generation 7" in str(exc) and "('in', 1)" in str(exc)


def test_success_is_handed_to_aiokafka():
    h = _handler()
    assert h.handle_response(_response(0)) is None
    assert h._sender._txn_manager.committed == [(TopicPartition("in", 1), 100, "g")]
    assert h.create_request().prepare({28: (0, 3)}).generation_id == 7


# -- OffsetFetch v7 with require_stable (worker/stream/txn_stable_offsets.py) ----------------------
from worker.stream.txn_stable_offsets import (OffsetFetchResponse_v7, StableOffsetFetchRequest,  # noqa: E402
                                              _unstable, as_v3)


def test_offset_fetch_v7_asks_for_stable_offsets():
    s = StableOffsetFetchRequest("g", [("in", [0, 1])]).prepare({9: (1, 9)})
    assert s.API_VERSION == 7 and s.FLEXIBLE_VERSION
    assert s.encode() == (_cstr("g") + _uvarint(2) + _cstr("in") + _uvarint(3) + struct.pack(">ii", 0, 1)
                          + b"\x00" + b"\x01" + b"\x00")  # topic tags, require_stable=true, tags
    assert StableOffsetFetchRequest("g", [("in", [0])]).prepare({9: (1, 5)}).API_VERSION == 3  # older broker


def _fetch_response(code: int, group_code: int = 0) -> OffsetFetchResponse_v7:
    part = struct.pack(">iqi", 0, 120, -1) + _cstr("") + struct.pack(">h", code) + b"\x00"
    raw = (struct.pack(">i", 0) + _uvarint(2) + _cstr("in") + _uvarint(2) + part + b"\x00"
           + struct.pack(">h", group_code) + b"\x00")
    return OffsetFetchResponse_v7.decode(BytesIO(raw))


def test_v7_answers_reach_aiokafka_in_the_v3_shape_it_parses():
    ok = _fetch_response(0)
    assert not _unstable(ok)
    assert as_v3(ok, [("in", [0])]).topics == [("in", [(0, 120, "", 0)])]
    assert _unstable(_fetch_response(88)) == [("in", 0)]  # pending in a transaction: ask again
    # a group-level error (coordinator loading) goes to every partition, so aiokafka retries it
    # instead of reading "no committed offset" and resetting to earliest
    loading = as_v3(_fetch_response(0, group_code=14), [("in", [0, 1])])
    assert loading.topics == [("in", [(0, -1, "", 14), (1, -1, "", 14)])]


def test_the_refused_transaction_is_really_aborted_on_the_broker():
    """With aiokafka's own transaction manager: after the refusal the abort must send
    EndTxn(ABORT); aiokafka's error_transaction() alone forgets the partitions, the abort then
    looks empty and is skipped, and the next commit publishes the refused records."""
    import asyncio

    from aiokafka.producer.transaction_manager import TransactionManager, TransactionResult

    async def scenario():
        txn = TransactionManager("tx-0", 60000)
        txn.set_pid_and_epoch(42, 3)
        txn.begin_transaction()
        out = TopicPartition("out", 0)
        txn.maybe_add_partition_to_txn(out)
        txn.partition_added(out)
        offsets = {TopicPartition("in", 1): OffsetAndMetadata(100, "")}
        fut = txn.add_offsets_to_txn(offsets, "g")
        txn.consumer_group_added("g")

        class Sender:
            _retry_backoff = 0.1
            _txn_manager = txn

        handler = FencedTxnOffsetCommitHandler(Sender(), offsets, GROUP)
        assert handler.handle_response(_response(25)) is None
        with pytest.raises(StaleGroupMembership):
            await fut
        txn.aborting_transaction()
        assert txn.needs_transaction_commit() is TransactionResult.ABORT
        assert not txn.is_empty_transaction(), "the abort would be skipped: EndTxn(ABORT) never sent"
        assert out in txn.txn_partitions

    asyncio.run(scenario())
