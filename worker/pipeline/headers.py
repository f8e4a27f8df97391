"""Image dimensions from the file header, without decoding: the decoded-size cap (issue 15).

A few kilobytes can declare a 30000x30000 image (900 MP; DALI 2.4's CPU decoder decoded such a
PNG at 5.4 GB peak RSS). So before DALI sees a sample its header is read here and a sample over
the route's ``max_pixels`` is dead-lettered (``image_too_large``), as is one whose header cannot
be read (``unreadable_header``): a file whose size the worker cannot know is not decoded.

Pure Python on the event loop, once per image input: it reads a few hundred bytes in the common
case (JPEG reads marker headers only, skipping APPn segments by their length; TIFF reads IFD0's
entries; JP2 walks box headers). :func:`read_header` returns a :class:`Header` or raises
:class:`HeaderError` saying what is wrong.

Formats (as :func:`worker.pipeline.media.image_format` names them): JPEG (any SOFn: baseline,
extended, progressive, lossless, arithmetic), PNG (IHDR), GIF (logical screen), BMP (core and
info headers, negative height = top-down), TIFF (IFD0 ImageWidth/ImageLength, both byte orders,
SHORT or LONG, and BigTIFF), WebP (VP8, VP8L, VP8X), JPEG 2000 (JP2 ``jp2h/ihdr`` and a raw
codestream's SIZ), PNM (P1-P6).

``channels`` and ``frames`` are what the header says, or None where it does not say cheaply
(GIF frames need a walk of the whole file; TIFF pages past IFD0 are not read, and DALI decodes
the first page only).
"""
from __future__ import annotations

import struct
from typing import NamedTuple


class HeaderError(ValueError):
    """The header is missing, truncated or inconsistent; the message says where."""


class _Truncated(HeaderError):
    """The bytes ran out before the header did."""


class Header(NamedTuple):
    format: str
    width: int
    height: int
    channels: int | None = None
    frames: int | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _u16be(b, o):
    return (b[o] << 8) | b[o + 1]


def _need(data, end: int, what: str) -> None:
    if len(data) < end:
        raise _Truncated(f"truncated: {what} needs {end} bytes, the file has {len(data)}")


def _dims(fmt: str, w: int, h: int, channels=None, frames=None) -> Header:
    if w <= 0 or h <= 0:
        raise HeaderError(f"{fmt} header declares {w}x{h} pixels")
    return Header(fmt, w, h, channels, frames)


# ---- JPEG -------------------------------------------------------------------------------------
# SOF markers: C0-C3, C5-C7, C9-CB, CD-CF (C4 DHT, C8 JPG, CC DAC are not frames)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


_MARK = struct.Struct(">BBH")


def _jpeg(b) -> Header:
    n = len(b)
    i = 2
    while True:
        if i + 4 <= n:  # the common case: FF, marker, 2-byte length
            ff, m, seg = _MARK.unpack_from(b, i)
            if ff == 0xFF and m != 0xFF and 0xC0 <= m <= 0xFE and m not in _NOLEN:
                i += 2
            else:
                m, seg, i = _jpeg_slow(b, i)
        else:
            m, seg, i = _jpeg_slow(b, i)
        if m is None:  # a marker without a length (RSTn, TEM, SOI)
            continue
        if seg < 2:
            raise HeaderError(f"JPEG segment {m:#04x} at byte {i} has length {seg}")
        if m in _SOF:
            _need(b, i + 8, "the JPEG frame header")
            h, w, nc = struct.unpack_from(">HHB", b, i + 3)
            if h == 0:  # the height may come in a DNL marker after the first scan
                raise HeaderError("JPEG frame header declares height 0 (DNL): size unknown before decoding")
            return _dims("JPEG", w, h, nc, 1)
        if m == 0xDA:  # SOS before any SOF
            raise HeaderError("JPEG has no frame header (SOFn) before its scan data")
        i += seg


_NOLEN = frozenset([0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)])


def _jpeg_slow(b, i: int):
    """The marker at ``i`` the long way (fill bytes, markers without a length, truncation):
    (marker or None, segment length, index of the length field)."""
    n = len(b)
    if i >= n:
        raise _Truncated("JPEG is truncated: it ends before a frame header (SOFn)")
    if b[i] != 0xFF:
        raise HeaderError(f"JPEG: expected a marker at byte {i}, found {b[i]:#04x}")
    while i < n and b[i] == 0xFF:  # a marker may be preceded by 0xFF fill bytes
        i += 1
    if i >= n:
        raise _Truncated("JPEG is truncated: it ends before a frame header (SOFn)")
    m = b[i]
    i += 1
    if m == 0xD9:
        raise HeaderError("JPEG has no frame header (SOFn) before its end (EOI)")
    if m in _NOLEN:
        return None, 0, i
    _need(b, i + 2, "a JPEG segment length")
    return m, _u16be(b, i), i


