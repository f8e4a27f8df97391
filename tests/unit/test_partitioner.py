"""The producer's faster murmur2 gives aiokafka's (and the Java client's) partition for every key."""
import random

from aiokafka.partitioner import DefaultPartitioner, murmur2 as aiokafka_murmur2

from worker.stream.partitioner import default_partitioner, murmur2


def test_same_hash_as_aiokafka_for_every_length_and_byte():
    rng = random.Random(29)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", bytes(range(256)), b"\xff" * 7, "é/ü".encode()]
    keys += [rng.randbytes(rng.randint(0, 80)) for _ in range(3000)]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key


def test_known_java_values():
    # org.apache.kafka.common.utils.UtilsTest.testMurmur2 (the Java client's own cases)
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}
    for key, java in cases.items():
        assert murmur2(key) == java & 0xFFFFFFFF, key


def test_same_partition_as_aiokafka():
    rng = random.Random(7)
    theirs = DefaultPartitioner()
    for n in (1, 3, 4, 16, 100):
        parts = list(range(n))
        for _ in range(300):
            key = f"topic-{rng.randint(0, 9)}/{rng.randint(0, 99)}/{rng.randint(0, 10**9)}".encode()
            assert default_partitioner(key, parts, parts) == theirs(key, parts, parts)
    assert default_partitioner(None, [0, 1, 2], [1]) == 1
    assert default_partitioner(None, [0, 1, 2], []) in (0, 1, 2)
