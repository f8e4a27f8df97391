"""Damage inside a clip whose container reads whole: what the frames themselves can tell before
DALI decodes them (issue 31).

A clip damaged in the middle keeps its container's sizes (the bytes were overwritten, not cut),
so ``containers.py`` reads it whole, and DALI 2.4's decoders decode it to the declared number
of frames *without an error* when the damage lies inside a frame's entropy-coded data: measured,
300 zero bytes inside the key frame of a 30-frame VP9 clip gave 30 frames, every one of them
wrong (mean difference 3-5/255, FFmpeg logs nothing). Two things are checked per frame, from
the frame sizes the container gives (Matroska/WebM blocks, MP4 ``stsz``/``stsc``/``stco``):

- **A zero-filled hole** (what an interrupted download, a sparse file or a lost disk sector
  leaves): a run of :data:`ZERO_RUN` or more zero bytes inside one frame's data. Encoders do
  not write such runs: libvpx ends each bool-coded partition with 4 zero bytes of padding, and
  H.264/HEVC forbid three zero bytes inside a NAL unit (emulation prevention). Measured on
  VP8 and VP9 clips of black, white, static, gradient and noise content from 64x64 to 1280x720:
  the longest zero run inside a frame was 5 bytes.
- **A broken frame header** (VP8 and VP9 only): VP9's frame marker (the first two bits are
  ``10``), reserved bit, key-frame sync code ``49 83 42`` and superframe index (the sizes it
  lists must fill the block); VP8's frame tag (version <= 3, first partition inside the frame)
  and key-frame start code ``9d 01 2a``.

What cannot be told before decoding: damage that replaces entropy-coded data with other
non-zero bytes (noise), or zeros shorter than :data:`ZERO_RUN`, leaving every header intact;
zero-filled holes in AV1 and MPEG-4 part 2 frames (their padding may be zeros).
Neither codec carries a checksum; the decoder meets garbage, and DALI decodes it to wrong
pixels or fails (``decode_error``), or stops early (``incomplete_media`` by the frame count).
Those are documented in docs/deployment.md ("What damage is detected").
"""
from __future__ import annotations

from .errors import ContainerError

# 32 bytes: six times the longest run measured in valid frames, and shorter than any disk
# sector or page a zero-filled hole is made of (512 B, 4 KiB)
ZERO_RUN = 32
_ZEROS = bytes(ZERO_RUN)
# codecs whose frames cannot hold such a run: measured (VP8, VP9), or forbidden by emulation
# prevention (H.264, HEVC). AV1 may carry padding OBUs of any bytes, MPEG-4 part 2 stuffing:
# not checked
ZERO_RUN_CODECS = frozenset({"VP8", "VP9", "H.264", "HEVC"})


def check_frames(data, spans: list[tuple[int, int]], codec: str, container: str) -> None:
    """Raise ContainerError("damaged: ...") when a frame of ``spans`` ([start, stop) of each
    frame's data in ``data``, in decode order) has a zero-filled hole or a broken header."""
    if not spans:
        return
    raw = data if isinstance(data, bytes) else bytes(data)
    if codec in ZERO_RUN_CODECS:
        _zero_holes(raw, spans, container)
    header = _VP9 if codec == "VP9" else _VP8 if codec == "VP8" else None
    if header is not None:
        for i, (a, b) in enumerate(spans):
            why = header(raw, a, b)
            if why:
                raise ContainerError(f"damaged: {container} {codec} frame {i} (bytes {a}-{b}): {why}; "
                                     "it was not decoded. Send the clip again, whole")


def _zero_holes(raw: bytes, spans: list[tuple[int, int]], container: str) -> None:
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    runs, at = [], raw.find(_ZEROS, first, last)   # bytes.find: a fast scan (a regex was 5x slower)
    while at != -1:
        end = at + ZERO_RUN
        while end < last and raw[end] == 0:
            end += 1
        runs.append((at, end))
        at = raw.find(_ZEROS, end, last)
    if not runs:
        return
    ordered = sorted(range(len(spans)), key=lambda i: spans[i][0])
    j = 0
    for s, e in runs:  # runs and frames both in file order
        while j < len(ordered) and spans[ordered[j]][1] <= s:
            j += 1
        k = j
        while k < len(ordered) and spans[ordered[k]][0] < e:
            a, b = spans[ordered[k]]
            inside = min(b, e) - max(a, s)
            if inside >= ZERO_RUN:
                raise ContainerError(
                    f"damaged: {container} frame {ordered[k]} (bytes {a}-{b}) holds {inside} zero "
                    f"bytes in a row from byte {max(a, s)} (a zero-filled hole; encoders write at "
                    f"most a few); it was not decoded. Send the clip again, whole")
            k += 1


def _vp9_one(raw: bytes, a: int, b: int) -> str | None:
    if b - a < 1:
        return "an empty frame"
    first = raw[a]
    if first >> 6 != 2:
        return f"its first byte {first:#04x} lacks VP9's frame marker (binary 10...)"
    profile = ((first >> 5) & 1) | (((first >> 4) & 1) << 1)
    bit = 4  # next bit index in the first byte, counted from the top (0..7)
    if profile == 3:
        if (first >> (7 - bit)) & 1:
            return "the reserved bit after profile 3 is set"
        bit += 1
    show_existing = (first >> (7 - bit)) & 1
    if show_existing:
        return None
    frame_type = (first >> (7 - bit - 1)) & 1 if bit + 1 <= 7 else None
    if frame_type == 0:  # key frame: show_frame, error_resilient, then the 24-bit sync code
        start = bit + 4   # bits after frame_type, show_frame, error_resilient_mode
        if b - a < 5:
            return "a key frame shorter than its header"
        word = int.from_bytes(raw[a:a + 5], "big")
        sync = (word >> (40 - start - 24)) & 0xFFFFFF
        if sync != 0x498342:
            return f"a key frame without VP9's sync code 49 83 42 (found {sync:06x})"
    return None


def _VP9(raw: bytes, a: int, b: int) -> str | None:
    """A VP9 block: one frame, or a superframe (frames + an index at the end, marker bits
    110xxxxx in its first and last byte, the sizes of the frames it holds)."""
    last = raw[b - 1] if b > a else 0
    if last & 0xE0 == 0xC0:
        count, mag = (last & 7) + 1, ((last >> 3) & 3) + 1
        index = 2 + mag * count
        if b - a >= index and raw[b - index] == last:
            sizes = [int.from_bytes(raw[b - index + 1 + i * mag:b - index + 1 + (i + 1) * mag], "little")
                     for i in range(count)]
            if sum(sizes) != b - a - index:
                return (f"its superframe index lists frames of {sum(sizes)} bytes in a block of "
                        f"{b - a - index}")
            pos = a
            for size in sizes:
                why = _vp9_one(raw, pos, pos + size)
                if why:
                    return why
                pos += size
            return None
    return _vp9_one(raw, a, b)


def _VP8(raw: bytes, a: int, b: int) -> str | None:
    if b - a < 3:
        return "a frame shorter than VP8's 3-byte frame tag"
    tag = int.from_bytes(raw[a:a + 3], "little")
    key, version, first_part = not tag & 1, (tag >> 1) & 7, tag >> 5
    if version > 3:
        return f"VP8 frame tag declares version {version} (0-3 exist)"
    header = 10 if key else 3
    if header + first_part > b - a:
        return f"VP8 frame tag declares a first partition of {first_part} bytes in a frame of {b - a}"
    if key and raw[a + 3:a + 6] != b"\x9d\x01\x2a":
        return "a key frame without VP8's start code 9d 01 2a"
    return None
