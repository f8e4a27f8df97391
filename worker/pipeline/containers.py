"""Read what a video or audio file declares, before DALI decodes it: the container, the codec,
the frame size, and how many frames (video) or samples (audio) it holds.

Why: three things the worker must know about an encoded clip that DALI does not tell it.
- Its decoded size. A 2 MB VP9 clip of 1000 frames at 1920x1080 decodes to 6.2 GB of RGB:
  the route's caps are checked against the header, as ``headers.py`` does for images.
- Whether it is whole. DALI 2.4's CPU video decoder decodes a clip truncated or damaged
  mid-way to *fewer frames without an error* (measured: a 60-frame VP9 clip cut at 30 %
  gave 6 frames, one with 300 zeroed bytes at 30 % gave 16). The declared count is what the
  decoded count is held against (``fanout.py``): a short clip is one dead letter, not a
  partial result set. A container whose boxes/elements run past the end of the value is
  truncated and refused here.
- Whether this build of DALI can decode its codec (the CPU decoder of the PyPI wheel has no
  H.264/HEVC; ``codec_problem``).

Formats: MP4/MOV (ISO BMFF boxes: ``moov/trak/{tkhd,mdia/{hdlr,minf/stbl/{stsd,stsz,stsc,stco}}}``:
where each frame lies, and the display rotation; bytes after a whole file are ignored),
Matroska/WebM (EBML: ``Segment/Tracks`` and the blocks of every ``Cluster``), WAV (RIFF
``fmt ``/``data``), FLAC (``STREAMINFO``, and the last frame: its CRC-16 and its last sample),
Ogg (Vorbis/Opus identification header, every page's size, the last page's granule position and
end-of-stream flag). Pure Python, a pass over box/element headers (block payloads are
skipped, not read; ``frame_checks.py`` then scans the frames' bytes for zero-filled holes and
reads each VP8/VP9 frame header): a 1,500-frame clip in about 4 ms (WebM) or 1.3 ms (MP4).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ContainerError  # noqa: F401 - raised here, and imported from here by callers


@dataclass(frozen=True, slots=True)
class MediaInfo:
    kind: str                # "video" | "audio"
    container: str           # "MP4", "Matroska", "WebM", "WAV", "FLAC", "Ogg"
    codec: str               # "VP9", "H.264", "PCM", "Vorbis", ... (as declared)
    width: int = 0           # video
    height: int = 0
    frames: int | None = None      # video frames declared (None: not declared)
    sample_rate: int = 0     # audio
    channels: int = 0
    samples: int | None = None     # audio samples per channel declared (None: not declared)
    rotation: int = 0        # video: degrees clockwise the container asks players to turn it

    def decoded_bytes(self) -> int | None:
        """What DALI's decoder makes of it: RGB uint8 frames, or float32 samples."""
        if self.kind == "video":
            return None if self.frames is None else self.frames * self.width * self.height * 3
        return None if self.samples is None else self.samples * max(1, self.channels) * 4

    def describe(self) -> str:
        if self.kind == "video":
            n = "?" if self.frames is None else self.frames
            turn = (f", rotation {self.rotation} (DALI's decoder ignores it: frames come out "
                    "unrotated)") if self.rotation else ""
            return f"{self.container} {self.codec} {self.width}x{self.height}, {n} frames{turn}"
        secs = "?" if not self.samples or not self.sample_rate else f"{self.samples / self.sample_rate:.2f}"
        return f"{self.container} {self.codec} {self.sample_rate} Hz x{self.channels}, {secs} s"


def media_kind(data) -> str | None:
    """"video", "audio" or None, by the file's signature (a few byte comparisons)."""
    head = bytes(data[:12])
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] in (b"fLaC", b"OggS"):
        return "audio"
    return None


def probe(data) -> MediaInfo:
    """The MediaInfo of ``data`` (bytes, memoryview or 1-D uint8 array); ContainerError if
    it is not a container we read, or is truncated."""
    mv = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    head = bytes(mv[:12])
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _matroska(mv)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return _mp4(mv)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav(mv)
    if head[:4] == b"fLaC":
        return _flac(mv)
    if head[:4] == b"OggS":
        return _ogg(mv)
    raise ContainerError(f"not an MP4, Matroska/WebM, WAV, FLAC or Ogg file (first bytes {head[:8].hex(' ')})")


