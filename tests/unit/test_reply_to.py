"""reply_to is denied unless the route allows it by pattern (issue 15), and the decoded-size cap
in Router.admit: an image over the route's max_pixels, or with an unreadable header, is a dead
letter before DALI sees it."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from worker.config import ConfigError, Route, WorkerConfig, load_config
from worker.stream.errors import MessageError
from worker.stream.messages import encode_input
from worker.stream.plan import ServedPipeline, compile_plan
from worker.stream.routing import Router

ROOT = Path(__file__).resolve().parents[2]
PHOTO = (ROOT / "tests/data/chelsea.jpg").read_bytes()  # 400x266
SPECS = {"image": (np.dtype(np.uint8), 1)}
PIPES = {"classify": ServedPipeline("classify", SPECS, 8, image_inputs=frozenset({"image"}))}


def _router(*routes: Route) -> Router:
    cfg = WorkerConfig(routes=list(routes)).check()
    return Router(cfg, compile_plan(cfg, PIPES))


def _record(topic: str, value: bytes, offset: int = 0):
    return SimpleNamespace(topic=topic, partition=0, offset=offset, key=b"k", value=value, timestamp=0)


def _admit(router: Router, topic: str, reply_to: str | None = None, image: bytes = PHOTO):
    return router.admit(_record(topic, encode_input("m-1", {"image": image}, reply_to=reply_to)), epoch=0)


def _refused(router, topic, reply_to, image=PHOTO) -> MessageError:
    with pytest.raises(MessageError) as exc:
        _admit(router, topic, reply_to, image)
    return exc.value


def test_a_route_without_patterns_refuses_every_reply_to_and_says_how_to_allow_it():
    r = _router(Route(["in"], pipeline="classify", output="out"))
    err = _refused(r, "in", "answers")
    assert err.reason == "reply_to_refused"
    assert "routes[0] (in)" in str(err) and "reply_to = [" in str(err)
    assert _admit(r, "in").reply_to is None  # no reply_to: the route's output, as before


def test_patterns_allow_matching_topics_only():
    r = _router(Route(["in"], pipeline="classify", reply_to=["replies.*", "answers-?", "team[ab].out"]))
    for ok in ("replies.x", "replies.a.b", "answers-1", "teama.out", "teamb.out"):
        assert _admit(r, "in", ok).reply_to == ok
    for bad in ("replies", "Replies.x", "answers-12", "teamc.out", "xreplies.a", "answers"):
        err = _refused(r, "in", bad)
        assert err.reason == "reply_to_refused" and "matches none" in str(err), bad


def test_internal_input_and_dead_letter_topics_are_refused_even_when_a_pattern_matches():
    r = _router(Route(["in", "in2"], pipeline="classify", reply_to=["*"], dead_letter="dlq"),
                Route(["other"], pipeline="classify"))
    assert _admit(r, "in", "anything").reply_to == "anything"
    for bad in ("__consumer_offsets", "__transaction_state", "in", "in2", "other", "dlq",
                "dali.dead-letters", "bad topic!"):
        assert _refused(r, "in", bad).reason == "reply_to_refused", bad


def test_patterns_are_per_route():
    r = _router(Route(["a"], pipeline="classify", reply_to=["a.*"]),
                Route(["b"], pipeline="classify", reply_to=["b.*"]))
    assert _admit(r, "a", "a.1").reply_to == "a.1"
    assert _refused(r, "a", "b.1").reason == "reply_to_refused"
    assert _admit(r, "b", "b.1").reply_to == "b.1"


def test_allow_reply_to_false_still_means_never():
    r = _router(Route(["in"], pipeline="classify", reply_to=["replies.*"], allow_reply_to=False))
    err = _refused(r, "in", "replies.x")
    assert "allow_reply_to = false" in str(err)


@pytest.mark.parametrize("pattern, says", [
    ("", "empty"), ("replies.(a|b)", "regular expressions"), ("^replies$", "regular expressions"),
    ("replies.[ab", "never closed"), ("a]b", "without its"), ("__*", "internal"),
])
def test_an_invalid_pattern_is_a_config_error_naming_the_route(tmp_path, pattern, says):
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'[[routes]]\ninput = "in"\npipeline = "classify"\nreply_to = ["ok.*", {pattern!r}]\n'
                   .replace("'", '"'))
    with pytest.raises(ConfigError) as exc:
        load_config(cfg, env={})
    assert "routes[0]" in str(exc.value) and says in str(exc.value)


def test_patterns_from_a_file_and_from_the_environment(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('[[routes]]\ninput = "in"\npipeline = "classify"\nreply_to = ["replies.*"]\nmax_pixels = 1000\n')
    c = load_config(cfg, env={})
    assert (c.routes[0].reply_to, c.routes[0].max_pixels) == (["replies.*"], 1000)
    c = load_config(None, env={"DSW_ROUTE_INPUT": "in", "DSW_ROUTE_PIPELINE": "classify",
                               "DSW_ROUTE_REPLY_TO": "replies.*,answers", "DSW_ROUTE_ALLOW_REPLY_TO": "false"})
    assert c.routes[0].reply_to == ["replies.*", "answers"] and c.routes[0].allow_reply_to is False
    assert Route(["x"]).reply_to == [] and Route(["x"]).max_pixels == 64_000_000


# ---- the decoded-size cap ------------------------------------------------------------------------

def _png_bomb(w: int = 30000, h: int = 30000) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


def test_an_image_over_max_pixels_is_a_dead_letter_naming_its_size():
    r = _router(Route(["in"], pipeline="classify"))
    err = _refused(r, "in", None, _png_bomb())
    assert err.reason == "image_too_large"
    assert "30000x30000" in str(err) and "900.0 MP" in str(err) and "max_pixels" in str(err)
    assert _admit(r, "in").inputs["image"].nbytes == len(PHOTO)


def test_max_pixels_is_per_route_and_zero_means_no_cap():
    r = _router(Route(["small"], pipeline="classify", max_pixels=400 * 266 - 1),
                Route(["exact"], pipeline="classify", max_pixels=400 * 266),
                Route(["any"], pipeline="classify", max_pixels=0))
    assert _refused(r, "small", None).reason == "image_too_large"
    _admit(r, "exact")
    _admit(r, "any", image=_png_bomb())


def test_a_truncated_header_is_unreadable_header():
    r = _router(Route(["in"], pipeline="classify"))
    for bad in (PHOTO[:40], _png_bomb()[:20], b"II*\x00\x08\x00\x00\x00"):
        err = _refused(r, "in", None, bad)
        assert err.reason == "unreadable_header", bad
        assert "not decoded" in str(err)


def test_raw_records_are_capped_too():
    r = _router(Route(["in"], pipeline="classify", format="raw"))
    with pytest.raises(MessageError) as exc:
        r.admit(_record("in", _png_bomb()), epoch=0)
    assert exc.value.reason == "image_too_large"
    assert r.admit(_record("in", PHOTO), epoch=0).inputs["image"].nbytes == len(PHOTO)


def test_the_check_costs_microseconds_per_message():
    import time
    r = _router(Route(["in"], pipeline="classify"))
    rec = _record("in", PHOTO)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        r.admit(rec, epoch=0)
    per_admit = (time.perf_counter() - t) / n
    assert per_admit < 500e-6, per_admit  # generous: a shared 2-core machine; typical ~30 us
