"""Audio recordings through the worker on the real broker (issue 19): WAV, FLAC and Ogg/Vorbis
decoded by DALI, resampled to 16 kHz, log-mel spectrograms (audio_melspec: 100 rows a second)
cut into windows of 1 s every 0.5 s, each window one result. A truncated WAV, FLAC and Ogg and
bytes that are no audio file are one dead letter each."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from tests.media import encoded_audio
from tests.worker_harness import WorkerProcess, produce, setup_topics
from worker.stream.fanout import windows


def _rows(seconds: float) -> int:
    # fn.spectrogram, window 400 / step 160 at 16 kHz, centred windows: 1 + samples // 160
    return 1 + int(seconds * 16000) // 160


def test_recordings_are_cut_into_windows_each_once(kafka_bootstrap, tmp_path):
    from tests.integration.test_video_stream import _read_all

    tin, tout, tdlq = setup_topics(kafka_bootstrap, f"audio-{uuid.uuid4().hex[:6]}", 2)
    lengths = {"a.wav": 2.5, "b.flac": 3.0, "c.ogg": 1.5, "d.wav": 0.4}
    good = {k: encoded_audio(k.rsplit(".", 1)[1], seconds=s, rate=22050 if i % 2 else 44100)
            for i, (k, s) in enumerate(lengths.items())}
    # issue 31: a cut FLAC (its last frame fails its CRC) and a cut Ogg (its last page runs
    # past the end) are incomplete_media too, not DALI's decode_error
    bad = {"cut.wav": (encoded_audio("wav", seconds=2.0)[:20000], "incomplete_media"),
           "cut.flac": (encoded_audio("flac", seconds=2.0)[:9000], "incomplete_media"),
           "cut.ogg": (encoded_audio("ogg", seconds=2.0)[:3000], "incomplete_media"),
           "noise.ogg": (b"OggS" + bytes(range(256)) * 8, "decode_error")}
    items = list(good.items()) + [(k, v) for k, (v, _) in bad.items()]
    asyncio.run(produce(kafka_bootstrap, tin, items, partitions=2))
    args = ["--input", tin, "--output", tout, "--dead-letter-topic", tdlq, "--group-id", f"g-{tin}",
            "--pipeline", "audio_melspec", "--delivery", "exactly-once", "--max-delay-ms", "50",
            "--commit-interval-ms", "300", "--num-threads", "2"]
    env = {"DSW_ROUTE_CUT": "sequence", "DSW_ROUTE_SEQUENCE_LENGTH": "100", "DSW_ROUTE_SEQUENCE_STRIDE": "50"}
    spans = {k: windows(_rows(s), "sequence", 100, 50) for k, s in lengths.items()}
    with WorkerProcess(kafka_bootstrap, args, tmp_path / "w.log", env=env) as w:
        parts, dead = asyncio.run(_read_all(kafka_bootstrap, tout, tdlq, sum(map(len, spans.values())),
                                            len(bad), timeout=180, output="melspec"))
        assert w.terminate() == 0, w.log()[-3000:]
    want = Counter({(k, i, len(sp), (b - a, 64)): 1 for k, sp in spans.items() for i, (a, b) in enumerate(sp)})
    assert parts == want, (sorted(set(parts) ^ set(want))[:10])
    assert {k: [r for r, _ in v] for k, v in dead.items()} == {k: [reason] for k, (_, reason) in bad.items()}, dead