# what DALI 2.4's CPU video decoder (fn.decoders.video, device="cpu") decodes, measured with
# PyAV-made clips: VP8 and VP9 yes; H.264, HEVC, MPEG-4 part 2 and AV1 no ("Codec 27 (h264)
# is not supported by the CPU variant of this operator"). The mixed (GPU) decoder takes H.264,
# HEVC, VP8, VP9, AV1 and MPEG-4 (NVDEC).
CPU_VIDEO_CODECS = frozenset({"VP8", "VP9"})
GPU_VIDEO_CODECS = frozenset({"VP8", "VP9", "H.264", "HEVC", "AV1", "MPEG-4"})


def codec_problem(info: MediaInfo, device: str) -> str | None:
    """Why DALI on ``device`` ("cpu" or a GPU) will not decode ``info``'s video codec, or None."""
    if info.kind != "video":
        return None
    ok = CPU_VIDEO_CODECS if device == "cpu" else GPU_VIDEO_CODECS
    if info.codec in ok:
        return None
    if device == "cpu" and info.codec in GPU_VIDEO_CODECS:
        return (f"its codec {info.codec} is not decoded by DALI's CPU video decoder (this DALI "
                f"build decodes {', '.join(sorted(CPU_VIDEO_CODECS))} on the CPU); run the worker "
                "with --device gpu, or encode the clip as VP9")
    return (f"its codec {info.codec} is not one DALI's video decoder reads "
            f"({', '.join(sorted(ok))}); re-encode the clip")


# -- MP4 / ISO BMFF -------------------------------------------------------------------------
_MP4_CODECS = {b"avc1": "H.264", b"avc3": "H.264", b"hvc1": "HEVC", b"hev1": "HEVC",
               b"vp09": "VP9", b"vp08": "VP8", b"av01": "AV1", b"mp4v": "MPEG-4"}
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(mv: memoryview, start: int, end: int, where: str):
    """(type, payload start, payload end) of each box in mv[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", mv, pos)
        head = 8
        if size == 1:
            if pos + 16 > end:
                raise ContainerError(f"MP4 box {kind!r} at byte {pos} is cut short")
            size = struct.unpack_from(">Q", mv, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head:
            raise ContainerError(f"MP4 box {kind!r} at byte {pos} declares {size} bytes")
        if pos + size > end:
            raise ContainerError(f"truncated: MP4 box {kind.decode('latin-1')!r} at byte {pos} "
                                 f"declares {size} bytes, only {end - pos} are there ({where})")
        yield kind, pos + head, pos + size
        pos += size


# top-level boxes of ISO BMFF files: after 'moov' and 'mdat', bytes that do not start one of
# these are trailing bytes (as FFmpeg, and our Matroska reader, ignore them), not a truncation
_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"udta", b"uuid", b"meta",
            b"moof", b"mfra", b"sidx", b"styp", b"emsg", b"prft", b"pdin", b"ssix"}


def _top_boxes(mv: memoryview, end: int):
    """The file's top-level boxes; stops at trailing bytes after a whole file."""
    seen: set[bytes] = set()
    pos = 0
    while pos + 8 <= end:
        if {b"moov", b"mdat"} <= seen and bytes(mv[pos + 4:pos + 8]) not in _MP4_TOP:
            return
        kind, a, b = next(_boxes(mv, pos, end, "file"))
        seen.add(kind)
        yield kind, a, b
        pos = b


def _mp4(mv: memoryview) -> MediaInfo:
    end = len(mv)
    moov = None
    for kind, a, b in _top_boxes(mv, end):
        if kind == b"moov":
            moov = (a, b)
    if moov is None:
        raise ContainerError("MP4 without a 'moov' box (its index): truncated, or a fragmented "
                             "MP4 (not read); write it whole (ffmpeg -movflags +faststart)")
    for kind, a, b in _boxes(mv, *moov, "moov"):
        if kind != b"trak":
            continue
        found = _mp4_track(mv, a, b)
        if found is not None:
            return found
    raise ContainerError("MP4 without a video track (an audio-only MP4/M4A is not read: the worker "
                         "reads audio as WAV, FLAC or Ogg)")


