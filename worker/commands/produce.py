"""Send media files to a Kafka topic, one record per file: raw (the value is the file, the key
its name) or as msgpack envelopes (schemas/input-envelope.v1.schema.json).

Folders are read recursively, keeping files with an image, video (.mp4 .mkv .webm .mov) or
audio (.wav .flac .ogg) extension (--ext to change). Each record has a ``content-type`` header
with the file's MIME type (video/webm, audio/flac, ...), and an envelope also carries it as
``meta.content_type``, which results copy: a hint for consumers; the worker itself reads the
file's signature and container, never the hint. Keys
are the file names (relative to the folder given), so results carry them as ids; with
--repeat N the later copies get keys name#2 ... name#N. The producer is idempotent (acks=all).
Progress (messages, MB, msg/s) goes to stderr, the summary to stdout.

examples:
  dali-worker produce photos/ --topic images
  dali-worker produce clips/ --topic clips            # .mp4 .mkv .webm files, one clip a record
  dali-worker produce cat.jpg dog.png --topic images --mode envelope --input images \\
      --pipeline classify --meta camera=7 --repeat 100 --rate 500
"""
from __future__ import annotations

import asyncio
import collections
import os
import sys
import time
from pathlib import Path

MiB = 1024 * 1024
DEFAULT_MAX_REQUEST = 16 * MiB
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jp2",
                    ".j2k", ".jpx", ".pnm", ".ppm", ".pgm", ".pbm")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".webm", ".mov")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga")
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
# the types Python's mimetypes lacks or names differently on some systems
_MIME = {".mkv": "video/x-matroska", ".webm": "video/webm", ".mp4": "video/mp4", ".m4v": "video/mp4",
         ".mov": "video/quicktime", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
         ".oga": "audio/ogg", ".jp2": "image/jp2", ".j2k": "image/jp2", ".webp": "image/webp"}
RECORD_OVERHEAD = 256  # record + batch headers around key and value, with margin
MAX_PENDING = 2000     # sends awaiting their ack before we wait for the oldest
CACHE_LIMIT = 256 * MiB  # with --repeat, keep file contents in memory up to this total


def default_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive)")
    p.add_argument("--topic", required=True, help="topic to send to")
    p.add_argument("--bootstrap-servers", default=default_bootstrap(),
                   help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    p.add_argument("--mode", choices=("raw", "envelope"), default="raw",
                   help="raw: the value is the file (default); envelope: a msgpack envelope")
    p.add_argument("--input", metavar="NAME",
                   help="envelope mode: the pipeline input the file feeds (`dali-worker pipelines` lists them)")
    p.add_argument("--pipeline", metavar="NAME", help="envelope mode: the pipeline to run (default: the route's)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="envelope mode: metadata copied into the result (repeatable)")
    p.add_argument("--reply-to", metavar="TOPIC", help="envelope mode: topic for the results")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="send every file N times (default 1)")
    p.add_argument("--rate", type=float, default=0.0, metavar="MSG_PER_S",
                   help="send at most this many messages per second (default: as fast as possible)")
    p.add_argument("--max-request-size", type=int, default=DEFAULT_MAX_REQUEST, metavar="BYTES",
                   help=f"producer max_request_size (default {DEFAULT_MAX_REQUEST}); the broker's "
                        "message.max.bytes must allow it too")
    p.add_argument("--ext", action="append", metavar=".EXT",
                   help="file extensions to take from folders (repeatable; default: common image, "
                        "video and audio types)")
    from worker.commands.kafka_clients import add_security_arguments

    add_security_arguments(p)


def content_type(path: Path) -> str:
    """The MIME type of a media file by its extension (application/octet-stream if unknown)."""
    import mimetypes

    ext = path.suffix.lower()
    return _MIME.get(ext) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class UsageError(Exception):
    pass


def collect_files(paths: list[str], extensions) -> list[tuple[str, Path]]:
    """(key, path) for every file: named files as given (by file name), folders recursively by
    extension (keys relative to the folder), sorted for a stable order."""
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    out: list[tuple[str, Path]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append((p.name, p))
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts)
            if not found:
                raise UsageError(f"{raw}: no files with extensions {', '.join(sorted(exts))} "
                                 "(use --ext to choose others)")
            out.extend((f.relative_to(p).as_posix(), f) for f in found)
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return out


def _parse_meta(items: list[str]) -> dict[str, str]:
    meta = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"--meta {item!r}: write KEY=VALUE")
        meta[k] = v
    return meta


def _too_big(path: Path, size: int, limit: int) -> str:
    return (f"{path} is {size:,} bytes, more than fits in one request of {limit:,} bytes "
            "(--max-request-size). Raise --max-request-size together with the topic's "
            "max.message.bytes (broker message.max.bytes) and the worker's max message and "
            "consumer fetch sizes, or leave the file out.")


