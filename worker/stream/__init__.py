"""The Kafka side of the worker: message formats, consumer, micro-batching, producer, delivery."""
