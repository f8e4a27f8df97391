"""What the commands that talk to Kafka share."""
from __future__ import annotations

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
