"""What video and audio containers declare, read without decoding (worker/pipeline/containers.py),
and the admission checks built on it (worker/stream/media_checks.py). Media made by tests/media.py."""
from __future__ import annotations

import pytest

from tests.media import clip, damaged_frames, encoded_audio
from worker.config import Route
from worker.pipeline.containers import ContainerError, codec_problem, media_kind, probe
from worker.stream.errors import MessageError
from worker.stream.media_checks import check_media


@pytest.mark.parametrize("codec,container,name,fmt", [
    ("libvpx-vp9", "mkv", "VP9", "Matroska"), ("libvpx-vp9", "webm", "VP9", "WebM"),
    ("libvpx-vp9", "mp4", "VP9", "MP4"), ("libvpx", "webm", "VP8", "WebM"),
    ("libx264", "mp4", "H.264", "MP4"), ("libx264", "mkv", "H.264", "Matroska"),
])
def test_video_containers_declare_codec_size_and_frames(codec, container, name, fmt):
    data = clip(frames=24, size=(48, 32), codec=codec, container=container)
    info = probe(data)
    assert (info.kind, info.container, info.codec) == ("video", fmt, name)
    assert (info.width, info.height, info.frames) == (48, 32, 24)
    assert info.decoded_bytes() == 24 * 48 * 32 * 3
    assert media_kind(data) == "video"


@pytest.mark.parametrize("fmt,container,codec", [("wav", "WAV", "PCM"), ("flac", "FLAC", "FLAC"),
                                                 ("ogg", "Ogg", "Vorbis")])
def test_audio_containers_declare_rate_and_length(fmt, container, codec):
    info = probe(encoded_audio(fmt, seconds=2.0, rate=22050))
    assert (info.kind, info.container, info.codec) == ("audio", container, codec)
    assert (info.sample_rate, info.channels, info.samples) == (22050, 1, 44100)


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_a_truncated_clip_is_refused_by_its_own_sizes(container):
    data = clip(frames=30, container=container)
    for cut in (0.3, 0.9):
        with pytest.raises(ContainerError, match="^truncated"):
            probe(data[:int(len(data) * cut)])


def test_a_truncated_wav_is_refused():
    with pytest.raises(ContainerError, match="truncated: WAV 'data' declares"):
        probe(encoded_audio("wav")[:30000])


def test_bytes_in_no_container_format():
    with pytest.raises(ContainerError, match="not an MP4, Matroska"):
        probe(b"\xff\xd8\xff\xe0" + bytes(100))
    assert media_kind(b"hello world!") is None


def test_codecs_the_cpu_decoder_lacks_are_named_with_the_fix():
    h264 = probe(clip(frames=4, codec="libx264", container="mp4"))
    why = codec_problem(h264, "cpu")
    assert "H.264" in why and "--device gpu" in why and "VP9" in why
    assert codec_problem(h264, "0") is None
    assert codec_problem(probe(clip(frames=4)), "cpu") is None


def _check(data, kind="video", stride=1, **route):
    return check_media(data, kind, stride, Route(inputs=["t"], **route), "cpu", msg_id="m1",
                       input_name="video", pipeline="video_frames", label="'m1'")


def test_check_media_returns_the_frames_the_decoder_should_give():
    data = clip(frames=30)
    assert _check(data) == 30
    assert _check(data, stride=2) == 15
    assert _check(data, stride=4) == 8  # ceil(30 / 4)


def test_check_media_caps_the_declared_decoded_size():
    data = clip(frames=30, size=(64, 64))  # decodes to 30 x 64 x 64 x 3 = 368640 bytes
    assert _check(data, max_decoded_bytes=368640) == 30
    with pytest.raises(MessageError) as e:
        _check(data, max_decoded_bytes=368639)
    assert e.value.reason == "media_too_large" and "max_decoded_bytes" in str(e.value)
    with pytest.raises(MessageError) as e:
        _check(data, max_pixels=4000)
    assert e.value.reason == "media_too_large" and "max_pixels" in str(e.value)


def test_check_media_reasons():
    data = clip(frames=30)
    with pytest.raises(MessageError) as e:
        _check(data[:len(data) // 2])
    assert e.value.reason == "incomplete_media" and "message 'm1'" in str(e.value)
    with pytest.raises(MessageError) as e:
        _check(clip(frames=4, codec="libx264", container="mp4"))
    assert e.value.reason == "decode_error" and "--device gpu" in str(e.value)
    with pytest.raises(MessageError) as e:
        _check(encoded_audio("wav"))
    assert e.value.reason == "decode_error" and "audio pipeline" in str(e.value)
    # damage inside frame data keeps the structure readable: DALI's decoder meets it
    assert _check(damaged_frames(clip(frames=60), 20)) == 60


def test_the_worker_finds_the_media_inputs_and_the_decoder_stride(monkeypatch):
    from pathlib import Path

    from worker.pipeline.media import MediaInput, decoder_inputs, media_inputs
    from worker.repository.load import load_model

    monkeypatch.setenv("DALI_DEVICE", "cpu")
    repo = Path(__file__).resolve().parents[2] / "pipelines"
    video = load_model(repo, "video_frames", device="cpu", num_threads=1)
    audio = load_model(repo, "audio_melspec", device="cpu", num_threads=1)
    image = load_model(repo, "classify", device="cpu", num_threads=1)
    assert media_inputs(video.serialized) == {"video": MediaInput("video", stride=2)}
    assert media_inputs(audio.serialized) == {"audio": MediaInput("audio", stride=1)}
    assert media_inputs(image.serialized) == {} and decoder_inputs(video.serialized) == set()
