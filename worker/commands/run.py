"""Consume input topics, run DALI pipelines on micro-batches, publish results and dead letters.

Each input record ends as exactly one outcome: a result on the route's output topic (or the
envelope's reply_to), or a dead letter (with the reason) on the dead-letter topic. Offsets are
committed only after the outcome is acknowledged by the broker (at-least-once), or in the same
transaction as the outcomes (--delivery exactly-once; read outputs with read_committed).

One route from flags:
  dali-worker run --input images --pipeline classify --output tensors
Several routes, and every other setting, from a TOML file (--config, or $DSW_CONFIG); flags
override the file, the environment (DSW_<OPTION>, e.g. DSW_PROCS=4) overrides defaults.

Processes: --procs N starts N worker processes in one consumer group (per GPU with --device
gpu: every visible GPU gets N, each process pinned with CUDA_VISIBLE_DEVICES). A group uses at
most as many consumers as the topics have partitions. SIGTERM drains: stop fetching, finish
in-flight batches, publish, commit, exit 0. A worker process that dies is restarted by the
supervisor (a lone one too; --no-supervise runs it bare). A configuration error (unknown
pipeline, no GPU, a model that does not fit, ...) prints one line and exits 2, and the
supervisor stops every worker instead of restarting them.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("route (one route from flags; [[routes]] in --config for several)")
    g.add_argument("--input", metavar="TOPIC[,TOPIC]", help="input topic(s) to consume")
    g.add_argument("--pipeline", help="pipeline for messages that name none (raw messages)")
    g.add_argument("--pipelines", metavar="NAME[,NAME]",
                   help="more pipelines an envelope may name; only the pipelines named by --pipeline "
                        "and --pipelines are loaded (a repository's dali.py files are code)")
    g.add_argument("--output", metavar="TOPIC", help="topic for results (default dali.results)")
    g.add_argument("--format", choices=["auto", "raw", "envelope"],
                   help="input values: a msgpack envelope, the media file itself (raw), or auto-detect (default)")
    g.add_argument("--pipeline-version", type=int, metavar="N",
                   help="version of --pipeline for messages that name none (default: the highest "
                        "the repository's version_policy serves)")
    g.add_argument("--max-batch-size", type=int, help="flush a micro-batch at this size (default: the pipeline's)")
    g.add_argument("--max-delay-ms", type=float,
                   help="flush a micro-batch when its oldest message has waited this long (default 20)")
    g.add_argument("--feed", choices=["ragged", "padded"],
                   help="ragged: a list of variable-length samples (default); padded: one zero-padded array")
    g.add_argument("--output-dtype", metavar="DTYPE",
                   help="cast outputs for the wire (float16, uint8, ...); a float32 224x224x3 tensor is 600 KB")
    g.add_argument("--cut", choices=["clip", "frame", "sequence"],
                   help="video/audio: one result per input (clip, default), per frame, or per sequence "
                        "of --sequence-length frames every --sequence-stride")
    g.add_argument("--sequence-length", type=int, metavar="N", help="with --cut sequence: frames (rows) per result")
    g.add_argument("--sequence-stride", type=int, metavar="N",
                   help="with --cut sequence: frames between starts (default: the length)")
    g.add_argument("--max-decoded-bytes", type=int, metavar="BYTES",
                   help="video/audio inputs declaring more decoded bytes (frames x W x H x 3) are "
                        "dead-lettered undecoded (default 2 GiB; 0: no cap)")
    g.add_argument("--max-pixels", type=int, metavar="PIXELS",
                   help="images whose header declares more pixels (width x height) are dead-lettered "
                        "undecoded (default 64000000; 0: no cap)")
    g.add_argument("--max-batch-decoded-bytes", type=int, metavar="BYTES",
                   help="memory budget of one micro-batch: the decoded sizes of its inputs (W x H x 3 "
                        "per image, as declared for video/audio) add up to at most this; a batch is cut "
                        "before an input would pass it (default 1 GiB; 0: no budget)")

    k = p.add_argument_group("Kafka")
    k.add_argument("--bootstrap-servers", help="default $KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092")
    k.add_argument("--group-id", help="consumer group shared by all workers (default dali-workers)")
    k.add_argument("--dead-letter-topic", help="dead letters of every route (default dali.dead-letters)")
    k.add_argument("--delivery", choices=["at-least-once", "exactly-once"], help="default at-least-once")
    k.add_argument("--max-message-bytes", type=int,
                   help="larger input values are dead-lettered as oversized (default 16 MiB); keep the "
                        "broker's message.max.bytes and the fetch sizes at least this large")
    k.add_argument("--max-request-bytes", type=int, help="producer max_request_size (default 16 MiB)")
    k.add_argument("--max-partition-fetch-bytes", type=int, help="consumer per-partition fetch limit (default 16 MiB)")
    k.add_argument("--fetch-max-bytes", type=int, help="consumer fetch limit per request (default 16 MiB)")
    k.add_argument("--auto-offset-reset", choices=["earliest", "latest"], help="where a new group starts (default earliest)")
    k.add_argument("--commit-interval-ms", type=int, help="how often finished offsets are committed (default 1000)")
    k.add_argument("--compression", choices=["gzip", "snappy", "lz4", "zstd"], help="producer compression")

    from worker.commands.kafka_clients import add_security_arguments

    add_security_arguments(p)

    w = p.add_argument_group("worker")
    w.add_argument("--config", help="TOML file with settings and [[routes]] (default $DSW_CONFIG)")
    w.add_argument("--repository", help="model repository, Triton DALI-backend layout (default ./pipelines)")
    w.add_argument("--repository-poll-s", type=float, metavar="S",
                   help="live reload: look at the repository every S seconds and swap in added, "
                        "changed or removed versions between batches (default 0: never)")
    w.add_argument("--device", help="cpu (default), gpu (every visible GPU), or a GPU id")
    w.add_argument("--procs", type=int, help="worker processes (per GPU with --device gpu; default 1)")
    w.add_argument("--isolate-dali", action=argparse.BooleanOptionalAction, default=None,
                   help="run each DALI pipeline in a child process, so that a decoder crash on a corrupt "
                        "file costs that sample, not the worker (default on; about 2%% slower, one more "
                        "process per pipeline)")
    w.add_argument("--supervise", action=argparse.BooleanOptionalAction, default=None,
                   help="run the worker process(es) under a supervisor that restarts one that dies "
                        "(default on, for one process too); a configuration error (exit 2) stops them all")
    w.add_argument("--num-threads", type=int, help="DALI threads per process (default: cores / processes)")
    w.add_argument("--max-inflight-batches", type=int,
                   help="batches in flight per route before that route's partitions pause (default 4)")
    w.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port (default: off)")
    w.add_argument("--metrics-host", help="address that port binds (default 127.0.0.1: this machine only; "
                                          "0.0.0.0 for every interface, as the image sets for a container)")
    w.add_argument("--liveness-timeout-s", type=float,
                   help="/healthz fails when one DALI batch runs longer than this (default 300), or the "
                        "stream loop has not turned for 30 s")
    w.add_argument("--kafka-ready-timeout-s", type=float,
                   help="/readyz fails when nothing could be fetched, or a commit has been pending or "
                        "failing, for this long (default 30); /healthz is not affected")
    w.add_argument("--worker-id", help="name in results and logs (default host-pid)")
    w.add_argument("--drain-timeout-s", type=float, help="SIGTERM: wait this long for in-flight work (default 30)")
    w.add_argument("--slot", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its children


def overrides_from(args) -> dict:
    skip = {"command", "verbose", "config", "func"}
    return {k: v for k, v in vars(args).items() if k not in skip and v is not None}


def main(args) -> int:
    from worker.commands.kafka_clients import quiet_missing_topic_errors
    from worker.config import EXIT_CONFIG, load_config
    from worker.runtime import run_worker, startup_errors

    quiet_missing_topic_errors()  # output topics being auto-created on first use

    try:
        cfg = load_config(args.config, overrides=overrides_from(args))
        return run_worker(cfg, argv=_child_argv(args))
    except startup_errors() as exc:
        # one line, no traceback: the message names the field and the fix
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"dali-worker run: configuration error: {text}", file=sys.stderr, flush=True)
        return EXIT_CONFIG


def _child_argv(args) -> list[str]:
    """The flags to give each child process (the same ones, minus --procs and --metrics-port)."""
    out = []
    for k, v in overrides_from(args).items():
        if k in ("procs", "metrics_port", "slot", "supervise"):
            continue
        flag = k.replace("_", "-")
        if isinstance(v, bool):  # BooleanOptionalAction: --flag / --no-flag
            out.append(f"--{flag}" if v else f"--no-{flag}")
        else:
            out += [f"--{flag}", str(v)]
    if args.config:
        out += ["--config", args.config]
    return out
