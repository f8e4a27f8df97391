"""The fast paths of result encoding (issue 29) write exactly what the general paths write."""
import msgpack
import numpy as np
import pytest

from worker.stream import wire
from worker.stream.wire import DTYPES, Source, array_from_wire, array_to_wire, as_source, source_to_wire


def _general(arr, what="output 'x'"):
    """array_to_wire without its fast path."""
    a = np.asarray(arr)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.astype(a.dtype.newbyteorder("<"))
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": memoryview(a.reshape(-1).view(np.uint8))}


CASES = [np.arange(12).astype(d).reshape(3, 4) for d in sorted(DTYPES)] + [
    np.array([88000], dtype=np.int64),
    np.array(5.0, dtype=np.float32),              # 0-d: travels as shape [1], as always
    np.zeros((0, 3), np.float32),                 # empty
    np.arange(12, dtype=">i4").reshape(3, 4),     # big-endian: converted
    np.arange(12.0).reshape(3, 4)[:, ::2],        # not contiguous: copied
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    [1, 2, 3],                                    # not an array
]


@pytest.mark.parametrize("arr", CASES, ids=lambda a: f"{getattr(a, 'dtype', 'list')}-{np.shape(a)}")
def test_array_to_wire_fast_path_is_the_general_path(arr):
    fast = array_to_wire(arr, "output 'x'")
    assert msgpack.packb(fast, use_bin_type=True) == msgpack.packb(_general(arr), use_bin_type=True)
    back = array_from_wire(msgpack.unpackb(msgpack.packb(fast, use_bin_type=True)), "x")
    assert np.array_equal(back, np.asarray(arr).reshape(back.shape))


def test_array_to_wire_refuses_what_it_refused():
    with pytest.raises(TypeError, match="cannot travel"):
        array_to_wire(np.zeros(3, np.complex64), "output 'c'")
    assert wire._LITTLE[np.dtype("<f4")] == "float32"


@pytest.mark.parametrize("source", [("in", 3, 12, 1700000000000), ("in", 3, 12, None), ("in", np.int64(3), 12, 5),
                                    ("in", 1, 2), {"topic": "in", "partition": 1, "offset": 2},
                                    Source("in", 1, 2, 3)])
def test_source_to_wire_is_as_source_to_wire(source):
    assert source_to_wire(source) == as_source(source).to_wire()
