"""Corrupt JPEGs that pass the signature/end-marker screen (``worker/pipeline/suspect.py``):
each starts with SOI and ends with EOI, with the damage inside, as a hostile or broken producer
sends them. Deterministic: ``corrupt_jpeg(source, kind, seed)`` gives the same bytes for the same
arguments (the sources are the committed ``tests/data/*.jpg`` and the photo corpus of
``tests/photos.py``).

Kinds (``KINDS``):
- ``garbage``: SOI, a marker, random bytes, EOI (the headers are gone);
- ``truncated``: the file cut at a random point of its entropy data, EOI appended;
- ``header_cut``: the file cut inside its headers (before SOS), EOI appended;
- ``header_flip``: a few bytes flipped in the marker segments before the entropy data (DQT, DHT,
  SOF, SOS: tables, sizes, component ids);
- ``entropy_flip``: many bytes flipped inside the entropy-coded data;
- ``entropy_garbage``: a run of the entropy data replaced by random bytes;
- ``size_lie``: the frame header (SOF) declares another width/height/component count;
- ``segment_length``: a marker segment's length field rewritten;
- ``huffman_lie``: the Huffman table counts (DHT) rewritten;
- ``spliced``: the headers of one photo followed by the entropy data of another.
"""
from __future__ import annotations

import random
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SOI, EOI = b"\xff\xd8", b"\xff\xd9"

KINDS = ("garbage", "truncated", "header_cut", "header_flip", "entropy_flip", "entropy_garbage",
         "size_lie", "segment_length", "huffman_lie", "spliced")


def sources() -> list[bytes]:
    """Good JPEGs to damage: the committed photos, then the JPEGs of the test corpus."""
    from tests import photos

    return [p.read_bytes() for p in sorted(DATA.glob("*.jpg"))] + photos.jpeg_bytes()


def segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each marker segment from SOI to SOS included; ``end`` of SOS is
    where its entropy-coded data starts."""
    out = []
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length
        if marker == 0xDA:  # SOS: the entropy data follows
            break
    return out


def scan_start(jpeg: bytes) -> int:
    segs = segments(jpeg)
    return segs[-1][2] if segs and segs[-1][0] == 0xDA else len(jpeg) // 4


def _body(jpeg: bytes) -> bytes:
    """The file without its EOI (and trailing bytes after it)."""
    end = jpeg.rfind(EOI)
    return jpeg[:end] if end > 0 else jpeg


def _flip(data: bytearray, lo: int, hi: int, n: int, rng: random.Random) -> None:
    for _ in range(n):
        if hi <= lo:
            return
        i = rng.randrange(lo, hi)
        data[i] ^= rng.randrange(1, 256)


def corrupt_jpeg(src: bytes, kind: str, seed: int, other: bytes | None = None) -> bytes:
    rng = random.Random(f"{kind}:{seed}:{len(src)}")
    body = _body(src)
    start = scan_start(src)
    if kind == "garbage":
        n = rng.randint(200, 60_000)
        marker = bytes((0xFF, rng.choice((0xE0, 0xE1, 0xDB, 0xC0, 0xC4, 0xDA))))
        return SOI + marker + bytes(rng.getrandbits(8) for _ in range(n)) + EOI
    if kind == "truncated":
        cut = rng.randint(start + 1, max(start + 2, len(body) - 1))
        return body[:cut] + EOI
    if kind == "header_cut":
        cut = rng.randint(4, max(5, start - 1))
        return body[:cut] + EOI
    data = bytearray(body)
    if kind == "header_flip":
        _flip(data, 2, start, rng.randint(1, 6), rng)
    elif kind == "entropy_flip":
        _flip(data, start, len(data), rng.randint(10, 400), rng)
    elif kind == "entropy_garbage":
        lo = rng.randrange(start, max(start + 1, len(data) - 16))
        n = rng.randint(16, max(17, (len(data) - lo) // 2))
        data[lo:lo + n] = bytes(rng.getrandbits(8) for _ in range(n))
    elif kind == "size_lie":
        sof = [s for s in segments(src) if s[0] in (0xC0, 0xC1, 0xC2)]
        if sof:
            at = sof[0][1] + 5                      # FF Cx len(2) precision(1) height(2) width(2)
            field = rng.choice(("height", "width", "both", "components"))
            if field in ("height", "both"):
                data[at:at + 2] = rng.choice((0, 1, 7, 0xFFFF, rng.randrange(2, 0xFFFF))).to_bytes(2, "big")
            if field in ("width", "both"):
                data[at + 2:at + 4] = rng.choice((0, 1, 9, 0xFFFF, rng.randrange(2, 0xFFFF))).to_bytes(2, "big")
            if field == "components":
                data[at + 4] = rng.choice((0, 2, 4, 5, 255))
    elif kind == "segment_length":
        segs = segments(src)
        if segs:
            _m, at, _e = rng.choice(segs)
            data[at + 2:at + 4] = rng.choice((0, 1, 2, 0xFFFF, rng.randrange(3, 0xFFFF))).to_bytes(2, "big")
    elif kind == "huffman_lie":
        dht = [s for s in segments(src) if s[0] == 0xC4]
        if dht:
            _m, at, end = rng.choice(dht)
            _flip(data, at + 5, min(end, at + 21), rng.randint(1, 8), rng)   # the 16 code counts
    elif kind == "spliced":
        donor = other if other is not None else src
        data = bytearray(body[:start] + _body(donor)[scan_start(donor):])
    else:
        raise ValueError(f"unknown corruption {kind!r}: use one of {', '.join(KINDS)}")
    return bytes(data) + EOI


def corrupt_set(n: int, seed: int = 0, kinds=KINDS) -> list[tuple[str, bytes]]:
    """``n`` corrupt JPEGs, kinds in turn, each from a source chosen by the seed: [(label, bytes)]."""
    srcs = sources()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        a, b = rng.randrange(len(srcs)), rng.randrange(len(srcs))
        data = corrupt_jpeg(srcs[a], kind, seed * 100_003 + i, other=srcs[b])
        out.append((f"{kind}-{seed}-{i}", data))
    return out


def mixed(n_corrupt: int, n_good: int, seed: int = 0, kinds=KINDS) -> list[tuple[str, bytes]]:
    """Corrupt and good JPEGs shuffled together (labels 'good-i' for the good)."""
    from tests import photos

    items = corrupt_set(n_corrupt, seed, kinds)
    items += [(f"good-{i}", b) for i, b in enumerate(photos.photo_bytes(n_good))]
    random.Random(seed + 1).shuffle(items)
    return items
