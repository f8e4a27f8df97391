"""worker.pipeline.headers: dimensions from the header, checked against DALI's own
fn.peek_image_shape on the committed photos and on Pillow-made images in every format, plus
crafted headers (decompression bombs, both TIFF byte orders, BMP top-down, JPEG SOF variants)."""
from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from worker.pipeline.headers import Header, HeaderError, read_header
from worker.pipeline.media import image_format

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = sorted((ROOT / "tests/data").iterdir())


# ---- images --------------------------------------------------------------------------------------

def _img(w: int, h: int, mode: str):
    from PIL import Image

    a = np.zeros((h, w, 4), np.uint8)
    a[..., 0] = (np.arange(w)[None, :] * 3) % 256
    a[..., 1] = (np.arange(h)[:, None] * 5) % 256
    a[..., 2] = 128
    a[..., 3] = 200
    im = Image.fromarray(a, "RGBA")
    return im if mode == "RGBA" else im.convert(mode)


def _save(im, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, format=fmt, **kw)
    return b.getvalue()


@functools.lru_cache(maxsize=1)
def pillow_images() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """name -> (file, (width, height)), every format and the common variants of each."""
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00" + b"\x00" * 3000  # a long APP1
    specs = {
        "jpeg-baseline": (_img(123, 45, "RGB"), "JPEG", {"quality": 90}),
        "jpeg-progressive": (_img(77, 130, "RGB"), "JPEG", {"progressive": True}),
        "jpeg-gray": (_img(64, 33, "L"), "JPEG", {}),
        "jpeg-cmyk": (_img(41, 29, "CMYK"), "JPEG", {}),
        "jpeg-long-app1": (_img(50, 70, "RGB"), "JPEG", {"exif": exif}),
        "png-rgb": (_img(200, 13, "RGB"), "PNG", {}),
        "png-gray": (_img(31, 17, "L"), "PNG", {}),
        "png-rgba": (_img(40, 41, "RGBA"), "PNG", {}),
        "png-palette": (_img(40, 41, "RGB").convert("P"), "PNG", {}),
        "png-16bit": (_img(20, 22, "L").convert("I;16"), "PNG", {}),
        "gif": (_img(90, 60, "RGB").convert("P"), "GIF", {}),
        "bmp-rgb": (_img(99, 51, "RGB"), "BMP", {}),
        "bmp-rgba": (_img(20, 30, "RGBA"), "BMP", {}),
        "bmp-gray": (_img(21, 11, "L"), "BMP", {}),
        "tiff-raw": (_img(65, 66, "RGB"), "TIFF", {}),
        "tiff-deflate": (_img(300, 7, "RGB"), "TIFF", {"compression": "tiff_adobe_deflate"}),
        "tiff-gray-lzw": (_img(17, 300, "L"), "TIFF", {"compression": "tiff_lzw"}),
        "webp-lossy": (_img(111, 57, "RGB"), "WEBP", {"quality": 80}),
        "webp-lossless": (_img(111, 57, "RGB"), "WEBP", {"lossless": True}),
        "webp-alpha": (_img(64, 48, "RGBA"), "WEBP", {"quality": 80}),
        "jp2": (_img(70, 90, "RGB"), "JPEG2000", {}),
        "j2k": (_img(71, 93, "RGB"), "JPEG2000", {"no_jp2": True}),
        "pnm-ppm": (_img(33, 22, "RGB"), "PPM", {}),
        "pnm-pgm": (_img(34, 23, "L"), "PPM", {}),
        "pnm-pbm": (_img(35, 24, "1"), "PPM", {}),
    }
    return {name: (_save(im, fmt, **kw), im.size) for name, (im, fmt, kw) in specs.items()}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _tiff(w: int, h: int, endian: str = "<", typ: int = 4) -> bytes:
    """A minimal uncompressed RGB TIFF header (IFD0) declaring w x h; ``typ`` 3 SHORT, 4 LONG."""
    magic = b"II" if endian == "<" else b"MM"
    fmt = "H" if typ == 3 else "I"
    entries = [(256, typ, 1, w), (257, typ, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 200), (277, 3, 1, 3), (278, typ, 1, h), (279, 4, 1, 3 * w * h & 0xFFFFFFFF)]
    ifd = struct.pack(endian + "H", len(entries))
    for tag, t, n, v in entries:
        f = "H" if t == 3 else "I"
        val = struct.pack(endian + f, v) + (b"\x00\x00" if f == "H" else b"")
        if t == 3 and f != fmt and tag in (256, 257):
            val = struct.pack(endian + "H", v) + b"\x00\x00"
        ifd += struct.pack(endian + "HHI", tag, t, n) + val
    ifd += b"\x00\x00\x00\x00"
    data = magic + struct.pack(endian + "HI", 42, 8) + ifd
    return data + b"\x00" * (220 - len(data))


