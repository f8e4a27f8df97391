#!/usr/bin/env bash
# kafka-run-class.sh CLASS ARGS...: what Kafka's own bin/ scripts reduce to.
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml \
  -cp '/opt/kafka/libs/*' "$@"
