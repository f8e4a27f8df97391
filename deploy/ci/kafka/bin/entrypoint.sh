#!/usr/bin/env bash
# As apache/kafka's image does: every KAFKA_<NAME> variable becomes the property <name> ('_' -> '.',
# '__' -> '_', '___' -> '-'), the log folder is formatted once with CLUSTER_ID, then the broker runs.
set -euo pipefail
props=/opt/kafka/config/server.properties
: > "$props"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key="${name#KAFKA_}"
  key="$(printf '%s' "$key" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr '[:upper:]' '[:lower:]')"
  printf '%s=%s\n' "$key" "$value" >> "$props"
done < <(env)
data="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
if [ ! -e "$data/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "${CLUSTER_ID:?CLUSTER_ID is required}" -c "$props"
fi
exec java ${KAFKA_HEAP_OPTS:--Xmx1g} -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$props"