def _jpeg_header(w: int, h: int, sof: int = 0xC0, fill: bool = False) -> bytes:
    """SOI, an APP0 and a DQT to skip, then SOFn declaring w x h, then a tiny SOS and EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    frame = b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00" + b"\x00" * 32 + b"\xff\xd9"
    return b"\xff\xd8" + app0 + dqt + (b"\xff\xff" if fill else b"") + frame + sos


def _jp2(w: int, h: int) -> bytes:
    sig = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
    ftyp = struct.pack(">I", 20) + b"ftypjp2 " + b"\x00\x00\x00\x00" + b"jp2 "
    ihdr = struct.pack(">I4sIIHBBBB", 22, b"ihdr", h, w, 3, 7, 7, 0, 0)
    colr = struct.pack(">I4sBBBI", 15, b"colr", 1, 0, 0, 16)
    jp2h = struct.pack(">I4s", 8 + len(ihdr) + len(colr), b"jp2h") + ihdr + colr
    code = _j2k(w, h)
    return sig + ftyp + jp2h + struct.pack(">I4s", 8 + len(code), b"jp2c") + code


def _j2k(w: int, h: int) -> bytes:
    siz = b"\xff\x51" + struct.pack(">HHIIIIIIIIH", 47, 0, w, h, 0, 0, w, h, 0, 0, 3) + b"\x07\x01\x01" * 3
    return b"\xff\x4f" + siz + b"\xff\xd9"


def bombs() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Small files (a few hundred bytes to a few KB) whose headers declare huge images, one per
    format the worker accepts: name -> (file, declared (width, height))."""
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
           # a tiny valid zlib stream: the first rows of zeros (the decoder would allocate it all)
           + _chunk(b"IDAT", zlib.compress(b"\x00" * 90001 * 4, 9)) + _chunk(b"IEND", b""))
    vp8x = (b"RIFF" + struct.pack("<I", 4 + 18 + 8 + 10) + b"WEBP" + b"VP8X" + struct.pack("<I", 10)
            + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
            + b"VP8 " + struct.pack("<I", 10) + b"\x00" * 10)
    bmp_info = struct.pack("<IiiHHIIiiII", 40, 40000, -40000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    bmp = b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 54) + bmp_info + b"\x00" * 64
    gif = (b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0xF0, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
           + b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00\x3b")
    return {
        "png-30000x30000": (png, (30000, 30000)),
        "jpeg-60000x60000": (_jpeg_header(60000, 60000), (60000, 60000)),
        "jpeg-progressive-60000x60000": (_jpeg_header(60000, 60000, sof=0xC2), (60000, 60000)),
        "tiff-50000x50000": (_tiff(50000, 50000), (50000, 50000)),
        "tiff-be-50000x50000": (_tiff(50000, 50000, ">"), (50000, 50000)),
        "webp-vp8x-16384x16384": (vp8x, (16384, 16384)),
        "bmp-40000x40000": (bmp, (40000, 40000)),
        "jp2-50000x50000": (_jp2(50000, 50000), (50000, 50000)),
        "j2k-50000x50000": (_j2k(50000, 50000), (50000, 50000)),
        "gif-65535x65535": (gif, (65535, 65535)),
        "pnm-30000x30000": (b"P6\n# bomb\n30000 30000\n255\n" + b"\x00" * 300, (30000, 30000)),
    }


# ---- the parser ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_committed_photos(path):
    from PIL import Image

    data = path.read_bytes()
    h = read_header(data)
    assert (h.width, h.height) == Image.open(path).size
    # the same from what routing hands over: a view of the record value
    assert read_header(np.frombuffer(data, np.uint8)) == h


@pytest.mark.parametrize("name", list(pillow_images()))
def test_pillow_images_in_every_format(name):
    data, size = pillow_images()[name]
    h = read_header(data)
    assert (h.width, h.height) == size
    assert image_format(data).startswith(h.format)  # 'JPEG 2000 codestream' is a JPEG 2000


@pytest.mark.parametrize("name", list(bombs()))
def test_bombs_declare_what_they_declare(name):
    data, size = bombs()[name]
    assert len(data) < 64 * 1024
    h = read_header(data)
    assert (h.width, h.height) == size and h.pixels > 64_000_000


def test_tiff_both_byte_orders_short_and_long():
    for endian in "<>":
        for typ in (3, 4):
            assert read_header(_tiff(300, 200, endian, typ))[1:3] == (300, 200), (endian, typ)


def test_bigtiff():
    e = "<"
    entries = [(256, 16, 1, 70000), (257, 4, 1, 5)]
    ifd = struct.pack(e + "Q", len(entries))
    for tag, t, n, v in entries:
        ifd += struct.pack(e + "HHQ", tag, t, n) + struct.pack(e + ("Q" if t == 16 else "I"), v).ljust(8, b"\x00")
    data = b"II" + struct.pack(e + "HHHQ", 43, 8, 0, 16) + ifd + b"\x00" * 8
    # media.image_format does not take BigTIFF's signature (II+\0), so routing refuses it first;
    # the parser reads it all the same
    assert read_header(data, "TIFF")[1:3] == (70000, 5)


def test_bmp_top_down_and_core_header():
    info = struct.pack("<IiiHHIIiiII", 40, 7, -9, 1, 24, 0, 0, 0, 0, 0, 0)
    assert read_header(b"BM" + b"\x00" * 12 + info)[1:3] == (7, 9)
    core = struct.pack("<IHHHH", 12, 11, 13, 1, 24)
    assert read_header(b"BM" + b"\x00" * 12 + core)[1:3] == (11, 13)


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])
def test_jpeg_every_sof_marker_and_fill_bytes(sof):
    assert read_header(_jpeg_header(321, 123, sof))[1:3] == (321, 123)
    assert read_header(_jpeg_header(321, 123, sof, fill=True))[1:3] == (321, 123)


