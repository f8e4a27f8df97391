"""One input, many results (issue 19): outputs cut per clip, per frame or per sequence
(worker/stream/fanout.py), every part carrying the input id, its index and the count, and an
input that is all results or one dead letter (worker/stream/outcomes.py)."""
from __future__ import annotations

import numpy as np
import pytest

from worker.config import ConfigError, Route, WorkerConfig
from worker.stream.fanout import cut, shortfall, windows
from worker.stream.messages import decode_dead_letter, decode_result
from worker.stream.outcomes import Outcome, build_unit
from worker.stream.routing import Pending


def test_windows_cover_every_row_once_or_with_the_overlap_asked_for():
    assert windows(10, "clip") == [(0, 10)]
    assert windows(4, "frame") == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert windows(10, "sequence", 4) == [(0, 4), (4, 8), (8, 10)]          # last one shorter
    assert windows(10, "sequence", 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]  # overlapping
    assert windows(8, "sequence", 4) == [(0, 4), (4, 8)]
    assert windows(3, "sequence", 8) == [(0, 3)]
    assert windows(10, "sequence", 2, 4) == [(0, 2), (4, 6), (8, 10)]       # gaps, as asked
    assert windows(0, "frame") == [(0, 0)]                                   # still one result


def test_cut_splits_framed_outputs_and_repeats_the_others():
    frames = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    parts = cut({"frames": frames, "fps": np.float32(10)}, Route(inputs=["t"], cut="sequence", sequence_length=2))
    assert [(p.index, p.count, p.start, p.stop) for p in parts] == [(0, 3, 0, 2), (1, 3, 2, 4), (2, 3, 4, 5)]
    assert np.array_equal(np.concatenate([p.outputs["frames"] for p in parts]), frames)
    assert all(p.outputs["fps"] == 10 for p in parts)
    (whole,) = cut({"frames": frames}, Route(inputs=["t"]))
    assert whole.outputs["frames"] is frames and (whole.index, whole.count) == (0, 1)


def test_a_clip_that_decoded_short_is_named_with_its_frame_count():
    frames = np.zeros((16, 8, 8, 3), np.uint8)
    assert shortfall({"frames": frames}, 16) is None
    assert shortfall({"frames": frames}, None) is None
    why = shortfall({"frames": frames}, 60)
    assert "decoded to 16 frames" in why and "60" in why
    assert shortfall({"mel": np.zeros((100, 64), np.float32)}, 60) is None  # not frames


def test_route_cut_settings_are_checked():
    with pytest.raises(ConfigError, match="cut='tiles'"):
        Route(inputs=["t"], cut="tiles").check("r")
    with pytest.raises(ConfigError, match="sequence_length >= 1"):
        Route(inputs=["t"], cut="sequence").check("r")


def _setup(**route):
    cfg = WorkerConfig(routes=[Route(inputs=["in"], pipeline="v", output="out", **route)]).check()
    p = Pending(tp=("in", 2), offset=9, epoch=1, key=b"clip-1", value=b"video bytes", timestamp_ms=1,
                id="clip-1", pipeline="v", route=cfg.routes[0], inputs={})
    return cfg, p


def test_every_frame_is_a_result_with_the_input_id_index_and_count():
    cfg, p = _setup(cut="frame")
    frames = np.stack([np.full((4, 4, 3), i, np.uint8) for i in range(6)])
    unit = build_unit([p], [Outcome(True, outputs={"frames": frames})], cfg, {"pipeline_ms": 1.0})
    assert len(unit.records) == 6
    assert {(r.source, r.offset, r.key, r.topic) for r in unit.records} == {(("in", 2), 9, b"clip-1", "out")}
    results = [decode_result(r.value) for r in unit.records]
    assert [(r.id, r.part["index"], r.part["count"]) for r in results] == [("clip-1", i, 6) for i in range(6)]
    assert [int(r.outputs["frames"][0, 0, 0]) for r in results] == list(range(6))
    assert unit.records[3].headers == [("dsw-part", b"3/6")]


def test_one_result_per_clip_has_no_part():
    cfg, p = _setup()
    unit = build_unit([p], [Outcome(True, outputs={"frames": np.zeros((3, 2, 2, 3), np.uint8)})], cfg, {})
    (r,) = unit.records
    assert decode_result(r.value).part is None and r.headers == []


def test_a_clip_short_of_its_frames_is_one_dead_letter_not_half_a_result_set():
    cfg, p = _setup(cut="frame")
    p.expect_frames = 30
    unit = build_unit([p], [Outcome(True, outputs={"frames": np.zeros((12, 2, 2, 3), np.uint8)})], cfg, {})
    (r,) = unit.records
    dl = decode_dead_letter(r.value)
    assert r.kind == "dead_letter" and dl.reason == "incomplete_media" and dl.id == "clip-1"
    assert "decoded to 12 frames" in dl.error and dl.original == b"video bytes"


def test_one_part_too_large_makes_the_input_one_dead_letter():
    cfg, p = _setup(cut="sequence", sequence_length=2)
    cfg.max_request_bytes = 2000  # parts of 2 frames are 2.4 KB, the last (1 frame) 1.2 KB fits
    unit = build_unit([p], [Outcome(True, outputs={"frames": np.zeros((5, 20, 20, 3), np.uint8)})], cfg, {})
    (r,) = unit.records
    dl = decode_dead_letter(r.value)
    assert dl.reason == "result_too_large" and "part 0 of 3" in dl.error


def test_tail_shows_which_part_a_result_is():
    from types import SimpleNamespace

    from worker.commands.tail import describe, format_lines

    cfg, p = _setup(cut="frame")
    unit = build_unit([p], [Outcome(True, outputs={"frames": np.zeros((3, 2, 2, 3), np.uint8)})], cfg, {})
    r = unit.records[1]
    rec = SimpleNamespace(topic="out", partition=0, offset=1, key=r.key, value=r.value, headers=r.headers,
                          timestamp=0)
    d = describe(rec)
    assert d["part"]["index"] == 1 and d["part"]["count"] == 3
    assert format_lines(d)[0].startswith("result clip-1 part 2/3  pipeline=v")