class Progress:
    """Count, MB and msg/s on stderr: a \\r-updated bar on a terminal, a line every few seconds
    otherwise (logs stay readable)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.2 if self.tty else 5.0
        self.start = self.last = time.monotonic()
        self.count = self.bytes = 0

    def add(self, nbytes: int) -> None:
        self.count += 1
        self.bytes += nbytes
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.show(now)

    def line(self, now: float) -> str:
        dt = max(now - self.start, 1e-9)
        return (f"{self.count}/{self.total} msgs  {self.bytes / MiB:.1f} MB  "
                f"{self.count / dt:.0f} msg/s  {self.bytes / MiB / dt:.1f} MB/s")

    def show(self, now: float, final: bool = False) -> None:
        if self.tty:
            done = self.count / self.total if self.total else 1.0
            bar = "#" * int(done * 20)
            self.stream.write(f"\r[{bar:<20}] {done:4.0%} {self.line(now)}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()


def _denied(topic: str, sec) -> str:
    who = sec.principal or "this client's principal"
    return (f"the broker denied operation WRITE on topic {topic!r} to {who}: grant it, e.g. "
            f"kafka-acls --add --allow-principal {sec.principal or 'User:<name>'} --operation Write "
            f"--operation Describe --topic {topic}")


def main(args) -> int:
    from worker.commands.kafka_clients import quiet_missing_topic_errors

    quiet_missing_topic_errors()
    try:
        files = collect_files(args.paths, args.ext or MEDIA_EXTENSIONS)
        meta = _parse_meta(args.meta)
        if args.mode == "raw" and (args.input or args.pipeline or meta or args.reply_to):
            raise UsageError("--input, --pipeline, --meta and --reply-to need --mode envelope "
                             "(a raw value is just the file; the worker's route picks the pipeline)")
        if args.mode == "envelope" and not args.input:
            raise UsageError("--mode envelope needs --input NAME, the pipeline input the files "
                             "feed (`dali-worker pipelines` lists them)")
        if args.repeat < 1 or args.rate < 0 or args.max_request_size < 1024:
            raise UsageError("--repeat must be >= 1, --rate >= 0, --max-request-size >= 1024")
        sizes = {}
        for key, path in files:
            sizes[path] = path.stat().st_size
            need = sizes[path] + len(key.encode()) + 8 + RECORD_OVERHEAD
            if args.mode == "envelope":
                need += 160 + len(args.input) + len(args.pipeline or "") + sum(map(len, args.meta))
            if need > args.max_request_size:
                raise UsageError(_too_big(path, sizes[path], args.max_request_size))
    except UsageError as e:
        print(f"dali-worker produce: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_produce(args, files, sizes, meta))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


async def _produce(args, files, sizes, meta) -> int:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import (KafkaError, KafkaTimeoutError,
                                 MessageSizeTooLargeError, TopicAuthorizationFailedError)

    from worker.commands.kafka_clients import start_or_explain
    from worker.stream.messages import encode_input

    from worker.commands.kafka_clients import security_from_args

    secured = security_from_args(args, "produce")
    if secured is None:
        return 2
    sec, security_kwargs = secured
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap_servers, acks="all",
                                enable_idempotence=True, max_request_size=args.max_request_size,
                                linger_ms=5, client_id="dali-worker-produce", **security_kwargs)
    if not await start_or_explain(producer, "produce", args.bootstrap_servers, sec):
        return 2
    total = len(files) * args.repeat
    cache: dict[Path, bytes] | None = {} if (
        args.repeat > 1 and sum(sizes.values()) <= CACHE_LIMIT) else None
    progress = Progress(total)
    pending: collections.deque = collections.deque()
    partitions: set[int] = set()
    sent = failed = 0
    error = None

    async def settle(fut, path, nbytes):
        nonlocal sent, failed, error
        try:
            md = await fut
            partitions.add(md.partition)
            sent += 1
            progress.add(nbytes)
        except MessageSizeTooLargeError:
            failed += 1
            error = error or (f"the broker refused {path} ({sizes[path]:,} bytes) as too large: "
                              f"raise topic {args.topic!r}'s max.message.bytes (broker "
                              "message.max.bytes), or send smaller files")
        except TopicAuthorizationFailedError:
            failed += 1
            error = error or _denied(args.topic, sec)
        except KafkaTimeoutError:
            failed += 1
            error = error or (f"sending {path} timed out: does topic {args.topic!r} exist? (the "
                              "broker may not auto-create topics; create it first)")
        except KafkaError as e:
            failed += 1
            error = error or f"sending {path} failed: {type(e).__name__}: {e}"

    start = time.monotonic()
    try:
        i = 0
        for rep in range(1, args.repeat + 1):
            for key, path in files:
                if error:
                    break
                if args.rate:
                    delay = start + i / args.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                data = cache.get(path) if cache is not None else None
                if data is None:
                    data = path.read_bytes()
                    if cache is not None:
                        cache[path] = data
                k = key if rep == 1 else f"{key}#{rep}"
                mime = content_type(path)
                value = data if args.mode == "raw" else encode_input(
                    k, {args.input: data}, pipeline=args.pipeline, meta={"content_type": mime, **meta},
                    reply_to=args.reply_to)
                try:
                    fut = await producer.send(args.topic, value, key=k.encode(),
                                              headers=[("content-type", mime.encode())])
                except MessageSizeTooLargeError:
                    error = _too_big(path, len(value), args.max_request_size)
                    failed += 1
                    break
                except TopicAuthorizationFailedError:
                    error = _denied(args.topic, sec)
                    failed += 1
                    break
                except KafkaTimeoutError:
                    error = (f"no metadata for topic {args.topic!r}: does it exist? (the broker "
                             "may not auto-create topics; create it first)")
                    failed += 1
                    break
                pending.append((fut, path, len(value)))
                i += 1
                if len(pending) >= MAX_PENDING:
                    await settle(*pending.popleft())
        while pending:
            await settle(*pending.popleft())
    finally:
        await producer.stop()
    elapsed = time.monotonic() - start
    progress.show(time.monotonic(), final=True)
    if error:
        print(f"dali-worker produce: {error}", file=sys.stderr)
    mb = progress.bytes / MiB
    parts = ",".join(map(str, sorted(partitions))) or "-"
    print(f"sent {sent} of {total} messages ({mb:.1f} MB) to {args.topic} (partitions {parts}) "
          f"in {elapsed:.2f} s: {sent / max(elapsed, 1e-9):.0f} msg/s, "
          f"{mb / max(elapsed, 1e-9):.1f} MB/s" + (f"; {failed} failed" if failed else ""))
    return 1 if error else 0