def _mp4_track(mv: memoryview, a: int, b: int) -> MediaInfo | None:
    boxes: dict[bytes, tuple[int, int]] = {}

    def walk(s: int, e: int, depth: int) -> None:
        for kind, x, y in _boxes(mv, s, e, "trak"):
            boxes.setdefault(kind, (x, y))
            if kind in _MP4_CONTAINERS and depth < 6:
                walk(x, y, depth + 1)

    walk(a, b, 0)
    hdlr, stsd, stsz = boxes.get(b"hdlr"), boxes.get(b"stsd"), boxes.get(b"stsz")
    if hdlr is None or bytes(mv[hdlr[0] + 8:hdlr[0] + 12]) != b"vide":
        return None
    if stsd is None or stsd[1] - stsd[0] < 8 + 36:
        raise ContainerError("MP4 video track without a readable sample description ('stsd')")
    entry = stsd[0] + 8
    fourcc = bytes(mv[entry + 4:entry + 8])
    width, height = struct.unpack_from(">HH", mv, entry + 32)
    frames = None
    if stsz is not None and stsz[1] - stsz[0] >= 12:
        frames = struct.unpack_from(">I", mv, stsz[0] + 8)[0]
    codec = _MP4_CODECS.get(fourcc, fourcc.decode("latin-1").strip())
    spans = _mp4_samples(mv, stsz, boxes.get(b"stsc"), boxes.get(b"stco") or boxes.get(b"co64"),
                         b"co64" in boxes and b"stco" not in boxes)
    if spans:
        from .frame_checks import check_frames

        check_frames(mv, spans, codec, "MP4")
    return MediaInfo("video", "MP4", codec, width=width, height=height, frames=frames,
                     rotation=_mp4_rotation(mv, boxes.get(b"tkhd")))


def _mp4_rotation(mv: memoryview, tkhd) -> int:
    """Degrees clockwise of the track header's display matrix (0, 90, 180, 270), 0 if none."""
    if tkhd is None:
        return 0
    at = tkhd[0] + (52 if mv[tkhd[0]] == 1 else 40)  # version 1 has 64-bit times
    if at + 16 > tkhd[1]:
        return 0
    a, b, _, c, d = struct.unpack_from(">iiiii", mv, at)
    turns = {(1, 0, 0, 1): 0, (0, 1, -1, 0): 90, (-1, 0, 0, -1): 180, (0, -1, 1, 0): 270}
    return turns.get(tuple(round(v / 65536) for v in (a, b, c, d)), 0)


def _mp4_samples(mv: memoryview, stsz, stsc, stco, wide: bool) -> list[tuple[int, int]]:
    """[start, stop) of every sample of the track, from its sizes ('stsz'), chunk map ('stsc')
    and chunk offsets ('stco'/'co64'); a sample that runs past the end is a truncation."""
    if stsz is None or stsc is None or stco is None or stsz[1] - stsz[0] < 12:
        return []
    fixed, count = struct.unpack_from(">II", mv, stsz[0] + 4)
    if not fixed and stsz[0] + 12 + 4 * count > stsz[1]:
        raise ContainerError("MP4 'stsz' lists more samples than it holds: corrupt")
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", mv, stsz[0] + 12))
    n_chunks = struct.unpack_from(">I", mv, stco[0] + 4)[0]
    width = 8 if wide else 4
    if stco[0] + 8 + width * n_chunks > stco[1]:
        raise ContainerError("MP4 chunk offsets ('stco') list more chunks than they hold: corrupt")
    offsets = struct.unpack_from(f">{n_chunks}{'Q' if wide else 'I'}", mv, stco[0] + 8)
    runs = struct.unpack_from(">I", mv, stsc[0] + 4)[0]
    if stsc[0] + 8 + 12 * runs > stsc[1]:
        raise ContainerError("MP4 'stsc' lists more entries than it holds: corrupt")
    table = [struct.unpack_from(">II", mv, stsc[0] + 8 + 12 * i) for i in range(runs)]
    spans, sample, end = [], 0, len(mv)
    for r, (first, per_chunk) in enumerate(table):
        last = table[r + 1][0] - 1 if r + 1 < runs else n_chunks
        for chunk in range(first - 1, min(last, n_chunks)):
            pos = offsets[chunk]
            for _ in range(per_chunk):
                if sample >= count:
                    return spans
                stop = pos + sizes[sample]
                if stop > end:
                    raise ContainerError(f"truncated: MP4 sample {sample} at bytes {pos}-{stop} runs "
                                         f"past the end ({end} bytes)")
                spans.append((pos, stop))
                pos, sample = stop, sample + 1
    return spans


