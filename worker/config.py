"""Worker configuration: defaults < TOML file < environment (DSW_*) < command-line flags.

A file holds any number of routes (input topics -> pipeline -> output topic); the flags
``--input/--pipeline/--output`` describe one route for the common case. Every size limit lives
here, together, because Kafka's ~1 MB defaults for messages, requests and fetches must be raised
*together*: a producer allowed 16 MiB against a broker capped at 1 MB fails late, and a consumer
whose fetch limit is below a message's size used to stall on it (Seldon Core v2 #4668).
"""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from worker.errors import EXIT_CONFIG, ConfigError  # noqa: F401 (re-exported)

MiB = 1024 * 1024


@dataclass
class Route:
    """Input topics -> a pipeline (an envelope may name another) -> an output topic."""

    inputs: list[str]
    pipeline: str | None = None
    # more pipelines an envelope on this route may name (every route's pipeline and pipelines
    # are served, and only they are loaded: a repository's dali.py files are code)
    pipelines: list[str] = field(default_factory=list)
    output: str = "dali.results"
    dead_letter: str | None = None  # None: the worker's dead_letter_topic
    format: str = "auto"  # auto | raw | envelope
    max_batch_size: int = 0  # 0: the pipeline's max_batch_size
    max_delay_ms: float = 20.0
    feed: str = "ragged"  # ragged | padded
    output_dtype: str | None = None  # cast outputs for the wire: float16, uint8, ... (None: as-is)
    # topics an envelope's reply_to may name: fnmatch globs over the whole name ("replies.*",
    # "answers-?", "team[ab].out"); empty = every reply_to is refused (a dead letter). Internal
    # topics (__*), the input topics and the dead-letter topics are refused whatever matches.
    reply_to: list[str] = field(default_factory=list)
    # deprecated: false refuses every reply_to even where patterns match; true allows nothing
    # by itself (the patterns do). None: not given
    allow_reply_to: bool | None = None
    # decoded-size cap: an image input whose header declares more pixels (width x height) is
    # dead-lettered (image_too_large) before DALI sees it; 0 = no cap
    max_pixels: int = 64_000_000
    # how one input's outputs become results (worker/stream/fanout.py): "clip", one result per
    # input; "frame", one per row of the outputs' first axis (a video frame, a spectrogram row);
    # "sequence", sequence_length rows every sequence_stride rows (the last may be shorter).
    # Each result carries its index and the count of its input's results
    cut: str = "clip"
    sequence_length: int = 0
    sequence_stride: int = 0  # 0: sequence_length (windows side by side)
    # decoded-size cap for video and audio inputs, from what the container declares:
    # frames x width x height x 3 bytes (RGB frames), or samples x channels x 4 (float32);
    # larger inputs are dead-lettered (media_too_large) before DALI decodes them; 0 = no cap
    max_decoded_bytes: int = 2 * 1024 * MiB
    # memory budget of one micro-batch (issue 28): the decoded sizes of its inputs (an image:
    # width x height x max(3, channels) from its header; video/audio: what its container
    # declares, as for max_decoded_bytes; any other input: its bytes) add up to at most this, as
    # the caps above bound each input. A batch is cut before an input would pass it; an input
    # larger than the budget runs alone. 1 GiB: 64 photos of 5 MP, or 5 images at the 64 MP cap
    # (whose batch of 64 would decode to 12 GB); 0 = no budget
    max_batch_decoded_bytes: int = 1024 * MiB
    # the version of 'pipeline' for messages that name none (an envelope's pipeline_version
    # wins); 0: the highest version the repository's version_policy serves
    pipeline_version: int = 0
    model: dict | None = None  # forward to a KServe-V2/Triton model (worker/inference)

    def check(self, where: str) -> None:
        if not self.inputs:
            raise ConfigError(f"{where}: 'input' is empty; name at least one topic to consume")
        if self.format not in ("auto", "raw", "envelope"):
            raise ConfigError(f"{where}: format={self.format!r}; use auto, raw or envelope")
        if self.feed not in ("ragged", "padded"):
            raise ConfigError(f"{where}: feed={self.feed!r}; use ragged or padded")
        if self.max_batch_size < 0 or self.max_delay_ms < 0:
            raise ConfigError(f"{where}: max_batch_size and max_delay_ms must be >= 0")
        if self.format == "raw" and not self.pipeline:
            raise ConfigError(f"{where}: raw messages name no pipeline; set 'pipeline' for this route")
        if self.max_pixels < 0:
            raise ConfigError(f"{where}: max_pixels={self.max_pixels}; give a pixel count (width x "
                              "height), or 0 for no cap")
        if self.cut not in ("clip", "frame", "sequence"):
            raise ConfigError(f"{where}: cut={self.cut!r}; use clip (one result per input), frame "
                              "(one per frame) or sequence (with sequence_length and sequence_stride)")
        if self.cut == "sequence" and self.sequence_length < 1:
            raise ConfigError(f"{where}: cut = \"sequence\" needs sequence_length >= 1 (frames per result)")
        if self.sequence_length < 0 or self.sequence_stride < 0 or self.max_decoded_bytes < 0:
            raise ConfigError(f"{where}: sequence_length, sequence_stride and max_decoded_bytes must be >= 0")
        if self.max_batch_decoded_bytes < 0:
            raise ConfigError(f"{where}: max_batch_decoded_bytes={self.max_batch_decoded_bytes}; give "
                              "bytes (decoded inputs per batch), or 0 for no budget")
        if self.pipeline_version < 0 or (self.pipeline_version and not self.pipeline):
            raise ConfigError(f"{where}: pipeline_version={self.pipeline_version} needs the route's "
                              "'pipeline' and a version number >= 1 (0: the highest served)")
        if isinstance(self.allow_reply_to, str):
            self.allow_reply_to = _coerce("allow_reply_to", self.allow_reply_to, False, f"{where}.")
        if isinstance(self.reply_to, str):
            self.reply_to = _coerce("reply_to", self.reply_to, [], f"{where}.")
        if not isinstance(self.reply_to, list) or not all(isinstance(p, str) for p in self.reply_to):
            raise ConfigError(f"{where}: reply_to={self.reply_to!r}; give a list of topic patterns "
                              "such as [\"replies.*\"]")
        for pattern in self.reply_to:
            why = reply_to_pattern_problem(pattern)
            if why:
                raise ConfigError(f"{where}: reply_to pattern {pattern!r} {why}")


