"""Admission checks for video and audio inputs, on the event loop before DALI sees them: the
container must be one we read and whole, its codec one this device decodes, and its declared
decoded size under the route's caps. What it declares comes back as the frame count that the
decoded clip is held to (``fanout.shortfall``).

The checks read box/element headers only (``worker/pipeline/containers.py``; about 50 µs for
an MP4, 10 µs per frame for Matroska) and raise :class:`MessageError` naming the message,
the input, what was found and what to do.
"""
from __future__ import annotations

from worker.config import Route
from worker.pipeline.containers import ContainerError, MediaInfo, codec_problem, probe
from worker.stream.errors import MessageError


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def check_media(data, kind: str, stride: int, route: Route, device: str, *, msg_id: str,
                input_name: str, pipeline: str, label: str) -> int | None:
    """Check one video/audio input; returns the frames the pipeline's decoder should give
    (ceil(declared / stride)) for video whose container declares them, else None.
    ``label`` is the message as errors quote it."""
    return admit_media(data, kind, stride, route, device, msg_id=msg_id, input_name=input_name,
                       pipeline=pipeline, label=label)[0]


def admit_media(data, kind: str, stride: int, route: Route, device: str, *, msg_id: str,
                input_name: str, pipeline: str, label: str) -> tuple[int | None, int | None]:
    """:func:`check_media`, and the decoded size the container declares (None: unknown), which
    the batch's memory budget counts."""
    where = f"message {label}: input {input_name!r} of pipeline {pipeline!r}"
    try:
        info = probe(data)
    except ContainerError as exc:
        raise MessageError(*_container_refusal(str(exc), kind, where), id=msg_id, pipeline=pipeline) from None
    if info.kind != kind:
        raise MessageError("decode_error", f"{where} is {kind}, but this is {info.kind} "
                           f"({info.describe()}); send it to a {info.kind} pipeline",
                           id=msg_id, pipeline=pipeline)
    why = codec_problem(info, device)
    if why:
        raise MessageError("decode_error", f"{where} ({info.describe()}): {why}", id=msg_id, pipeline=pipeline)
    _check_size(info, route, where, msg_id, pipeline)
    if info.kind == "video" and info.frames is not None:
        return -(-info.frames // max(1, stride)), info.decoded_bytes()
    return None, info.decoded_bytes()


def _container_refusal(why: str, kind: str, where: str) -> tuple[str, str]:
    """(reason, message) for a value ``probe`` refused: truncated (``incomplete_media``),
    damaged (a frame's hole or header, ``decode_error``), or not a file of ``kind``."""
    if why.startswith("truncated"):
        return "incomplete_media", f"{where}: {why}; it was not decoded"
    if why.startswith("damaged"):
        return "decode_error", f"{where}: {why}"
    files = "a video file (MP4, MKV, WebM)" if kind == "video" else "an audio file (WAV, FLAC, Ogg)"
    return "decode_error", f"{where}: {why}; it was not decoded. Send {files}"


def _check_size(info: MediaInfo, route: Route, where: str, msg_id: str, pipeline: str) -> None:
    if info.kind == "video" and route.max_pixels and info.width * info.height > route.max_pixels:
        raise MessageError("media_too_large",
                           f"{where} ({info.describe()}): frames of {info.width * info.height / 1e6:.1f} MP, "
                           f"over the route's max_pixels ({route.max_pixels / 1e6:g} MP); it was not "
                           "decoded. Send smaller frames, or raise the route's max_pixels",
                           id=msg_id, pipeline=pipeline)
    size = info.decoded_bytes()
    if route.max_decoded_bytes and size is not None and size > route.max_decoded_bytes:
        what = ("frames x width x height x 3" if info.kind == "video" else "samples x channels x 4")
        raise MessageError("media_too_large",
                           f"{where} ({info.describe()}) decodes to {_mb(size)} ({what}), over the "
                           f"route's max_decoded_bytes ({_mb(route.max_decoded_bytes)}); it was not decoded. "
                           "Send shorter or smaller clips, or raise max_decoded_bytes (DALI holds a "
                           "decoded clip in memory at once, per sample of a batch)",
                           id=msg_id, pipeline=pipeline)