# -- Matroska / WebM (EBML) -----------------------------------------------------------------
_SEGMENT, _TRACKS, _CLUSTER = 0x18538067, 0x1654AE6B, 0x1F43B675
_TRACK_ENTRY, _TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID = 0xAE, 0xD7, 0x83, 0x86
_VIDEO, _WIDTH, _HEIGHT = 0xE0, 0xB0, 0xBA
_SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xA3, 0xA0, 0xA1
_CONTENT_ENCODINGS = 0x6D80   # a track whose frames are compressed or header-stripped
_LEVEL1 = {0x114D9B74, 0x1549A966, _TRACKS, _CLUSTER, 0x1C53BB6B, 0x1941A469, 0x1043A770, 0x1254C367}
_MKV_CODECS = {"V_VP9": "VP9", "V_VP8": "VP8", "V_MPEG4/ISO/AVC": "H.264", "V_MPEGH/ISO/HEVC": "HEVC",
               "V_AV1": "AV1", "V_MPEG4/ISO/ASP": "MPEG-4"}
_UNKNOWN = -1


def _vint(mv: memoryview, pos: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length). Unknown size: -1."""
    if pos >= len(mv):
        raise ContainerError(f"truncated: Matroska element header at byte {pos} is past the end")
    first = mv[pos]
    if first == 0:
        raise ContainerError(f"Matroska: invalid element header at byte {pos} (a zero byte): corrupt")
    length = 8 - first.bit_length() + 1
    if pos + length > len(mv):
        raise ContainerError(f"truncated: Matroska element header at byte {pos} is cut short")
    value = first if keep_marker else first & (0xFF >> length)
    for i in range(1, length):
        value = (value << 8) | mv[pos + i]
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length
    return value, length


def _element(mv: memoryview, pos: int, end: int) -> tuple[int, int, int]:
    """(id, payload start, payload end) of the element at ``pos`` inside a parent ending at ``end``."""
    eid, n = _vint(mv, pos, True)
    size, m = _vint(mv, pos + n, False)
    start = pos + n + m
    if size == _UNKNOWN:
        return eid, start, end
    if start + size > end:
        raise ContainerError(f"truncated: Matroska element 0x{eid:X} at byte {pos} declares {size} "
                             f"bytes, only {end - start} are there")
    return eid, start, start + size


def _uint(mv: memoryview, a: int, b: int) -> int:
    return int.from_bytes(mv[a:b], "big")


def _matroska(mv: memoryview) -> MediaInfo:
    end = len(mv)
    eid, a, b = _element(mv, 0, end)
    doctype = "Matroska"
    pos = a
    while pos < b:
        cid, x, y = _element(mv, pos, b)
        if cid == 0x4282:
            doctype = "WebM" if bytes(mv[x:y]).rstrip(b"\0") == b"webm" else "Matroska"
        pos = y
    pos = b
    while pos < end:
        eid, a, seg_end = _element(mv, pos, end)
        if eid == _SEGMENT:
            return _segment(mv, a, seg_end, doctype)
        pos = seg_end
    raise ContainerError(f"{doctype} without a Segment")


def _segment(mv: memoryview, a: int, end: int, doctype: str) -> MediaInfo:
    track = None  # (number, codec, width, height)
    blocks = 0
    spans: list[tuple[int, int]] = []
    pos = a
    while pos < end:
        eid, x, y = _element(mv, pos, end)
        if eid == _TRACKS:
            track = _video_track(mv, x, y)
        elif eid == _CLUSTER:
            if track is None:
                raise ContainerError(f"{doctype}: a Cluster before the Tracks (not read)")
            n, y = _cluster_blocks(mv, x, y, track[0], spans)
            blocks += n
        pos = y
    if track is None:
        raise ContainerError(f"{doctype} without a video track (the worker reads audio as WAV, "
                             "FLAC or Ogg)")
    if not track[4]:   # frames stored as written (no ContentEncodings: compression, header stripping)
        from .frame_checks import check_frames

        check_frames(mv, spans, track[1], doctype)
    return MediaInfo("video", doctype, track[1], width=track[2], height=track[3], frames=blocks)


def _video_track(mv: memoryview, a: int, b: int) -> tuple[int, str, int, int, bool]:
    pos = a
    while pos < b:
        eid, x, y = _element(mv, pos, b)
        if eid == _TRACK_ENTRY:
            fields: dict[int, tuple[int, int]] = {}
            p = x
            while p < y:
                cid, s, e = _element(mv, p, y)
                fields[cid] = (s, e)
                if cid == _VIDEO:
                    q = s
                    while q < e:
                        vid, vs, ve = _element(mv, q, e)
                        fields[vid] = (vs, ve)
                        q = ve
                p = e
            if _TRACK_TYPE in fields and _uint(mv, *fields[_TRACK_TYPE]) == 1:
                codec_id = bytes(mv[slice(*fields[_CODEC_ID])]).decode("latin-1").rstrip("\0") \
                    if _CODEC_ID in fields else "?"
                return (_uint(mv, *fields[_TRACK_NUMBER]) if _TRACK_NUMBER in fields else 1,
                        _MKV_CODECS.get(codec_id, codec_id),
                        _uint(mv, *fields[_WIDTH]) if _WIDTH in fields else 0,
                        _uint(mv, *fields[_HEIGHT]) if _HEIGHT in fields else 0,
                        _CONTENT_ENCODINGS in fields)
        pos = y
    raise ContainerError("Matroska: no video track in Tracks")


def _cluster_blocks(mv: memoryview, a: int, b: int, track: int,
                    spans: list[tuple[int, int]]) -> tuple[int, int]:
    """Frames of ``track`` in one Cluster, and where the Cluster ends (an unknown-size
    Cluster, as live streams write, ends at the next level-1 element). The data of each
    unlaced frame is appended to ``spans``."""
    n = 0
    pos = a
    while pos < b:
        eid, n_id = _vint(mv, pos, True)
        if eid in _LEVEL1:
            return n, pos
        eid, x, y = _element(mv, pos, b)
        if eid == _SIMPLE_BLOCK:
            n += _block_frames(mv, x, y, track, spans)
        elif eid == _BLOCK_GROUP:
            p = x
            while p < y:
                cid, s, e = _element(mv, p, y)
                if cid == _BLOCK:
                    n += _block_frames(mv, s, e, track, spans)
                p = e
        pos = y
    return n, b


def _block_frames(mv: memoryview, a: int, b: int, track: int, spans: list) -> int:
    number, n = _vint(mv, a, False)
    if number != track:
        return 0
    flags = mv[a + n + 2] if a + n + 2 < b else 0
    if flags & 0x06 and a + n + 3 < b:  # laced: the next byte is the frame count - 1
        return mv[a + n + 3] + 1
    spans.append((a + n + 3, b))  # after the track number, timecode (2) and flags (1)
    return 1


# -- audio ------------------------------------------------------------------------------------
_WAV_CODECS = {1: "PCM", 3: "PCM float", 6: "A-law", 7: "mu-law", 0xFFFE: "PCM (extensible)"}


def _wav(mv: memoryview) -> MediaInfo:
    pos, end = 12, len(mv)
    fmt = None
    while pos + 8 <= end:
        cid, size = struct.unpack_from("<4sI", mv, pos)
        body = pos + 8
        if cid == b"fmt " and size >= 16 and body + 16 <= end:
            fmt = struct.unpack_from("<HHIIHH", mv, body)
        elif cid == b"data":
            if fmt is None:
                raise ContainerError("WAV: 'data' before 'fmt '")
            tag, channels, rate, _, align, _ = fmt
            if size in (0, 0xFFFFFFFF):  # a streamed WAV: length not declared
                samples = None
            elif body + size > end:
                raise ContainerError(f"truncated: WAV 'data' declares {size} bytes, only {end - body} are there")
            else:
                samples = size // max(1, align)
            return MediaInfo("audio", "WAV", _WAV_CODECS.get(tag, f"format {tag}"),
                             sample_rate=rate, channels=channels, samples=samples)
        pos = body + size + (size & 1)
    raise ContainerError("WAV without a 'data' chunk (truncated?)")


def _flac(mv: memoryview) -> MediaInfo:
    if len(mv) < 8 + 34 or mv[4] & 0x7F != 0:
        raise ContainerError("FLAC without a STREAMINFO block (truncated?)")
    min_block = struct.unpack_from(">H", mv, 8)[0]
    bits = int.from_bytes(mv[8 + 10:8 + 18], "big")
    rate = bits >> 44
    channels = ((bits >> 41) & 0x7) + 1
    total = bits & ((1 << 36) - 1)
    if total:
        _flac_check_end(mv, total, min_block)
    return MediaInfo("audio", "FLAC", "FLAC", sample_rate=rate, channels=channels, samples=total or None)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC16 = []
for _i in range(256):
    _c = _i << 8
    for _ in range(8):
        _c = ((_c << 1) ^ 0x8005) & 0xFFFF if _c & 0x8000 else (_c << 1) & 0xFFFF
    _CRC16.append(_c)


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _flac_frame_header(tail: bytes, at: int, min_block: int) -> tuple[int, int] | None:
    """(first sample, block size) of a FLAC frame header at ``tail[at]`` whose CRC-8 checks."""
    if len(tail) < at + 6:
        return None
    variable = tail[at + 1] & 1
    bs_code, rate_code = tail[at + 2] >> 4, tail[at + 2] & 15
    if bs_code == 0 or rate_code == 15 or tail[at + 3] & 1:
        return None
    first = tail[at + 4]   # the frame or sample number, UTF-8 coded
    extra = 0 if first < 0x80 else 8 - (first ^ 0xFF).bit_length() - 1
    if extra < 0 or extra > 6 or (first & 0xC0) == 0x80:
        return None
    number = first & (0x7F >> extra) if extra else first
    pos = at + 5
    for _ in range(extra):
        if pos >= len(tail) or tail[pos] & 0xC0 != 0x80:
            return None
        number = (number << 6) | (tail[pos] & 0x3F)
        pos += 1
    if bs_code in (6, 7):
        n = 1 if bs_code == 6 else 2
        if pos + n > len(tail):
            return None
        block = int.from_bytes(tail[pos:pos + n], "big") + 1
        pos += n
    else:
        block = 192 if bs_code == 1 else 576 << (bs_code - 2) if bs_code <= 5 else 256 << (bs_code - 8)
    pos += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if pos >= len(tail) or _crc8(tail[at:pos]) != tail[pos]:
        return None
    return (number if variable else number * min_block), block


def _flac_check_end(mv: memoryview, total: int, min_block: int) -> None:
    """A FLAC file ends with a whole last frame: its header (CRC-8) and body (CRC-16) check,
    and it ends at the sample STREAMINFO declares last. Else it is truncated."""
    end = len(mv)
    if end >= 128 and bytes(mv[end - 128:end - 125]) == b"TAG":   # an ID3v1 tag appended
        end -= 128
    start = max(0, end - 65536)
    tail = bytes(mv[start:end])
    at = len(tail)
    while True:
        at = max(tail.rfind(b"\xff\xf8", 0, at), tail.rfind(b"\xff\xf9", 0, at))
        if at < 0:
            break
        header = _flac_frame_header(tail, at, min_block)
        if header is not None and _crc16(tail[at:-2]) == int.from_bytes(tail[-2:], "big"):
            first, block = header
            if first + block < total:
                raise ContainerError(f"truncated: FLAC ends after sample {first + block} of the "
                                     f"{total} its STREAMINFO declares")
            return
    raise ContainerError(f"truncated: FLAC's last frame is cut short (no whole frame ends the "
                         f"file; its STREAMINFO declares {total} samples)")


def _ogg(mv: memoryview) -> MediaInfo:
    if len(mv) < 28 + 19:
        raise ContainerError("Ogg: shorter than one page (truncated?)")
    segs = mv[26]
    packet = bytes(mv[27 + segs:27 + segs + 19])
    if packet[:7] == b"\x01vorbis":
        codec, channels, rate = "Vorbis", packet[11], struct.unpack_from("<I", packet, 12)[0]
    elif packet[:8] == b"OpusHead":
        codec, channels, rate = "Opus", packet[9], 48000  # Opus granules count 48 kHz samples
    else:
        raise ContainerError("Ogg without a Vorbis or Opus stream")
    granule = _ogg_last_granule(mv)
    return MediaInfo("audio", "Ogg", codec, sample_rate=rate, channels=channels,
                     samples=granule if granule and granule > 0 else None)


def _ogg_last_granule(mv: memoryview) -> int:
    """The granule position of the last page, walking every page header: a page that runs
    past the end, or a last page without the end-of-stream flag, is a truncation."""
    pos, end, granule, flags = 0, len(mv), 0, 0
    while pos < end:
        if pos + 27 > end:
            raise ContainerError(f"truncated: Ogg page header at byte {pos} is cut short")
        if bytes(mv[pos:pos + 4]) != b"OggS":
            raise ContainerError(f"Ogg: no page at byte {pos} (capture pattern 'OggS' missing): corrupt")
        flags, granule, segs = mv[pos + 5], struct.unpack_from("<q", mv, pos + 6)[0], mv[pos + 26]
        if pos + 27 + segs > end:
            raise ContainerError(f"truncated: Ogg page at byte {pos} is cut short")
        size = 27 + segs + sum(mv[pos + 27:pos + 27 + segs])
        if pos + size > end:
            raise ContainerError(f"truncated: Ogg page at byte {pos} declares {size} bytes, only "
                                 f"{end - pos} are there")
        pos += size
    if not flags & 0x04:
        raise ContainerError("truncated: Ogg's last page lacks the end-of-stream flag (the file "
                             "stops between pages)")
    return granule
