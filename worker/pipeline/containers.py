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

Formats: MP4/MOV (ISO BMFF boxes: ``moov/trak/mdia/{hdlr,minf/stbl/{stsd,stsz}}``),
Matroska/WebM (EBML: ``Segment/Tracks`` and the blocks of every ``Cluster``), WAV (RIFF
``fmt ``/``data``), FLAC (``STREAMINFO``), Ogg (Vorbis/Opus identification header, the last
page's granule position). Pure Python, a pass over box/element headers (block payloads are
skipped, not read): about 2-40 µs per clip of 30-300 frames.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass


class ContainerError(ValueError):
    """The value is not a readable container of a kind we know, or it is cut short."""


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

    def decoded_bytes(self) -> int | None:
        """What DALI's decoder makes of it: RGB uint8 frames, or float32 samples."""
        if self.kind == "video":
            return None if self.frames is None else self.frames * self.width * self.height * 3
        return None if self.samples is None else self.samples * max(1, self.channels) * 4

    def describe(self) -> str:
        if self.kind == "video":
            n = "?" if self.frames is None else self.frames
            return f"{self.container} {self.codec} {self.width}x{self.height}, {n} frames"
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


def _mp4(mv: memoryview) -> MediaInfo:
    end = len(mv)
    moov = None
    for kind, a, b in _boxes(mv, 0, end, "file"):
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
    raise ContainerError("MP4 without a video track")


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
    return MediaInfo("video", "MP4", codec, width=width, height=height, frames=frames)


# -- Matroska / WebM (EBML) -----------------------------------------------------------------
_SEGMENT, _TRACKS, _CLUSTER = 0x18538067, 0x1654AE6B, 0x1F43B675
_TRACK_ENTRY, _TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID = 0xAE, 0xD7, 0x83, 0x86
_VIDEO, _WIDTH, _HEIGHT = 0xE0, 0xB0, 0xBA
_SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xA3, 0xA0, 0xA1
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
    pos = a
    while pos < end:
        eid, x, y = _element(mv, pos, end)
        if eid == _TRACKS:
            track = _video_track(mv, x, y)
        elif eid == _CLUSTER:
            if track is None:
                raise ContainerError(f"{doctype}: a Cluster before the Tracks (not read)")
            n, y = _cluster_blocks(mv, x, y, track[0])
            blocks += n
        pos = y
    if track is None:
        raise ContainerError(f"{doctype} without a video track")
    return MediaInfo("video", doctype, track[1], width=track[2], height=track[3], frames=blocks)


def _video_track(mv: memoryview, a: int, b: int) -> tuple[int, str, int, int]:
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
                        _uint(mv, *fields[_HEIGHT]) if _HEIGHT in fields else 0)
        pos = y
    raise ContainerError("Matroska: no video track in Tracks")


def _cluster_blocks(mv: memoryview, a: int, b: int, track: int) -> tuple[int, int]:
    """Frames of ``track`` in one Cluster, and where the Cluster ends (an unknown-size
    Cluster, as live streams write, ends at the next level-1 element)."""
    n = 0
    pos = a
    while pos < b:
        eid, n_id = _vint(mv, pos, True)
        if eid in _LEVEL1:
            return n, pos
        eid, x, y = _element(mv, pos, b)
        if eid == _SIMPLE_BLOCK:
            n += _block_frames(mv, x, y, track)
        elif eid == _BLOCK_GROUP:
            p = x
            while p < y:
                cid, s, e = _element(mv, p, y)
                if cid == _BLOCK:
                    n += _block_frames(mv, s, e, track)
                p = e
        pos = y
    return n, b


def _block_frames(mv: memoryview, a: int, b: int, track: int) -> int:
    number, n = _vint(mv, a, False)
    if number != track:
        return 0
    flags = mv[a + n + 2] if a + n + 2 < b else 0
    if flags & 0x06 and a + n + 3 < b:  # laced: the next byte is the frame count - 1
        return mv[a + n + 3] + 1
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
    bits = int.from_bytes(mv[8 + 10:8 + 18], "big")
    rate = bits >> 44
    channels = ((bits >> 41) & 0x7) + 1
    total = bits & ((1 << 36) - 1)
    return MediaInfo("audio", "FLAC", "FLAC", sample_rate=rate, channels=channels, samples=total or None)


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
    last = bytes(mv[max(0, len(mv) - 65536):]).rfind(b"OggS")
    granule = None
    if last >= 0:
        at = max(0, len(mv) - 65536) + last
        if at + 14 <= len(mv):
            granule = struct.unpack_from("<q", mv, at + 6)[0]
    return MediaInfo("audio", "Ogg", codec, sample_rate=rate, channels=channels,
                     samples=granule if granule and granule > 0 else None)
