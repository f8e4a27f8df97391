"""Read a topic and print its messages decoded, as they arrive: results (id, pipeline, model,
each output's dtype and shape with a short summary, top labels, timings), dead letters (id,
reason, error, source) and, on an input topic, envelopes and raw files.

Stops after --count messages, or after --timeout seconds without a message (exit status 1 if
--count was not reached), or on Ctrl-C. Without --group nothing is committed.

examples:
  dali-worker tail --topic dali.results
  dali-worker tail --topic dali.dead-letters --from-beginning --json
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import numpy as np  # light enough; messages need it anyway

MiB = 1024 * 1024
SMALL = 8  # outputs with at most this many elements are printed in full


def add_arguments(p) -> None:
    p.add_argument("--topic", required=True, action="append",
                   help="topic to read (repeatable)")
    p.add_argument("--bootstrap-servers",
                   default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092",
                   help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    p.add_argument("--from-beginning", action="store_true",
                   help="start at the oldest message (default: only new ones)")
    p.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    p.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds without a message")
    p.add_argument("--json", action="store_true", help="one JSON object per message (no tensor data)")
    p.add_argument("--group", metavar="G", help="consumer group (commits offsets); default: none")
    p.add_argument("--top", type=int, default=5, metavar="K", help="labels shown per output (default 5)")
    p.add_argument("--max-fetch-bytes", type=int, default=16 * MiB, metavar="BYTES",
                   help="consumer max_partition_fetch_bytes and fetch_max_bytes (default 16 MiB)")
    from worker.commands.kafka_clients import add_security_arguments

    add_security_arguments(p)


# ---- turning one record into a dict (for --json) and lines (for people) ----

def _summary(a: np.ndarray):
    if a.size == 0:
        return None
    if a.size <= SMALL:
        return a.reshape(-1).tolist()
    if a.dtype == np.bool_:
        return {"true": int(a.sum())}
    f = a.astype(np.float64, copy=False)
    return {"min": float(f.min()), "max": float(f.max()), "mean": round(float(f.mean()), 6)}


def _jsonable(obj):
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace") if len(obj) <= 256 else f"<{len(obj)} bytes>"
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _media_kind(value: bytes) -> str:
    from worker.pipeline.containers import ContainerError, probe

    if value[:4] in (b"\x1a\x45\xdf\xa3", b"fLaC", b"OggS") or value[4:8] == b"ftyp" or value[8:12] == b"WAVE":
        try:
            return probe(value).describe()
        except ContainerError as e:
            return f"media ({e})"
    sigs = {b"\xff\xd8": "jpeg", b"\x89PNG": "png", b"II*\x00": "tiff", b"MM\x00*": "tiff",
            b"RIFF": "riff/webp", b"GIF8": "gif", b"BM": "bmp"}
    return next((k for s, k in sigs.items() if value.startswith(s)), "bytes")


def describe(record, top: int = 5) -> dict:
    """A record as a plain dict: kind result / dead_letter / input / raw / undecodable."""
    from worker.stream.messages import (MessageError, decode_dead_letter, decode_input,
                                        decode_result, looks_like_map)

    value, headers = record.value, list(record.headers or [])
    base = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
            "key": record.key.decode("utf-8", "replace") if record.key else None}
    try:
        kind = None
        if any(k == "dsw-reason" for k, _ in headers):
            kind = "dead_letter"
        elif value and looks_like_map(value):
            import msgpack
            try:
                kind = msgpack.unpackb(value, raw=False).get("kind")
            except Exception:
                kind = None
            kind = kind if kind in ("result", "dead_letter", "input") else "result"
        if kind == "dead_letter":
            d = decode_dead_letter(value, headers)
            return {**base, "kind": "dead_letter", "id": d.id, "reason": d.reason, "error": d.error,
                    "source": d.source and str(d.source), "pipeline": d.pipeline,
                    "worker": d.worker, "original_size": d.original_size}
        if kind == "result":
            r = decode_result(value)
            outputs = {n: {"dtype": a.dtype.name, "shape": list(a.shape), "summary": _summary(a)}
                       for n, a in r.outputs.items()}
            labels = {n: [{"label": lb.label, "score": round(lb.score, 6), "index": lb.index}
                          for lb in rows[:top]] for n, rows in (r.labels or {}).items()}
            return {**base, "kind": "result", "id": r.id, "pipeline": r.pipeline, "model": r.model,
                    "source": r.source and str(r.source), "outputs": outputs, "labels": labels,
                    "timings": r.timings, "meta": _jsonable(r.meta), "worker": r.worker, "part": r.part}
        if kind == "input":
            m = decode_input(value, key=record.key, topic=record.topic,
                             partition=record.partition, offset=record.offset, mode="envelope")
            return {**base, "kind": "input", "id": m.id, "pipeline": m.pipeline,
                    "inputs": {n: {"dtype": a.dtype.name, "shape": list(a.shape)}
                               for n, a in m.inputs.items()}, "meta": _jsonable(m.meta)}
        return {**base, "kind": "raw", "size": len(value or b""), "media": _media_kind(value or b"")}
    except MessageError as e:
        return {**base, "kind": "undecodable", "reason": e.reason, "error": str(e)}


def format_lines(d: dict) -> list[str]:
    where = f"{d['topic']}/{d['partition']}/{d['offset']}"
    kind = d["kind"]
    if kind == "result":
        model = d["model"] and f"{d['model']['name']}:{d['model'].get('version') or '-'}"
        total = d["timings"].get("total_ms")
        part = d.get("part")
        head = (f"result {d['id']}" + (f" part {part['index'] + 1}/{part['count']}" if part else "")
                + f"  pipeline={d['pipeline']}" + (f" model={model}" if model else "")
                + f"  [{where}]" + (f"  {total:.1f} ms" if total is not None else ""))
        lines = [head]
        for name, o in d["outputs"].items():
            shape = "x".join(map(str, o["shape"])) or "scalar"
            s = o["summary"]
            if isinstance(s, list):
                s = "= [" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in s) + "]"
            elif isinstance(s, dict):
                s = " ".join(f"{k} {v:.4g}" for k, v in s.items())
            lines.append(f"  {name}: {o['dtype']}[{shape}] {s or ''}".rstrip())
            if d["labels"].get(name):
                lines.append("    top: " + ", ".join(f"{lb['label']} {lb['score']:.3f}"
                                                      for lb in d["labels"][name]))
        return lines
    if kind == "dead_letter":
        return [f"dead-letter {d['id']}  reason={d['reason']}  source={d['source']}"
                + (f"  pipeline={d['pipeline']}" if d["pipeline"] else "") + f"  [{where}]",
                f"  error: {d['error']}"]
    if kind == "input":
        ins = ", ".join(f"{n} {i['dtype']}[{'x'.join(map(str, i['shape']))}]"
                        for n, i in d["inputs"].items())
        return [f"input {d['id']}  pipeline={d['pipeline'] or '(route)'}  {ins}  [{where}]"]
    if kind == "raw":
        return [f"raw {d['key'] or '(no key)'}  {d['size']} bytes {d['media']}  [{where}]"]
    return [f"undecodable [{where}] key={d['key']}: {d['reason']}: {d['error']}"]


def main(args) -> int:
    try:
        return asyncio.run(_tail(args))
    except KeyboardInterrupt:
        return 0


async def _tail(args) -> int:
    from aiokafka import AIOKafkaConsumer
    from worker.commands.kafka_clients import start_or_explain

    from worker.commands.kafka_clients import quiet_missing_topic_errors

    quiet_missing_topic_errors()  # a topic that does not exist yet is simply quiet

    from worker.commands.kafka_clients import security_from_args

    secured = security_from_args(args, "tail")
    if secured is None:
        return 2
    sec, security_kwargs = secured
    topics = [t for arg in args.topic for t in arg.split(",") if t]
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=args.bootstrap_servers, group_id=args.group,
        enable_auto_commit=args.group is not None,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        max_partition_fetch_bytes=args.max_fetch_bytes, fetch_max_bytes=args.max_fetch_bytes,
        metadata_max_age_ms=3000,  # notice topics and partitions created after we start
        client_id="dali-worker-tail", **security_kwargs)
    if not await start_or_explain(consumer, "tail", args.bootstrap_servers, sec):
        return 2
    seen = 0
    last = time.monotonic()
    try:
        while args.count is None or seen < args.count:
            wait = 1.0
            if args.timeout is not None:
                left = args.timeout - (time.monotonic() - last)
                if left <= 0:
                    break
                wait = min(wait, left)
            # never fetch past --count: with --group, auto-commit would skip what we did not print
            batches = await consumer.getmany(
                timeout_ms=int(wait * 1000) or 1,
                max_records=None if args.count is None else args.count - seen)
            records = sorted((r for rs in batches.values() for r in rs),
                             key=lambda r: (r.timestamp, r.partition, r.offset))
            for record in records:
                d = describe(record, args.top)
                if args.json:
                    print(json.dumps(d, default=str), flush=True)
                else:
                    print("\n".join(format_lines(d)), flush=True)
                seen += 1
                last = time.monotonic()
                if args.count is not None and seen >= args.count:
                    break
    finally:
        await consumer.stop()
    if args.count is not None and seen < args.count:
        print(f"dali-worker tail: {seen} of {args.count} messages before {args.timeout:g} s "
              "without a message", file=sys.stderr)
        return 1
    return 0