def test_webp_chunks_and_pnm_comments():
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + struct.pack("<I", (99 << 14) | 199) + b"\x00" * 8
    assert read_header(vp8l)[1:3] == (200, 100)
    assert read_header(b"P5 # c\n # more\n 12\t34 255\n" + b"\x00" * 408)[1:4] == (12, 34, 1)


@pytest.mark.parametrize("data, says", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
    (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 40, "no frame header"),
    (b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x12\x34", "expected a marker"),
    (_jpeg_header(100, 0), "height 0"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "truncated"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 0, 5) + b"\x08\x02\x00\x00\x00" + b"\x00" * 4,
     "0x5"),
    (b"II*\x00\x08\x00\x00\x00\x00\x00", "entries"),
    (_tiff(5, 5)[:20], "truncated"),
    (b"RIFF\x00\x00\x00\x00WEBPALPH" + b"\x00" * 30, "none of VP8"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x03jp2h", "length"),
    (b"P6\n# no numbers here\n", "expected a number"),
    (b"not an image", "not an image format"),
])
def test_bad_headers_raise_a_clear_error(data, says):
    with pytest.raises(HeaderError) as exc:
        read_header(data)
    assert says in str(exc.value)


def test_every_truncation_of_a_real_file_raises_header_error_or_reads_it():
    for data in [p.read_bytes() for p in PHOTOS] + [d for d, _ in pillow_images().values()] + \
            [d for d, _ in bombs().values()]:
        for n in range(0, min(len(data), 600)):
            try:
                read_header(data[:n])
            except HeaderError:
                pass


# ---- against DALI ---------------------------------------------------------------------------------

def _dali_shapes(files: list[bytes]) -> list[tuple[int, int] | None]:
    """(width, height) by fn.peek_image_shape, or None where DALI cannot read the format."""
    from nvidia.dali import fn, pipeline_def, types

    @pipeline_def(batch_size=1, num_threads=1, device_id=None, prefetch_queue_depth=1,
                  exec_async=False, exec_pipelined=False)
    def peek():
        # adjust_orientation off: the stored size, which is what the header says
        return fn.peek_image_shape(fn.external_source(name="x", dtype=types.UINT8, ndim=1),
                                   adjust_orientation=False)

    pipe = peek()
    pipe.build()
    out = []
    for data in files:
        try:
            pipe.feed_input("x", [np.frombuffer(data, np.uint8)])
            hwc = np.array(pipe.run()[0][0]).tolist()
            out.append((hwc[1], hwc[0]))
        except RuntimeError:
            out.append(None)
            pipe = peek()
            pipe.build()
    return out


def test_same_dimensions_as_dali_peek_image_shape():
    pytest.importorskip("nvidia.dali")
    files = {p.name: p.read_bytes() for p in PHOTOS}
    files.update({k: d for k, (d, _) in pillow_images().items()})
    files.update({f"bomb:{k}": d for k, (d, _) in bombs().items()})
    dali = dict(zip(files, _dali_shapes(list(files.values()))))
    mine = {k: read_header(d)[1:3] for k, d in files.items()}
    read_by_dali = {k for k, v in dali.items() if v is not None}
    assert {k: mine[k] for k in read_by_dali} == {k: dali[k] for k in read_by_dali}
    # DALI 2.4 (nvImageCodec) reads every format but GIF; a format it stops reading would show here
    not_read = {k for k in files if k not in read_by_dali}
    assert {k for k in not_read if not k.startswith("bomb:")} == {"gif"}, sorted(not_read)
