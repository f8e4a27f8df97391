"""dali-stream-worker: Kafka topics of encoded media in, DALI tensors and predictions out."""

__version__ = "0.1.0"
