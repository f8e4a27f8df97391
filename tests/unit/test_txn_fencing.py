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
