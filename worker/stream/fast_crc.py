"""Fetched record batches checked with the CPU's CRC-32C instructions.

Every Kafka record batch carries a CRC-32C of its contents, and the consumer checks it
(``check_crcs``, on by default, and it stays on: a corrupt batch must never reach a pipeline).
aiokafka checks it with a table-driven CRC in its C extension: 76 us per 86 KB photo on the
2-core VM, the largest single cost of reading the stream (a third of a bare aiokafka loop's CPU,
``bench/stream_cost.py``). ``google-crc32c`` (Google's crc32c library, SSE4.2 / ARMv8 CRC
instructions) does the same sum in 5.6 us; the Java client and librdkafka use the CPU's
instructions too.

So the fetcher's record sets are checked here first, batch by batch, straight from the fetched
bytes: a record set whose batches all match is handed to aiokafka with its own check skipped for
it; one with a batch that does not match, or with a batch this does not know (the legacy message
formats v0/v1, which have another checksum), goes through aiokafka's check as before, which then
raises its ``CorruptRecordException`` where it always did. The answer for corrupt data is
aiokafka's, unchanged; only correct data is checked faster.

:func:`install` swaps two names in ``aiokafka.consumer.fetcher`` (``MemoryRecords`` and
``PartitionRecords``, used together when a fetch response is stored) for the aiokafka releases
it was tested with, and only when google-crc32c has its C implementation; otherwise nothing
changes and aiokafka checks every batch itself.
"""
from __future__ import annotations

import ctypes
import glob
import os

from worker import aiokafka_version

_V2_HEADER = 61  # bytes of a v2 record batch header (magic 2)
_CRC_FROM = 21  # the CRC covers the batch from its attributes to its end


def _library_sum():
    """crc32c_extend of the library google-crc32c bundles, called on a pointer (no copy of the
    batch); else None, and google_crc32c.value on a copy of it is used."""
    try:
        import google_crc32c
    except ImportError:
        return None
    libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(google_crc32c.__file__)),
                                  "google_crc32c.libs", "libcrc32c*.so*"))
    for path in libs:
        try:
            fn = ctypes.CDLL(path).crc32c_extend
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t], ctypes.c_uint32
        return fn
    return None


_EXTEND = _library_sum()


def _crc_of(data: bytes, base: int | None, start: int, end: int) -> int:
    """CRC-32C of ``data[start:end]``; ``base``: the address of ``data``'s bytes, or None."""
    if base is not None:
        return _EXTEND(0, base + start, end - start)
    import google_crc32c

    return google_crc32c.value(data[start:end])


def batches_ok(data: bytes) -> bool:
    """True when every complete record batch in ``data`` (a fetched record set) is a v2 batch
    whose CRC-32C matches. A partial batch at the end (a fetch cut short) is not returned by
    aiokafka and not checked here."""
    if type(data) is not bytes:
        data = bytes(data)
    pos, size = 0, len(data)
    # the bytes object's own buffer (alive as long as ``data``): no copy of any batch
    base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value if _EXTEND is not None else None
    while pos + 12 <= size:  # offset and length: enough to tell where the batch ends
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        end = pos + 12 + length
        if end > size:  # a partial batch at the end: aiokafka does not return it either
            break
        # v0/v1 message sets (another checksum; often shorter than a v2 header) and anything
        # that is not a whole v2 batch: aiokafka checks the record set itself
        if length < _V2_HEADER - 12 or data[pos + 16] != 2:
            return False
        if _crc_of(data, base, pos + _CRC_FROM, end) != int.from_bytes(data[pos + 17:pos + 21], "big"):
            return False
        pos = end
    return True


try:  # aiokafka's own, whichever install() swaps out of the fetcher's names
    from aiokafka.record.memory_records import MemoryRecords as _MemoryRecords
except ImportError:  # pragma: no cover - a release without it: install() refuses anyway
    _MemoryRecords = None


class CheckedRecords:
    """aiokafka's MemoryRecords, with whether every batch was checked and matched."""

    __slots__ = ("_records", "crc_ok")

    def __init__(self, data: bytes):
        self._records = _MemoryRecords(data)
        self.crc_ok = batches_ok(data)

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self):
        return self._records.next_batch()

    def size_in_bytes(self) -> int:
        return self._records.size_in_bytes()


def _checked_partition_records(base):
    class CheckedPartitionRecords(base):
        def __init__(self, tp, records, aborted_transactions, fetch_offset, key_deserializer,
                     value_deserializer, check_crcs, isolation_level):
            if check_crcs and getattr(records, "crc_ok", False):
                check_crcs = False  # every batch of it matched here already
            super().__init__(tp, records, aborted_transactions, fetch_offset, key_deserializer,
                             value_deserializer, check_crcs, isolation_level)

    return CheckedPartitionRecords


def install() -> bool:
    """Check fetched batches here (see above); False where nothing was changed: an aiokafka
    release this was not tested with, or google-crc32c without its C implementation."""
    import aiokafka
    import aiokafka.consumer.fetcher as fetcher

    try:
        import google_crc32c
    except ImportError:
        return False
    if aiokafka.__version__ not in aiokafka_version.TESTED or google_crc32c.implementation != "c":
        return False
    if fetcher.MemoryRecords is not CheckedRecords:
        fetcher.PartitionRecords = _checked_partition_records(fetcher.PartitionRecords)
        fetcher.MemoryRecords = CheckedRecords
    return True
