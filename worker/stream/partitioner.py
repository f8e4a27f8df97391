"""The producer's partitioner: Kafka's default (murmur2 of the key, as the Java client), only
faster than aiokafka's pure-Python loop.

Every result is keyed by its message id, so the partitioner hashes a key per result: aiokafka's
``murmur2`` takes about 9 us for a 23-byte key on the 2-core VM (a byte at a time), 4% of a
bare consumer loop's whole CPU per message (bench/stream_cost.py). This one reads the 4-byte
words in one ``struct`` call and gives the same hash, so a key lands on the same partition as
with any Kafka client (tests/unit/test_partitioner.py compares it with aiokafka's).
"""
from __future__ import annotations

import random
import struct

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as aiokafka's."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra:
        tail = length & ~3
        if extra >= 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def default_partitioner(key, all_partitions, available):
    """aiokafka's DefaultPartitioner with :func:`murmur2`: a key's partition is the same."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