# ---- PNG --------------------------------------------------------------------------------------
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png(b) -> Header:
    _need(b, 33, "the PNG IHDR chunk")
    if bytes(b[12:16]) != b"IHDR":
        raise HeaderError("PNG: the first chunk is not IHDR")
    w, h = struct.unpack_from(">II", b, 16)
    ctype = b[25]
    if ctype not in _PNG_CHANNELS:
        raise HeaderError(f"PNG: colour type {ctype} is not one PNG defines")
    frames = None
    # APNG's acTL comes before IDAT, usually right after IHDR
    if bytes(b[37:41]) == b"acTL" and len(b) >= 45:
        frames = struct.unpack_from(">I", b, 41)[0]
    return _dims("PNG", w, h, _PNG_CHANNELS[ctype], frames or 1)


# ---- GIF --------------------------------------------------------------------------------------
def _gif(b) -> Header:
    _need(b, 10, "the GIF logical screen descriptor")
    w, h = struct.unpack_from("<HH", b, 6)
    return _dims("GIF", w, h, 3, None)


# ---- BMP --------------------------------------------------------------------------------------
def _bmp(b) -> Header:
    _need(b, 18, "the BMP info header size")
    hsize = struct.unpack_from("<I", b, 14)[0]
    if hsize == 12:  # BITMAPCOREHEADER
        _need(b, 26, "the BMP core header")
        w, h, _, bpp = struct.unpack_from("<HHHH", b, 18)
    elif hsize >= 40:
        _need(b, 30, "the BMP info header")
        w, h, _, bpp = struct.unpack_from("<iiHH", b, 18)
        h = abs(h)  # negative: rows stored top-down
    else:
        raise HeaderError(f"BMP info header of {hsize} bytes is not one BMP defines")
    return _dims("BMP", w, h, 4 if bpp == 32 else 3, 1)


# ---- TIFF -------------------------------------------------------------------------------------
_TIFF_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 16: 8, 17: 8, 18: 8}
_TIFF_INT = {1: "B", 3: "H", 4: "I", 16: "Q", 6: "b", 8: "h", 9: "i", 17: "q"}


def _tiff(b) -> Header:
    _need(b, 8, "the TIFF header")
    e = "<" if bytes(b[:2]) == b"II" else ">"
    magic = struct.unpack_from(e + "H", b, 2)[0]
    if magic == 42:
        ifd = struct.unpack_from(e + "I", b, 4)[0]
        cfmt, esize, vfmt, vsize = "H", 12, "I", 4
    elif magic == 43:  # BigTIFF
        _need(b, 16, "the BigTIFF header")
        ifd = struct.unpack_from(e + "Q", b, 8)[0]
        cfmt, esize, vfmt, vsize = "Q", 20, "Q", 8
    else:
        raise HeaderError(f"TIFF magic {magic} is neither 42 nor 43 (BigTIFF)")
    csize = struct.calcsize(cfmt)
    _need(b, ifd + csize, "TIFF IFD0's entry count")
    count = struct.unpack_from(e + cfmt, b, ifd)[0]
    if count == 0 or count > 4096:
        raise HeaderError(f"TIFF IFD0 declares {count} entries")
    _need(b, ifd + csize + count * esize, "TIFF IFD0's entries")
    tags: dict[int, int] = {}
    for k in range(count):
        o = ifd + csize + k * esize
        tag, typ = struct.unpack_from(e + "HH", b, o)
        if tag not in (256, 257, 277):  # ImageWidth, ImageLength, SamplesPerPixel
            continue
        if typ not in _TIFF_INT:
            raise HeaderError(f"TIFF tag {tag} has type {typ}, not an integer type")
        n = struct.unpack_from(e + vfmt, b, o + 4)[0]
        if n < 1:
            raise HeaderError(f"TIFF tag {tag} has no value")
        if _TIFF_SIZE[typ] > vsize:  # a value that does not fit inline lives at an offset
            at = struct.unpack_from(e + vfmt, b, o + 4 + vsize)[0]
            _need(b, at + _TIFF_SIZE[typ], f"TIFF tag {tag}'s value")
        else:
            at = o + 4 + vsize
        tags[tag] = struct.unpack_from(e + _TIFF_INT[typ], b, at)[0]
    if 256 not in tags or 257 not in tags:
        raise HeaderError("TIFF IFD0 lacks ImageWidth or ImageLength")
    return _dims("TIFF", tags[256], tags[257], tags.get(277, 1), None)


