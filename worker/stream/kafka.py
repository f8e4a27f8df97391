"""The Kafka clients the worker uses, with every setting that matters for delivery in one place."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.subscription_state import ConsumerRebalanceListener

from worker.config import WorkerConfig
from worker.kafka_security import KafkaSecurity, start_explained
from worker.stream import fast_crc, frame_reader
from worker.stream.fetch_sizes import adapt
from worker.stream.partitioner import default_partitioner
from worker.stream.txn_fencing import FencingProducer
from worker.stream.txn_stable_offsets import stable_offsets


class _ExplainedStart:
    """start() that turns a TLS/SASL failure into one KafkaStartError line (a configuration
    error for `run`: exit 2, the supervisor does not restart); other failures pass unchanged."""

    dsw_security: KafkaSecurity = KafkaSecurity()
    dsw_bootstrap: str = ""
    dsw_principal: str | None = None  # named by delivery.py when an ACL denies a write

    async def start(self) -> None:
        try:
            await start_explained(super().start, self.dsw_security, self.dsw_bootstrap)
        except BaseException:
            await self.stop()  # a failed start leaves connections and tasks open otherwise
            raise


class WorkerConsumer(_ExplainedStart, AIOKafkaConsumer):
    dsw_fetch_sizes = None  # fetch_sizes.FetchSizes once started
    dsw_config: WorkerConfig | None = None

    async def start(self) -> None:
        await super().start()
        if self.dsw_config is not None:  # fetch sizes that adapt to a slow link (fetch_sizes.py)
            self.dsw_fetch_sizes = adapt(self, self.dsw_config)


class WorkerProducer(_ExplainedStart, AIOKafkaProducer):
    pass


class WorkerTxnProducer(_ExplainedStart, FencingProducer):
    """exactly-once: offsets go with the consumer's group membership (zombie fencing)."""


def _secured(client, cfg: WorkerConfig, sec: KafkaSecurity):
    client.dsw_security, client.dsw_bootstrap, client.dsw_principal = sec, cfg.bootstrap_servers, sec.principal
    return client


def fast_fetch_path(fetch_max_bytes: int) -> None:
    """The fetch path's speed-ups, for this process's aiokafka clients (and bench/stream_cost's
    "bare+" loop). aiokafka reads each connection through an asyncio StreamReader limited to 64 KB
    (``aiokafka.conn.READER_LIMIT``): a fetch response of megabytes of images is then read as
    dozens of pause/resume cycles of the socket (two epoll_ctl calls and a wake-up each), which
    cost about a tenth of the event loop's time at 500 img/s (profiled). A response is buffered
    whole before it is parsed anyway, so a limit of the fetch size costs no memory."""
    import aiokafka.conn

    aiokafka.conn.READER_LIMIT = max(aiokafka.conn.READER_LIMIT, fetch_max_bytes)
    frame_reader.install()  # and each response is received in one copy, not four (frame_reader.py)
    fast_crc.install()  # and its batches' CRC-32C checked with the CPU's instructions (fast_crc.py)


def make_consumer(cfg: WorkerConfig, listener: ConsumerRebalanceListener | None = None) -> AIOKafkaConsumer:
    fast_fetch_path(cfg.fetch_max_bytes)
    sec = KafkaSecurity.from_config(cfg)
    consumer = WorkerConsumer(
        bootstrap_servers=cfg.bootstrap_servers,
        group_id=cfg.group_id,
        client_id=f"dsw-{cfg.worker_id}",
        # offsets are committed by worker/stream/delivery.py only, after the outcome is acked;
        # auto-commit would commit what was merely fetched (Seldon Core v2 relies on it)
        enable_auto_commit=False,
        auto_offset_reset=cfg.auto_offset_reset,
        # large media: the consumer's limits must carry the largest accepted message
        max_partition_fetch_bytes=cfg.max_partition_fetch_bytes,
        fetch_max_bytes=cfg.fetch_max_bytes,
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=max(1000, cfg.session_timeout_ms // 10),
        # DALI runs in a thread and the loop keeps calling getmany() even while partitions are
        # paused, so this only trips when the loop itself is stuck (aiokafka #848)
        max_poll_interval_ms=cfg.max_poll_interval_ms,
        request_timeout_ms=cfg.request_timeout_ms,
        # inputs written by transactional producers: never read aborted data; in exactly-once
        # mode this is also what makes a re-read of our own outputs consistent
        isolation_level="read_committed" if cfg.delivery == "exactly-once" else "read_uncommitted",
        **sec.client_kwargs(),
    )
    if cfg.delivery == "exactly-once":
        # a partition's new owner waits for offsets still pending in an open transaction (KIP-447)
        stable_offsets(consumer)
    _secured(consumer, cfg, sec)
    consumer.dsw_config = cfg
    consumer.subscribe(topics=cfg.input_topics, listener=listener)
    return consumer


def make_producer(cfg: WorkerConfig, transactional_id: str | None = None) -> AIOKafkaProducer:
    """``transactional_id``: the one this process claimed (``txn_id.py``); default the config's."""
    sec = KafkaSecurity.from_config(cfg)
    common = dict(
        bootstrap_servers=cfg.bootstrap_servers,
        client_id=f"dsw-{cfg.worker_id}",
        max_request_size=cfg.max_request_bytes,
        compression_type=cfg.compression,
        linger_ms=5,  # results of one batch leave in few requests
        partitioner=default_partitioner,  # Kafka's murmur2, faster than aiokafka's (partitioner.py)
        request_timeout_ms=cfg.request_timeout_ms,
        **sec.client_kwargs(),
    )
    if cfg.delivery == "exactly-once":
        # a stable id per worker slot: a restarted process fences its dead predecessor and
        # aborts the transaction it left open
        return _secured(WorkerTxnProducer(transactional_id=transactional_id or cfg.transactional_id,
                                          **common), cfg, sec)
    # acks=all + idempotence: an acked outcome survives a broker failover and retries do not
    # duplicate it; only then may its input offset be committed
    return _secured(WorkerProducer(acks="all", enable_idempotence=True, **common), cfg, sec)
