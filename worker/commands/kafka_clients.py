"""What the commands that talk to Kafka share."""
from __future__ import annotations

import logging
import sys


async def start_or_explain(client, command: str, bootstrap: str) -> bool:
    """Start an aiokafka client; if the broker cannot be reached, say so and how to fix it."""
    from aiokafka.errors import KafkaConnectionError

    try:
        await client.start()
        return True
    except KafkaConnectionError as e:
        await client.stop()
        print(f"dali-worker {command}: cannot reach Kafka at {bootstrap} ({e}); start one with "
              "`dali-worker dev-kafka` or set --bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS",
              file=sys.stderr)
        return False


class _QuietMissingTopic(logging.Filter):
    """aiokafka logs an ERROR each time it looks up a topic the broker is about to auto-create;
    a missing topic that stays missing is reported by the send itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not found in cluster metadata" not in record.getMessage()


def quiet_missing_topic_errors() -> None:
    log = logging.getLogger("aiokafka.cluster")
    if not any(isinstance(f, _QuietMissingTopic) for f in log.filters):
        log.addFilter(_QuietMissingTopic())