# ---- WebP -------------------------------------------------------------------------------------
def _webp(b) -> Header:
    _need(b, 30, "the WebP chunk header")
    chunk = bytes(b[12:16])
    if chunk == b"VP8 ":
        if bytes(b[23:26]) != b"\x9d\x01\x2a":
            raise HeaderError("WebP VP8 key frame start code missing")
        w, h = struct.unpack_from("<HH", b, 26)
        return _dims("WebP", w & 0x3FFF, h & 0x3FFF, 3, 1)
    if chunk == b"VP8L":
        if b[20] != 0x2F:
            raise HeaderError("WebP VP8L signature byte missing")
        v = struct.unpack_from("<I", b, 21)[0]
        w, h = (v & 0x3FFF) + 1, ((v >> 14) & 0x3FFF) + 1
        return _dims("WebP", w, h, 4 if (v >> 28) & 1 else 3, 1)
    if chunk == b"VP8X":
        flags = b[20]
        w = (b[24] | (b[25] << 8) | (b[26] << 16)) + 1
        h = (b[27] | (b[28] << 8) | (b[29] << 16)) + 1
        return _dims("WebP", w, h, 4 if flags & 0x10 else 3, None if flags & 0x02 else 1)
    raise HeaderError(f"WebP first chunk {chunk!r} is none of VP8, VP8L, VP8X")


# ---- JPEG 2000 --------------------------------------------------------------------------------
def _siz(b, o: int, fmt: str) -> Header:
    # SIZ: FF51 Lsiz(2) Rsiz(2) Xsiz Ysiz XOsiz YOsiz (4 each) ... Csiz(2) at +38
    _need(b, o + 40, "the JPEG 2000 SIZ segment")
    if bytes(b[o:o + 2]) != b"\xff\x51":
        raise HeaderError("JPEG 2000 codestream: SIZ does not follow SOC")
    xs, ys, xo, yo = struct.unpack_from(">IIII", b, o + 6)
    nc = _u16be(b, o + 38)
    return _dims(fmt, xs - xo, ys - yo, nc, 1)


def _jp2(b) -> Header:
    i, n = 0, len(b)
    end = n
    while i + 8 <= end:
        size, box = struct.unpack_from(">I4s", b, i)
        hdr = 8
        if size == 1:
            _need(b, i + 16, "a JP2 box's extended length")
            size, hdr = struct.unpack_from(">Q", b, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < hdr:
            raise HeaderError(f"JP2 box {box!r} at byte {i} has length {size}")
        if box == b"jp2h":  # superbox: walk into it
            i, end = i + hdr, min(end, i + size)
            continue
        if box == b"ihdr":
            _need(b, i + hdr + 10, "the JP2 ihdr box")
            h, w, nc = struct.unpack_from(">IIH", b, i + hdr)
            return _dims("JPEG 2000", w, h, nc, 1)
        if box == b"jp2c":
            return _siz(b, i + hdr + 2, "JPEG 2000")
        i += size
    raise HeaderError("JP2 file has no ihdr box")


# ---- PNM --------------------------------------------------------------------------------------
def _pnm(b) -> Header:
    head = bytes(b[:1024])
    kind = head[1:2]
    vals: list[int] = []
    want = 2 if kind in (b"1", b"4") else 3
    i = 2
    while len(vals) < want:
        while i < len(head) and (head[i:i + 1].isspace() or head[i:i + 1] == b"#"):
            if head[i:i + 1] == b"#":
                j = head.find(b"\n", i)
                if j < 0:
                    raise HeaderError("PNM header comment runs past the first 1 KiB")
                i = j
            i += 1
        j = i
        while j < len(head) and head[j:j + 1].isdigit():
            j += 1
        if j == i:
            raise HeaderError("PNM header: expected a number for width/height/maxval")
        vals.append(int(head[i:j]))
        i = j
    return _dims("PNM", vals[0], vals[1], 3 if kind in (b"3", b"6") else 1, 1)


_PARSERS = {"JPEG": _jpeg, "PNG": _png, "GIF": _gif, "BMP": _bmp, "TIFF": _tiff, "WebP": _webp,
            "JPEG 2000": _jp2, "JPEG 2000 codestream": lambda b: _siz(b, 2, "JPEG 2000"),
            "PNM": _pnm}


def read_header(data, fmt: str | None = None) -> Header:
    """The dimensions ``data`` (bytes, memoryview or 1-D uint8 array) declares. ``fmt`` is its
    format as :func:`worker.pipeline.media.image_format` names it (found here if not given).
    Reads through a memoryview: nothing is copied but the few bytes compared."""
    if fmt is None:
        from worker.pipeline.media import image_format
        fmt = image_format(data)
    parser = _PARSERS.get(fmt)  # type: ignore[arg-type]
    if parser is None:
        raise HeaderError(f"not an image format whose header the worker reads ({fmt})")
    if not isinstance(data, bytes):
        data = data if isinstance(data, memoryview) else memoryview(data)
        if data.format != "B" or data.ndim != 1:
            data = data.cast("B")
    try:
        return parser(data)
    except HeaderError as exc:
        raise HeaderError(str(exc)) from None  # one exception type for callers, not _Truncated
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        raise HeaderError(f"{fmt} header is truncated or malformed ({exc})") from None
