"""`dali-worker try` on video and audio files (issue 19): what the container declares, the
frames expected, the results a route's cut would make, and the clips the worker would refuse."""
from __future__ import annotations

from tests.media import clip, encoded_audio
from worker.cli import main


def test_try_video_frames_on_clips(tmp_path, capsys):
    good, h264, cut = tmp_path / "good.webm", tmp_path / "h264.mp4", tmp_path / "cut.mkv"
    good.write_bytes(clip(frames=30, container="webm"))
    h264.write_bytes(clip(frames=8, codec="libx264", container="mp4"))
    whole = clip(frames=30)
    cut.write_bytes(whole[: len(whole) // 2])
    rc = main(["try", "video_frames", str(good), str(h264), str(cut), "--cut", "frame"])
    out = capsys.readouterr().out
    assert rc == 1  # two of three refused
    assert f"{good}: WebM VP9 64x64, 30 frames" in out
    assert f"{good}: (15 frames expected)" in out           # every 2nd frame
    assert "cut frame: 15 results (the first: frames [112, 112, 3])" in out
    assert "frames: uint8 [15, 112, 112, 3]" in out
    assert f"{h264}: ERROR [decode_error]" in out and "--device gpu" in out
    assert f"{cut}: ERROR [incomplete_media]" in out and "truncated" in out


def test_try_audio_melspec_windows(tmp_path, capsys):
    for fmt in ("wav", "flac", "ogg"):
        (tmp_path / f"t.{fmt}").write_bytes(encoded_audio(fmt, seconds=3.0, rate=44100))
    rc = main(["try", "audio_melspec", *(str(tmp_path / f"t.{f}") for f in ("wav", "flac", "ogg")),
               "--cut", "sequence", "--sequence-length", "100"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("melspec: float32 [301, 64]") == 3       # 3 s at 16 kHz, 10 ms rows
    assert out.count("cut sequence: 4 results (the first: melspec [100, 64])") == 3
    assert "Ogg Vorbis 44100 Hz x1, 3.00 s" in out


def test_try_sequence_needs_a_length(tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes(encoded_audio("wav"))
    assert main(["try", "audio_melspec", str(tmp_path / "a.wav"), "--cut", "sequence"]) == 2
    assert "--sequence-length" in capsys.readouterr().err
