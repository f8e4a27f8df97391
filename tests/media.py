"""Test media made on the spot: tiny video clips encoded with PyAV (its wheel bundles FFmpeg's
encoders: VP8, VP9, H.264, HEVC) and audio through the stdlib ``wave`` and ``soundfile``
(libsndfile: FLAC, Ogg/Vorbis). Each frame of a clip is distinct and says its own index (its
red channel is 8 x index), so a test can tell which frames came out."""
from __future__ import annotations

import io
import wave

import numpy as np

# container name for PyAV, and the codec; VP9 is what DALI 2.4 decodes on the CPU
FORMATS = {"mkv": "matroska", "webm": "webm", "mp4": "mp4"}


def clip(frames: int = 30, size: tuple[int, int] = (64, 64), codec: str = "libvpx-vp9",
         container: str = "mkv", fps: int = 10, seed: int = 0) -> bytes:
    """An encoded clip of ``frames`` frames of ``size`` (width, height)."""
    import av

    w, h = size
    buf = io.BytesIO()
    out = av.open(buf, "w", format=FORMATS[container])
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for i in range(frames):
        img = base.copy()
        img[..., 0] = (i * 8) % 256
        img[:, : (i * 3) % w, 1] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


def tone(seconds: float = 2.5, rate: int = 22050, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav(seconds: float = 2.5, rate: int = 22050) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((tone(seconds, rate) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def encoded_audio(fmt: str, seconds: float = 2.5, rate: int = 22050) -> bytes:
    """"wav", "flac" or "ogg" (Vorbis)."""
    if fmt == "wav":
        return wav(seconds, rate)
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, tone(seconds, rate), rate, format={"flac": "FLAC", "ogg": "OGG"}[fmt],
                    subtype="VORBIS" if fmt == "ogg" else None)
    return buf.getvalue()


def block_spans(data: bytes) -> list[tuple[int, int]]:
    """[start, stop) of each SimpleBlock's frame data in a Matroska/WebM clip, in file order."""
    from worker.pipeline import containers as c

    mv = memoryview(data)
    spans = []

    def walk(a: int, b: int) -> None:
        pos = a
        while pos < b:
            eid, x, y = c._element(mv, pos, b)
            if eid in (c._SEGMENT, c._CLUSTER):
                walk(x, y)
            elif eid == c._SIMPLE_BLOCK:
                _, n = c._vint(mv, x, False)
                spans.append((x + n + 3, y))  # track number, timecode (2), flags (1)
            pos = y

    _, _, end = c._element(mv, 0, len(mv))
    walk(end, len(mv))
    return spans


def damaged_frames(data: bytes, first: int, count: int = 3, fill: str = "noise") -> bytes:
    """A Matroska clip whose frames ``first`` .. ``first + count - 1`` have their data
    replaced by noise (or zeros): the container reads whole; the decoder meets garbage mid-way."""
    out = bytearray(data)
    rng = np.random.default_rng(first)
    for a, b in block_spans(data)[first:first + count]:
        out[a:b] = (rng.integers(0, 256, b - a, dtype=np.uint8).tobytes() if fill == "noise" else bytes(b - a))
    return bytes(out)
