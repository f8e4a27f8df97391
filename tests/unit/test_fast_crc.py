"""worker/stream/fast_crc.py: fetched record batches checked with google-crc32c, and aiokafka's
own check (and its CorruptRecordException) for anything that does not match."""
from __future__ import annotations

import os

import pytest
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition

from worker.stream import fast_crc


def batch(base_offset: int, values: list[bytes]) -> bytes:
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1 << 24)
    for i, v in enumerate(values):
        b.append(i, timestamp=1_700_000_000_000 + i, key=None, value=v, headers=[])
    data = bytearray(b.build())
    data[0:8] = base_offset.to_bytes(8, "big")  # the broker sets it; not covered by the CRC
    return bytes(data)


def record_set() -> bytes:
    return batch(0, [os.urandom(90_000)]) + batch(1, [os.urandom(300), os.urandom(70)]) + batch(3, [b"x"])


def test_good_batches_pass_and_a_flipped_byte_anywhere_after_the_crc_fails():
    data = record_set()
    assert fast_crc.batches_ok(data)
    for where in (21, 100, 50_000, len(data) - 1):  # attributes, records, the last batch
        bad = bytearray(data)
        bad[where] ^= 0x01
        assert not fast_crc.batches_ok(bytes(bad)), where


def test_a_partial_last_batch_is_not_checked_and_other_formats_are_left_to_aiokafka():
    data = record_set()
    assert fast_crc.batches_ok(data + batch(4, [b"cut"])[:40])  # a fetch cut inside a batch
    legacy = bytearray(data)
    legacy[16] = 1  # magic 1: another checksum, aiokafka checks it
    assert not fast_crc.batches_ok(bytes(legacy))
    # a whole v1 message shorter than a v2 header (39 bytes: a 5-byte value), before or after
    # good batches: aiokafka checks the whole record set
    v1 = (7).to_bytes(8, "big") + (27).to_bytes(4, "big") + b"\0\0\0\0" + b"\x01" + bytes(22)
    assert len(v1) == 39
    assert not fast_crc.batches_ok(v1)
    assert not fast_crc.batches_ok(v1 + data)
    assert not fast_crc.batches_ok(data + v1)


def test_the_sum_without_the_bundled_library_is_the_same(monkeypatch):
    data = record_set()
    monkeypatch.setattr(fast_crc, "_EXTEND", None)
    assert fast_crc.batches_ok(data)
    bad = bytearray(data)
    bad[200] ^= 0x80
    assert not fast_crc.batches_ok(bytes(bad))


def _records(data: bytes) -> list:
    import aiokafka.consumer.fetcher as fetcher

    records = fetcher.MemoryRecords(data)
    parts = fetcher.PartitionRecords(TopicPartition("t", 0), records, [], 0, None, None, True,
                                     "read_uncommitted")
    return list(parts)


def test_installed_good_data_is_read_and_corrupt_data_raises_as_aiokafka_always_did():
    assert fast_crc.install()
    import aiokafka.consumer.fetcher as fetcher

    assert fetcher.MemoryRecords is fast_crc.CheckedRecords
    data = record_set()
    assert [r.offset for r in _records(data)] == [0, 1, 2, 3]
    assert fetcher.MemoryRecords(data).crc_ok
    bad = bytearray(data)
    bad[50_000] ^= 0x01
    assert not fetcher.MemoryRecords(bytes(bad)).crc_ok
    with pytest.raises(CorruptRecordException):
        _records(bytes(bad))
    assert fast_crc.install()  # twice: installed once
    assert [c.__name__ for c in fetcher.PartitionRecords.__mro__] == ["CheckedPartitionRecords", "PartitionRecords", "object"]
