"""What every message format shares: the version field, msgpack maps, typed arrays and the
source coordinates of a record. Pure functions, no Kafka.

Typed arrays travel as ``{"dtype": "float32", "shape": [2, 3], "data": <bin>}``: C order,
little-endian, numpy dtype names. Decoding is a zero-copy ``np.frombuffer`` over the bin that
msgpack returned (read-only arrays)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from worker.stream.errors import MessageError

MAJOR = 1
VERSION = "1.2"  # written by this code; readers accept any 1.x (1.1: reasons reply_to_refused, model_input_mismatch; dead letters' truncated; 1.2: see schemas/README.md)

# dtypes that may travel in a message; anything else is refused with a clear error
DTYPES = frozenset({"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                    "int64", "float16", "float32", "float64"})

# first bytes of a msgpack map: fixmap 0x80-0x8f, map16 0xde, map32 0xdf
MAP_MARKERS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
# media whose first byte happens to be a fixmap marker (0x89 is "a map of 9 entries")
MEDIA_SIGNATURES_IN_MAP_RANGE = (b"\x89PNG\r\n\x1a\n", b"\x8aMNG\r\n\x1a\n", b"\x8bJNG\r\n\x1a\n")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from (the input record, for results and dead letters)."""
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def to_wire(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": int(self.partition), "offset": int(self.offset),
                "timestamp_ms": None if self.timestamp_ms is None else int(self.timestamp_ms)}

    @classmethod
    def from_wire(cls, d: Any, what: str) -> "Source":
        if not isinstance(d, dict):
            raise ValueError(f"{what}: 'source' must be a map, got {type(d).__name__}")
        try:
            ts = d.get("timestamp_ms")
            return cls(str(d["topic"]), int(d["partition"]), int(d["offset"]),
                       None if ts is None else int(ts))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{what}: 'source' needs topic, partition and offset ({e})") from None


def source_to_wire(source: "Source | dict | tuple") -> dict[str, Any]:
    """``as_source(source).to_wire()``, without the Source for the worker's own 4-tuples."""
    if type(source) is tuple and len(source) == 4:
        topic, partition, offset, ts = source
        return {"topic": topic, "partition": int(partition), "offset": int(offset),
                "timestamp_ms": None if ts is None else int(ts)}
    return as_source(source).to_wire()


def as_source(source: "Source | dict | tuple") -> Source:
    """Accept a Source, a {topic, partition, offset[, timestamp_ms]} map or a tuple."""
    if isinstance(source, Source):
        return source
    if isinstance(source, dict):
        return Source.from_wire(source, "source")
    return Source(*source)


def looks_like_map(value: bytes | memoryview) -> bool:
    """True when a value should be read as a msgpack envelope in "auto" mode."""
    if not value or value[0] not in MAP_MARKERS:
        return False
    head = bytes(value[:8])
    return not any(head == sig[:len(head)] for sig in MEDIA_SIGNATURES_IN_MAP_RANGE)


# Decoding limits of an input envelope (schemas/README.md, "Decoding limits"). msgpack's own
# limits follow the value's length, so a 16 MiB value may declare millions of entries: one byte
# each (negative fixints, empty maps) became 40-72 bytes of Python objects, and 6-10 MB maps
# cost about 37x their size. A value holds at most MAX_CONTAINER_LEN elements per array or map
# (msgpack allocates a declared array before reading it, and nests up to about 1,000 deep: at
# most ~22 MB however it is nested) and MAX_ELEMENTS elements and entries in all (each costs
# at most ~100 bytes of objects). Bins and strings cost their own size once. So an envelope's
# decoded objects stay under its size + MAX_ELEMENTS x 100 B + 22 MB, and a 16 MiB envelope,
# however built, under 2x its size (tests/unit/test_reasons_and_bounds.py; measured at most
# 1.05x, where unlimited decoding took 40-72x).
MAX_CONTAINER_LEN = 1024
MAX_ELEMENTS = 65536


class _TooMany(ValueError):
    pass


def _counting_hooks(limit: int) -> dict:
    """list_hook/object_hook that count every element and entry decoded, and stop past ``limit``."""
    seen = [0]

    def count(obj):
        seen[0] += len(obj) + 1
        if seen[0] > limit:
            raise _TooMany(f"more than {limit} array elements and map entries in all (the "
                           "envelope's limit, schemas/README.md)")
        return obj
    return {"list_hook": count, "object_hook": count}


