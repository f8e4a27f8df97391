#!/usr/bin/env bash
# Create (or widen) the worker's topics. docker-compose.yml runs it once, in the Kafka image,
# before any worker starts; run it by hand against another cluster the same way:
#   BOOTSTRAP=broker:9092 INPUT_PARTITIONS=64 deploy/create-topics.sh
#
# Partitions bound parallelism: a consumer group uses at most as many consumers as the topic has
# partitions, and each worker process is one consumer. Give the input topic at least
#   containers x GPUs per container x DSW_PROCS
# partitions (extra ones cost little). Kafka can add partitions but never remove them: an
# existing topic with fewer is widened here (keys then map to other partitions; the worker
# does not rely on key order).
#
# Sizes: message.max.bytes must admit the worker's 16 MiB max_message_bytes plus the record's
# key, headers and batch overhead, hence 17 MiB by default.
set -euo pipefail

BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
INPUT_TOPIC="${INPUT_TOPIC:-images}"
INPUT_PARTITIONS="${INPUT_PARTITIONS:-64}"
OUTPUT_TOPIC="${OUTPUT_TOPIC:-dali.predictions}"
OUTPUT_PARTITIONS="${OUTPUT_PARTITIONS:-16}"
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-dali.dead-letters}"
DEAD_LETTER_PARTITIONS="${DEAD_LETTER_PARTITIONS:-4}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"
MAX_MESSAGE_BYTES="${MAX_MESSAGE_BYTES:-17825792}"
# Input images are the bulk: 66 KB x 20k img/s is 1.3 GB/s per GPU. Bound them by size per
# partition as well as by time; results and dead letters are small and kept longer.
INPUT_RETENTION_MS="${INPUT_RETENTION_MS:-21600000}"          # 6 h
INPUT_RETENTION_BYTES="${INPUT_RETENTION_BYTES:-2147483648}"  # 2 GiB per partition
OUTPUT_RETENTION_MS="${OUTPUT_RETENTION_MS:-86400000}"        # 24 h
DEAD_LETTER_RETENTION_MS="${DEAD_LETTER_RETENTION_MS:-604800000}"  # 7 days

topics() { "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" "$@"; }

ensure() {  # ensure TOPIC PARTITIONS [--config k=v ...]
  local topic="$1" partitions="$2"
  shift 2
  local now
  now="$(topics --describe --topic "$topic" 2>/dev/null | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n1 || true)"
  if [ -z "$now" ]; then
    topics --create --if-not-exists --topic "$topic" --partitions "$partitions" \
      --replication-factor "$REPLICATION_FACTOR" "$@"
    echo "created $topic with $partitions partitions"
    return
  fi
  if [ "$now" -lt "$partitions" ]; then
    topics --alter --topic "$topic" --partitions "$partitions"
    echo "widened $topic from $now to $partitions partitions"
  else
    echo "$topic has $now partitions (wanted >= $partitions)"
  fi
  # keep the sizes and retention in step with this script on an existing topic too
  local configs=() arg
  for arg in "$@"; do [ "$arg" = "--config" ] || configs+=("$arg"); done
  if [ "${#configs[@]}" -gt 0 ]; then
    "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type topics \
      --entity-name "$topic" --add-config "$(IFS=,; echo "${configs[*]}")"
  fi
}

for i in $(seq 1 60); do
  topics --list >/dev/null 2>&1 && break
  echo "waiting for Kafka at $BOOTSTRAP ($i)"
  sleep 2
done

ensure "$INPUT_TOPIC" "$INPUT_PARTITIONS" \
  --config "max.message.bytes=$MAX_MESSAGE_BYTES" \
  --config "retention.ms=$INPUT_RETENTION_MS" \
  --config "retention.bytes=$INPUT_RETENTION_BYTES" \
  --config "segment.bytes=268435456"
ensure "$OUTPUT_TOPIC" "$OUTPUT_PARTITIONS" \
  --config "max.message.bytes=$MAX_MESSAGE_BYTES" \
  --config "retention.ms=$OUTPUT_RETENTION_MS"
ensure "$DEAD_LETTER_TOPIC" "$DEAD_LETTER_PARTITIONS" \
  --config "max.message.bytes=$MAX_MESSAGE_BYTES" \
  --config "retention.ms=$DEAD_LETTER_RETENTION_MS"
topics --describe --topic "$INPUT_TOPIC" | head -n1