_PATTERN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-*?[]!")


def reply_to_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid reply_to pattern (an fnmatch glob over a topic name), or None."""
    if not pattern:
        return "is empty; give a topic name or a glob such as 'replies.*'"
    bad = sorted(set(pattern) - _PATTERN_CHARS)
    if bad:
        return (f"has {''.join(bad)!r}: a pattern is a topic name (A-Z a-z 0-9 . _ -) with the globs "
                "* ? [seq] [!seq]; regular expressions are not read")
    depth = 0
    for c in pattern:
        if c == "[":
            if depth:
                return "nests '[' inside a [seq]"
            depth = 1
        elif c == "]" and depth:
            depth = 0
        elif c == "]":
            return "has a ']' without its '['"
    if depth:
        return "has a '[' that is never closed"
    if pattern.startswith("__"):
        return "names internal topics ('__*'), which are never valid reply_to targets"
    return None


@dataclass
class WorkerConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "dali-workers"
    repository: str = "pipelines"
    routes: list[Route] = field(default_factory=list)
    dead_letter_topic: str = "dali.dead-letters"
    delivery: str = "at-least-once"  # at-least-once | exactly-once
    device: str = "cpu"  # cpu | gpu | a GPU id
    procs: int = 1  # worker processes (per GPU when device is gpu)
    # run the worker process(es) under the supervisor, which restarts one that dies (even a lone
    # one: a crash otherwise stalls its partitions until someone restarts it)
    supervise: bool = True
    # run each DALI pipeline in a child process of the worker (worker/pipeline/isolation.py), so
    # that a decoder crash on a corrupt file costs that sample, not the worker
    isolate_dali: bool = True
    num_threads: int = 0  # DALI threads per process; 0: cores / processes
    # per route: when a route has this many batches unfinished, its input partitions pause
    # (backpressure; stream/backpressure.py); the other routes go on
    max_inflight_batches: int = 4
    max_message_bytes: int = 16 * MiB  # input values above this are dead-lettered (oversized)
    max_request_bytes: int = 16 * MiB  # producer max_request_size
    # a dead letter carries its input's value only up to this size (larger: source names where
    # to read it), so a dead letter stays small whatever the input was (schemas/README.md)
    dead_letter_original_max_bytes: int = 1 * MiB
    fetch_max_bytes: int = 16 * MiB  # consumer fetch_max_bytes: larger fetches cost memory, not speed (measured)
    max_partition_fetch_bytes: int = 16 * MiB
    auto_offset_reset: str = "earliest"
    commit_interval_ms: int = 1000
    session_timeout_ms: int = 30000
    max_poll_interval_ms: int = 300000
    # how long a Kafka request may go unanswered before the client drops the connection and
    # retries (producer and consumer); a broker that stays silent longer makes an unacked
    # outcome fail, and the worker stops without committing it (exit 1: its supervisor restarts it)
    request_timeout_ms: int = 40000
    transactional_id_prefix: str = ""  # default: "<group_id>-<hostname>"; the slot is appended
    compression: str | None = None  # producer compression_type: gzip, lz4, zstd, snappy
    worker_id: str = ""
    slot: int = 0  # this process's index among the procs (stable: it names the transactional id)
    metrics_port: int = 0  # 0: no HTTP endpoint
    # address the metrics/health server binds: this host only by default; the image sets 0.0.0.0
    # (DSW_METRICS_HOST) so that probes and Prometheus reach it through the container network
    metrics_host: str = "127.0.0.1"
    # /healthz fails (restart me) when one DALI batch runs longer than this, or the stream loop
    # has not turned for 30 s
    liveness_timeout_s: float = 300.0
    # /readyz fails when the worker wants to fetch and nothing was fetched, or a commit has been
    # pending or failing, for this long (stream/kafka_health.py); /healthz is not affected
    kafka_ready_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    # live reload (worker/stream/reload.py): look at the repository every this many seconds and
    # load added or changed versions in the background; 0: never (Triton's --model-control-mode=poll)
    repository_poll_s: float = 0.0
    state_dir: str = ""  # poison-message journal (worker/stream/poison.py); default under ~/.cache
    # Kafka security (worker/kafka_security.py, docs/security.md); passwords only from files or
    # $DSW_SASL_PASSWORD / $DSW_SSL_KEY_PASSWORD, never as values here
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    ssl_ca_file: str = ""
    ssl_cert_file: str = ""
    ssl_key_file: str = ""
    ssl_key_password_file: str = ""
    ssl_check_hostname: bool = True
    sasl_mechanism: str = ""  # PLAIN (default with SASL_*) | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
    sasl_username: str = ""
    sasl_password_file: str = ""
    sasl_oauth_token_file: str = ""
    sasl_oauth_token_command: str = ""

    def check(self) -> "WorkerConfig":
        if self.delivery not in ("at-least-once", "exactly-once"):
            raise ConfigError(f"delivery={self.delivery!r}; use at-least-once or exactly-once")
        if self.delivery == "exactly-once":
            from worker.aiokafka_version import require_tested_aiokafka

            require_tested_aiokafka()
        if not self.routes:
            raise ConfigError("no route: give --input TOPIC --pipeline NAME (or [[routes]] in --config)")
        for i, r in enumerate(self.routes):
            r.check(f"routes[{i}] (input {', '.join(r.inputs) or '?'})")
        seen: dict[str, int] = {}
        for i, r in enumerate(self.routes):
            for t in r.inputs:
                if t in seen:
                    raise ConfigError(f"topic {t!r} is the input of routes[{seen[t]}] and routes[{i}]; "
                                      "a topic feeds one route (an envelope can still name its pipeline)")
                seen[t] = i
        if self.procs < 1:
            raise ConfigError("procs must be >= 1")
        if self.repository_poll_s < 0:
            raise ConfigError(f"repository_poll_s={self.repository_poll_s}; give seconds between looks "
                              "at the repository, or 0 for no live reload")
        if self.max_inflight_batches < 1:
            raise ConfigError("max_inflight_batches must be >= 1")
        if self.kafka_ready_timeout_s <= 0:
            raise ConfigError(f"kafka_ready_timeout_s={self.kafka_ready_timeout_s}; give the seconds without "
                              "a fetch or commit after which /readyz fails (default 30)")
        if self.max_partition_fetch_bytes < self.max_message_bytes:
            raise ConfigError(
                f"max_partition_fetch_bytes ({self.max_partition_fetch_bytes}) is below max_message_bytes "
                f"({self.max_message_bytes}): raise it, or large messages are fetched one request at a time")
        if self.device not in ("cpu", "gpu") and not str(self.device).isdigit():
            raise ConfigError(f"device={self.device!r}; use cpu, gpu, or a GPU id such as 0")
        from worker.kafka_security import KafkaSecurity

        KafkaSecurity.from_config(self).check()
        if not self.worker_id:
            self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        if not self.state_dir:
            cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            self.state_dir = os.path.join(cache, "dali-stream-worker", "state", self.group_id)
        return self

    @property
    def transactional_id(self) -> str:
        """Stable per worker slot *and host*: a restarted process fences its dead predecessor,
        while containers scaled side by side (each its own hostname) do not fence each other."""
        prefix = self.transactional_id_prefix or f"{self.group_id}-{socket.gethostname()}"
        return f"{prefix}-{self.slot}"

    def route_for_topic(self, topic: str) -> Route:
        for r in self.routes:
            if topic in r.inputs:
                return r
        raise KeyError(topic)

    @property
    def input_topics(self) -> list[str]:
        return [t for r in self.routes for t in r.inputs]

    def dead_letter_for(self, route: Route) -> str:
        return route.dead_letter or self.dead_letter_topic


_TOP = {f.name: f for f in fields(WorkerConfig)}
_ROUTE = {f.name: f for f in fields(Route)}


def _coerce(name: str, value: Any, default: Any, where: str) -> Any:
    if isinstance(default, list):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}{name}={value!r} is not a list of names")
        return list(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}{name}={value!r} is not a boolean")
        return bool(value)
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}{name}={value!r} is not an integer") from None
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}{name}={value!r} is not a number") from None
    return value


def _route_from(d: dict, where: str) -> Route:
    d = dict(d)
    unknown = set(d) - set(_ROUTE) - {"input"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_ROUTE)}")
    inputs = d.pop("input", None) or d.pop("inputs", None)
    if isinstance(inputs, str):
        inputs = [t.strip() for t in inputs.split(",") if t.strip()]
    r = Route(inputs=list(inputs or []))
    for k, v in d.items():
        setattr(r, k, _coerce(k, v, getattr(r, k), f"{where}."))
    return r


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None,
                overrides: dict[str, Any] | None = None) -> WorkerConfig:
    """Build the configuration. ``overrides`` are the flags given on the command line (None
    values are ignored); the route keys among them (input, pipeline, output, ...) make or
    amend a single route."""
    env = os.environ if env is None else env
    cfg = WorkerConfig()
    data: dict = {}
    path = path or env.get("DSW_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    where = f"{path}: " if path else ""
    for k, v in data.items():
        if k == "routes":
            continue
        if k not in _TOP:
            raise ConfigError(f"{where}unknown key {k!r}; known: {sorted(set(_TOP) - {'routes'})}")
        setattr(cfg, k, _coerce(k, v, getattr(cfg, k), where))
    cfg.routes = [_route_from(r, f"{where}routes[{i}]") for i, r in enumerate(data.get("routes", []))]

    # environment: DSW_<FIELD> for top-level fields; KAFKA_BOOTSTRAP_SERVERS as the common name
    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        cfg.bootstrap_servers = env["KAFKA_BOOTSTRAP_SERVERS"]
    for name in _TOP:
        key = f"DSW_{name.upper()}"
        if name != "routes" and key in env and env[key] != "":
            setattr(cfg, name, _coerce(name, env[key], getattr(cfg, name), f"${key}: "))
    route_env = {k: env[f"DSW_ROUTE_{k.upper()}"] for k in list(_ROUTE) + ["input"]
                 if env.get(f"DSW_ROUTE_{k.upper()}")}

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    route_over = {**route_env, **{k: overrides.pop(k) for k in list(overrides)
                                  if k in _ROUTE or k == "input"}}
    for k, v in overrides.items():
        if k not in _TOP:
            raise ConfigError(f"unknown option {k}")
        setattr(cfg, k, _coerce(k, v, getattr(cfg, k), "--"))
    if route_over:
        if "input" in route_over or not cfg.routes:
            cfg.routes = [_route_from(route_over, "command line")]
        elif len(cfg.routes) == 1:
            merged = {f: getattr(cfg.routes[0], f) for f in _ROUTE if f != "inputs"}
            merged.update(route_over, input=route_over.get("input", cfg.routes[0].inputs))
            cfg.routes = [_route_from(merged, "command line")]
        else:
            raise ConfigError("route flags (--pipeline, --output, ...) with a config of several routes: "
                              "edit the [[routes]] of the file instead")
    return cfg.check()