def unpack_map(value: bytes, what: str, *, id: str | None = None, limited: bool = False) -> dict:
    """Decode a msgpack map; MessageError("malformed_msgpack") when it does not decode.
    ``limited``: an input's value, decoded under the envelope's limits (:data:`MAX_ELEMENTS`)."""
    kw = dict(max_array_len=MAX_CONTAINER_LEN, max_map_len=MAX_CONTAINER_LEN,
              **_counting_hooks(MAX_ELEMENTS)) if limited else {}
    try:
        obj = msgpack.unpackb(value, raw=False, strict_map_key=False, **kw)
    except Exception as e:  # msgpack raises several unrelated types (ExtraData, ValueError, ...)
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if limited and ("exceeds max_" in str(e) or isinstance(e, _TooMany)):
            raise MessageError("invalid_envelope",
                               f"{what}: value ({len(value)} bytes) is over the envelope's decoding "
                               f"limits ({e}): at most {MAX_CONTAINER_LEN} elements per array or "
                               f"map and {MAX_ELEMENTS} in all; carry bulk data as bin or typed "
                               "arrays (schemas/README.md)", id=id) from None
        raise MessageError("malformed_msgpack",
                           f"{what}: value ({len(value)} bytes) starts like a msgpack map but does "
                           f"not decode ({detail}). Encode envelopes with msgpack "
                           "(schemas/README.md), or send the raw file in raw mode.", id=id) from None
    if not isinstance(obj, dict):
        raise MessageError("invalid_envelope",
                           f"{what}: msgpack value is a {type(obj).__name__}, not a map", id=id)
    return obj


def check_version(obj: dict, what: str, *, id: str | None = None) -> str:
    """Return the message's version string; reject a missing one or an unknown major version."""
    v = obj.get("v")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = f"{v}" if isinstance(v, float) else f"{v}.0"
    if not isinstance(v, str) or not v.split(".")[0].isdigit():
        raise MessageError("invalid_envelope",
                           f"{what}: missing or invalid version field 'v' ({obj.get('v')!r}); "
                           f'write "v": "{VERSION}"', id=id)
    if int(v.split(".")[0]) != MAJOR:
        raise MessageError("unsupported_version",
                           f"{what}: message version {v} is not supported: this worker reads "
                           f"major version {MAJOR} (any {MAJOR}.x). Upgrade the worker or write "
                           f'"v": "{VERSION}" messages.', id=id)
    return v


# little-endian dtype -> its wire name: the common case found with one dict lookup
_LITTLE = {np.dtype(n).newbyteorder("<"): n for n in DTYPES}


def array_to_wire(arr: Any, what: str) -> dict[str, Any]:
    """A numpy array (or array-like) as a typed-array map, without copying contiguous
    little-endian arrays (msgpack packs the memoryview as bin)."""
    if type(arr) is np.ndarray and arr.ndim and arr.size:
        # every result passes here: 1.5 us instead of 12 for a small output (issue 29); the
        # same map as below (tests/unit/test_wire_fast.py)
        name = _LITTLE.get(arr.dtype)
        if name is not None and arr.flags.c_contiguous:
            return {"dtype": name, "shape": list(arr.shape), "data": memoryview(arr).cast("B")}
    a = np.asarray(arr)
    if a.dtype.name not in DTYPES:
        raise TypeError(f"{what}: dtype {a.dtype} cannot travel in a message "
                        f"(supported: {', '.join(sorted(DTYPES))})")
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.astype(a.dtype.newbyteorder("<"))
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.name, "shape": list(a.shape),
            "data": memoryview(a.reshape(-1).view(np.uint8))}


def array_from_wire(d: Any, what: str) -> np.ndarray:
    """A typed-array map as a read-only numpy view over its bin; ValueError names the field."""
    if not isinstance(d, dict):
        raise ValueError(f"{what}: expected bin or a typed-array map, got {type(d).__name__}")
    dtype, shape, data = d.get("dtype"), d.get("shape"), d.get("data")
    if dtype not in DTYPES:
        raise ValueError(f"{what}: unsupported dtype {dtype!r} "
                         f"(supported: {', '.join(sorted(DTYPES))})")
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"{what}: 'shape' must be a list of non-negative integers, got {shape!r}")
    if not isinstance(data, bytes):
        raise ValueError(f"{what}: 'data' must be bin, got {type(data).__name__}")
    dt = np.dtype(dtype).newbyteorder("<")
    expected = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(data) != expected:
        raise ValueError(f"{what}: 'data' has {len(data)} bytes but {dtype}{list(shape)} "
                         f"needs {expected}")
    return np.frombuffer(data, dtype=dt).reshape(shape)


def bytes_view(value: bytes | bytearray | memoryview) -> np.ndarray:
    """A value as a 1-D uint8 array without copying."""
    return np.frombuffer(value, dtype=np.uint8)
