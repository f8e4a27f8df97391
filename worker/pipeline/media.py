"""Which inputs carry encoded images, video or audio, and whether bytes look like an image at all.

DALI's image decoders fail the whole batch on a bad sample (the runner bisects that), but
bytes in no image format at all are worse: with DALI 2.4's CPU decoder, random bytes crashed
the process now and then (SIGSEGV, measured: 2 runs in 3). So an input that feeds an image
decoder is screened by its signature before DALI sees it: a few byte comparisons per message,
and a clearer dead letter ("not a JPEG/PNG/... file") than a decoder status code.
"""
from __future__ import annotations

from dataclasses import dataclass

# signature -> format, as the decoders of DALI/nvImageCodec read them
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"WEBP", 8, "WebP"),  # after "RIFF" + size
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000 codestream"),
)
_PNM = {b"P1", b"P2", b"P3", b"P4", b"P5", b"P6"}
DECODER_OPS = ("decoders__Image", "decoders__ImageCrop", "decoders__ImageSlice",
               "decoders__ImageRandomCrop", "ImageDecoder")


def image_format(data) -> str | None:
    """The image format of ``data`` (bytes, memoryview or uint8 array) by its signature."""
    head = bytes(data[:16])
    for sig, at, name in _SIGNATURES:
        if head[at:at + len(sig)] == sig:
            return name
    if head[:2] in _PNM and len(head) > 2 and head[2:3].isspace():
        return "PNM"
    return None


def describe_head(data, n: int = 8) -> str:
    return bytes(data[:n]).hex(" ")


VIDEO_DECODER_OPS = ("decoders__Video", "experimental__decoders__Video")
AUDIO_DECODER_OPS = ("decoders__Audio",)


@dataclass(frozen=True, slots=True)
class MediaInput:
    """An input that feeds DALI's video or audio decoder directly, and how the decoder samples
    it (``stride``: every Nth frame; the worker expects ceil(declared frames / stride))."""

    kind: str  # "video" | "audio"
    stride: int = 1


def _sources(proto) -> dict[str, str]:
    """data node name -> the name of the external_source that produces it."""
    source_of: dict[str, str] = {}
    for op in proto.op:
        if op.name == "ExternalSource":
            name = next((a.strings[0] for a in op.args if a.name == "name" and a.strings), op.inst_name)
            for out in op.output:
                source_of[out.name] = name
    return source_of


def _parse(serialized: bytes):
    from worker.repository.serialized import _pipeline_def_class

    proto = _pipeline_def_class()()
    proto.ParseFromString(serialized)
    return proto


def decoder_inputs(serialized: bytes) -> set[str]:
    """Names of the external_source inputs that feed an image decoder directly."""
    proto = _parse(serialized)
    source_of = _sources(proto)
    fed = set()
    for op in proto.op:
        if op.name.startswith(DECODER_OPS) and op.input:
            src = source_of.get(op.input[0].name)
            if src:
                fed.add(src)
    return fed


def media_inputs(serialized: bytes) -> dict[str, MediaInput]:
    """The external_source inputs that feed a video or audio decoder directly, by name."""
    proto = _parse(serialized)
    source_of = _sources(proto)
    found: dict[str, MediaInput] = {}
    for op in proto.op:
        kind = ("video" if op.name in VIDEO_DECODER_OPS else
                "audio" if op.name in AUDIO_DECODER_OPS else None)
        if kind is None or not op.input:
            continue
        src = source_of.get(op.input[0].name)
        if src:
            stride = next((int(a.ints[0]) for a in op.args if a.name == "stride" and a.ints), 1)
            found[src] = MediaInput(kind, max(1, stride))
    return found
