"""Video: frames/s of the ``video_frames`` pipeline through the worker, beside DALI alone on the
same clips (issue 19).

``python -m bench.video [--clips 24] [--frames 48] [--size 320x240] [--device cpu]``

The clips are made here with PyAV (``tests/media.py``: VP9 in Matroska, what DALI 2.4 decodes
on the CPU; seeded, so a run is repeatable), each frame distinct.

- (a) DALI alone: the repository's ``video_frames`` loaded and run with the worker's own code
  (``load_model``, ``PipelineRunner``), clips fed from memory in batches, outputs copied to host.
- (b) the worker end to end: the clips produced into a topic (2 partitions) *before* the worker
  starts, then ``python -m worker run --pipeline video_frames --cut frame`` (one result record
  per sampled frame, exactly-once or at-least-once); frames/s between the first and the last
  result record, so start-up is left out; also ``--cut clip`` (one result per clip).

Frames/s counts *decoded* frames (the clip's, what the decoder does) and *results* (sampled
every 2nd frame by the pipeline's ``stride``, resized to 112x112). Writes
``bench/results/video-<device>-<host>.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import common, kafka_io

ROOT = Path(__file__).resolve().parent.parent
STRIDE = 2  # pipelines/video_frames/1/dali.py


def make_clips(n: int, frames: int, size: tuple[int, int]) -> list[bytes]:
    sys.path.insert(0, str(ROOT))
    from tests.media import clip

    return [clip(frames=frames, size=size, seed=i, fps=25) for i in range(n)]


def dali_alone(clips: list[bytes], frames: int, device: str, batch_size: int, repeat: int) -> dict:
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    threads = len(os.sched_getaffinity(0))
    model = load_model(ROOT / "pipelines", "video_frames", device="cpu" if device == "cpu" else 0,
                       num_threads=threads, max_batch_size=batch_size)
    runner = PipelineRunner(model)
    samples = [{"video": c} for c in clips]
    runner.run(samples[:batch_size])  # warm-up
    times, out_frames = [], 0
    for _ in range(repeat):
        for i in range(0, len(samples), batch_size):
            t0 = time.perf_counter()
            res = runner.run(samples[i:i + batch_size])
            times.append(time.perf_counter() - t0)
            bad = [r.error for r in res if not r.ok]
            if bad:
                raise SystemExit(f"DALI failed on a benchmark clip: {bad[0]}")
            out_frames += sum(int(r.outputs["frames"].shape[0]) for r in res)
    total = sum(times)
    decoded = frames * len(clips) * repeat
    return {"batch_size": batch_size, "threads": threads, "clips": len(clips) * repeat,
            "seconds": round(total, 3), "decoded_frames_per_s": round(decoded / total, 1),
            "result_frames_per_s": round(out_frames / total, 1),
            "batch_p50_ms": round(1000 * common.percentile(times, 50), 1),
            "batch_p99_ms": round(1000 * common.percentile(times, 99), 1)}


def worker_e2e(bootstrap: str, clips: list[bytes], frames: int, device: str, cut: str,
               delivery: str, batch_size: int, timeout_s: float = 600) -> dict:
    case = f"video-{cut}-{uuid.uuid4().hex[:6]}"
    tin, tout, dlq = f"{case}-in", f"{case}-out", f"{case}-dlq"
    asyncio.run(kafka_io.create_topics(bootstrap, [tin, tout, dlq], partitions=2))
    asyncio.run(kafka_io.produce(bootstrap, tin, clips, len(clips)))
    per_clip = -(-frames // STRIDE) if cut == "frame" else 1
    expected = per_clip * len(clips)
    args = [sys.executable, "-m", "worker", "run", "--input", tin, "--output", tout,
            "--dead-letter-topic", dlq, "--group-id", f"g-{case}", "--pipeline", "video_frames",
            "--cut", cut, "--device", device, "--delivery", delivery, "--max-batch-size", str(batch_size),
            "--max-delay-ms", "50", "--format", "raw", "--bootstrap-servers", bootstrap]
    log = tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False)
    t_start = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)

    async def collect():
        col = kafka_io.Collector(bootstrap, tout)
        await col.start()
        try:
            ok = await col.wait_for(tin, expected, timeout_s, alive=lambda: proc.poll() is None)
        finally:
            await col.stop()
        return col, ok

    try:
        col, ok = asyncio.run(collect())
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not ok:
        log.seek(0)
        raise SystemExit(f"worker ({cut}) gave {col.count(tin)} of {expected} results:\n"
                         + log.read().decode(errors="replace")[-3000:])
    tp = kafka_io.throughput(col.rows, tin)
    per_s = tp.get("images_per_s")
    return {"cut": cut, "delivery": delivery, "batch_size": batch_size, "results": tp["results"],
            "seconds": tp.get("seconds"), "results_per_s": per_s,
            "result_frames_per_s": per_s if cut == "frame" else None,
            "decoded_frames_per_s": None if per_s is None else round(per_s * (frames / per_clip), 1),
            "startup_s": round((col.first_seen or t_start) - t_start, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--frames", type=int, default=48, help="frames per clip")
    p.add_argument("--size", default="320x240", help="WxH")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2, help="(a): passes over the clips")
    p.add_argument("--delivery", default="exactly-once", choices=["exactly-once", "at-least-once"])
    p.add_argument("--no-worker", action="store_true", help="(a) only")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    os.environ.setdefault("DALI_DEVICE", "cpu" if args.device == "cpu" else "gpu")
    clips = make_clips(args.clips, args.frames, (w, h))
    mean_kb = sum(map(len, clips)) / len(clips) / 1024
    print(f"{len(clips)} VP9 clips of {args.frames} frames at {w}x{h}, mean {mean_kb:.0f} KB", file=sys.stderr)
    out = {"clips": {"count": len(clips), "frames": args.frames, "size": [w, h], "codec": "VP9",
                     "container": "Matroska", "mean_kb": round(mean_kb, 1)},
           "pipeline": "video_frames (decode, every 2nd frame, resize 112x112)", "device": args.device}
    out["dali_alone"] = dali_alone(clips, args.frames, args.device, args.batch_size, args.repeat)
    print(f"(a) DALI alone: {out['dali_alone']}", file=sys.stderr)
    if not args.no_worker:
        bootstrap, broker = common.bootstrap_or_broker()
        try:
            out["worker"] = [worker_e2e(bootstrap, clips, args.frames, args.device, cut, args.delivery,
                                        args.batch_size) for cut in ("frame", "clip")]
        finally:
            if broker is not None:
                broker.stop()
        for row in out["worker"]:
            print(f"(b) worker: {row}", file=sys.stderr)
        a = out["dali_alone"]["decoded_frames_per_s"]
        out["summary"] = {f"ratio_worker_{r['cut']}_over_dali": round(r["decoded_frames_per_s"] / a, 2)
                          for r in out["worker"] if r["decoded_frames_per_s"]}
    path = common.write_result(f"video-{args.device}", out)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
