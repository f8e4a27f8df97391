"""The stream path's own cost: the worker against a bare aiokafka loop, side by side, one corpus.

``python -m bench.stream_cost [--bulk 6000] [--rounds 1] [--profile]``

One backlog topic (the corpus produced ``--bulk`` times round-robin into 4 partitions) is read by
each case in its own consumer group, each writing its own output topic:

- **bare**: a bare aiokafka loop as a careful user would write it (``--bare`` of this module):
  ``getmany`` up to the batch size, a small msgpack result per record (the input's size and where
  it came from), an idempotent ``acks=all`` producer whose send futures are gathered once per
  batch, then a commit of the batch's offsets;
- **bare+** (``--cases bare+``): the same loop on the worker's fetch path (its allocator
  settings, ``worker/stream/frame_reader.py`` and ``fast_crc.py``): the worker against it is
  the cost of everything the worker does beyond reading the stream as fast as it does;
- **worker, at-least-once** and **worker, exactly-once**: ``python -m worker run`` (supervisor,
  one worker process, DALI isolated in its child as by default) with a pipeline that returns only
  the input's size (``fn.shapes``), so that DALI does no real work. The pipeline lives in a
  temporary repository made here.

Throughput: results of the backlog over the span between the first and the last result record
(``bench/kafka_io.py``). CPU per message: user + system CPU seconds of the consumer's whole
process tree (the supervisor, the worker, the DALI isolation child; read from ``/proc``) between
a tenth and nine tenths of the results, divided by the results in between (start-up and the
last batches left out). Bytes received per message: the tree's TCP connections (``ss``), same
span; above the input's size means records fetched twice. The cases alternate (bare, at-least-once, exactly-once, then
again with ``--rounds``, in reverse order every other round: the second of two like cases
measured 5-20% worse on the 2-core VM whichever worker it was) so that a noisy neighbour costs
all of them alike; ratios are taken within a round.

``machine_speed_ms`` of each case: the CPU time of a fixed task run just before it. The VM's host
is shared, and the same work costs up to twice as much when it is busy; the index shows how
steady the machine was through a round (ratios are only taken within one): a round is
``steady`` when the index varied by at most 30% across its cases (it moves by a tenth or two
between two samples by itself); a round that is not shows which case ran on a busier host.

With ``--rounds N`` the JSON also has each ratio's median over the rounds (``median_ratios``),
the figure to quote on this VM.

``--profile``: one more at-least-once and exactly-once run each under ``py-spy record --format
raw --subprocesses`` (``pip install py-spy``), whose samples are summarised by stage (fetch and
record parsing, envelope and header checks, batching, isolation hand-off, DALI call overhead,
result encoding, produce, commit, metrics, ...). The profiled runs are slower: their throughput
is not reported as the worker's.

Writes ``bench/results/stream-cost-<host>.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import common, corpus, e2e, kafka_io
from worker.procutil import die_with_parent as _die_with_parent

ROOT = Path(__file__).resolve().parent.parent
BATCH = 64
PARTITIONS = 4

SHAPES_PIPELINE = '''"""The input's size only (bench/stream_cost.py): DALI does no real work."""
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize


@autoserialize
@pipeline_def(batch_size=64, num_threads=1, device_id=None,
              output_dtype=[types.INT64], output_ndim=[1])
def shapes():
    data = fn.external_source(name="data", dtype=types.UINT8, ndim=1)
    return fn.shapes(data, dtype=types.INT64)
'''
SHAPES_CONFIG = '''name: "shapes"
backend: "dali"
max_batch_size: 64
input [ { name: "data", data_type: TYPE_UINT8, dims: [ -1 ] } ]
output [ { name: "size", data_type: TYPE_INT64, dims: [ 1 ] } ]
'''


def make_repository(folder: Path) -> Path:
    repo = folder / "repository"
    (repo / "shapes" / "1").mkdir(parents=True)
    (repo / "shapes" / "1" / "dali.py").write_text(SHAPES_PIPELINE)
    (repo / "shapes" / "config.pbtxt").write_text(SHAPES_CONFIG)
    return repo


# ---------------------------------------------------------------------------------------------
# the bare loop (run as its own process: python -m bench.stream_cost --bare ...)

async def bare_loop(bootstrap: str, topic: str, output: str, group: str, batch: int) -> None:
    """What a careful user writes: consume a batch, one small msgpack result per record, produce
    them with an idempotent acks=all producer, wait for the batch's acks, commit the batch."""
    import msgpack
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=16 << 20, fetch_max_bytes=16 << 20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await consumer.start()
    await producer.start()
    packb = msgpack.packb
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=batch)
            if not batches:
                continue
            futures, offsets = [], {}
            now_ms = int(time.time() * 1000)
            for tp, records in batches.items():
                for r in records:
                    value = packb({"v": "1", "kind": "result", "id": f"{r.topic}/{r.partition}/{r.offset}",
                                   "source": {"topic": r.topic, "partition": r.partition,
                                              "offset": r.offset, "timestamp_ms": r.timestamp},
                                   "outputs": {"size": len(r.value)}, "created_ms": now_ms})
                    futures.append(await producer.send(output, value, key=r.key))
                offsets[TopicPartition(tp.topic, tp.partition)] = records[-1].offset + 1
            await asyncio.gather(*futures)
            await consumer.commit(offsets)
    finally:
        await producer.stop()
        await consumer.stop()


# ---------------------------------------------------------------------------------------------
# cases

def worker_config(bootstrap: str, repo: Path, topic: str, output: str, group: str, delivery: str) -> str:
    return (f'bootstrap_servers = "{bootstrap}"\ngroup_id = "{group}"\nrepository = "{repo}"\n'
            f'device = "cpu"\nprocs = 1\nmetrics_port = 0\ndelivery = "{delivery}"\n'
            f'dead_letter_topic = "{output}-dlq"\n' + os.environ.get("DSW_COST_EXTRA", "") + '\n'
            f'[[routes]]\ninput = ["{topic}"]\npipeline = "shapes"\noutput = "{output}"\n'
            f'format = "raw"\nmax_batch_size = {BATCH}\nmax_delay_ms = 20.0\n')


def start(kind: str, bootstrap: str, repo: Path, topic: str, output: str, workdir: Path) -> subprocess.Popen:
    kind, _, tree = kind.partition("@")  # "exactly-once@/path": the worker of another checkout
    group = f"cost-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DALI_DEVICE="cpu", PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if kind in ("bare", "bare+"):
        cmd = [sys.executable, "-m", "bench.stream_cost", "--bare", bootstrap, topic, output, group]
        if kind == "bare+":
            cmd.append("--fast-fetch")
    else:
        cfg = workdir / f"{kind}.toml"
        cfg.write_text(worker_config(bootstrap, repo, topic, output, group, kind))
        env["DSW_CONFIG"] = str(cfg)
        cmd = [sys.executable, "-m", "worker", "run"]
    log = open(workdir / f"{kind}.log", "ab")
    try:
        return subprocess.Popen(cmd, cwd=tree or ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    finally:
        log.close()


def cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds so far of each process of the tree, by role (threads included)."""
    out: dict[str, float] = {}
    for pid in e2e._tree(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        role = ("isolation child" if "pipeline.child" in cmd else "worker" if "--slot" in cmd or "--bare" in cmd
                else "supervisor")
        out[role] = out.get(role, 0.0) + e2e._cpu_s(pid)
    return out


def bytes_read(root: int) -> int:
    """Bytes the process tree's TCP connections have received so far (``ss``'s tcp_info
    ``bytes_received`` of the sockets it holds now; the broker connections live through a run): a
    consumer that fetches records twice (aiokafka drops what it fetched for a partition that is
    paused before the records are returned) receives more than the records' size."""
    pids = set(e2e._tree(root))
    try:
        out = subprocess.run(["ss", "-tnpiH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    total, mine = 0, False
    for line in out.splitlines():
        if not line[:1].isspace():  # a socket's line; its tcp_info follows on the next line
            mine = any(f"pid={p}," in line for p in pids)
        elif mine and "bytes_received:" in line:
            total += int(line.split("bytes_received:", 1)[1].split()[0])
    return total


def machine_speed() -> float:
    """CPU milliseconds of a fixed task (copies of 16 MiB and a Python loop) just before a case:
    on a VM whose host is busy the same work costs more, and the figures of a case measured
    then do too. The ratios are taken within a round; this shows how steady the machine was."""
    import numpy as np

    src, dst = np.ones(16 << 20, np.uint8), np.empty(16 << 20, np.uint8)
    t0 = time.process_time()
    for _ in range(20):
        np.copyto(dst, src)
    total = 0
    for i in range(300_000):
        total += i & 7
    return round((time.process_time() - t0) * 1000, 1)


def pyspy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


async def run_case(kind: str, bootstrap: str, repo: Path, topic: str, bulk: int, workdir: Path,
                   profile_to: Path | None = None, timeout_s: float = 240.0) -> dict:
    output = f"cost-{kind.partition('@')[0].replace('+', '-plus')}-{uuid.uuid4().hex[:6]}-out"
    await kafka_io.create_topics(bootstrap, [output, output + "-dlq"], PARTITIONS)
    collector = kafka_io.Collector(bootstrap, output)
    await collector.start()
    proc = start(kind, bootstrap, repo, topic, output, workdir)
    sampler = e2e.MemorySampler([proc.pid])
    sampler.start()
    res: dict = {"case": kind, "messages": bulk}
    if "@" in kind:  # another checkout's worker: which commit
        res["commit"] = subprocess.run(["git", "-C", kind.partition("@")[2], "log", "-1", "--format=%h %s"],
                                       capture_output=True, text=True).stdout.strip()[:120]
    try:
        # CPU per process of the tree (worker, isolation child, supervisor) between a tenth and
        # nine tenths of the results
        await collector.wait_for(topic, bulk // 10, timeout_s, lambda: proc.poll() is None)
        split0, n0, read0 = cpu_by_role(proc.pid), collector.count(topic), bytes_read(proc.pid)
        spy = None
        if profile_to is not None:
            # the steady span only (not imports, pipeline load, group join): attach once a tenth
            # of the results are out, stop (SIGINT: py-spy writes its file) at nine tenths
            if await collector.wait_for(topic, bulk // 10, timeout_s, lambda: proc.poll() is None):
                spy = subprocess.Popen([pyspy(), "record", "--pid", str(proc.pid), "--subprocesses",
                                        "--nonblocking", "--rate", "250", "--format", "raw",
                                        "--output", str(profile_to)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await collector.wait_for(topic, bulk * 9 // 10, timeout_s, lambda: proc.poll() is None)
        split1, n1, read1 = cpu_by_role(proc.pid), collector.count(topic), bytes_read(proc.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 30)
        if n1 > n0:
            res["cpu_us_per_msg_by_process"] = {role: round((split1.get(role, 0.0) - split0.get(role, 0.0)) / (n1 - n0) * 1e6, 1)
                                                for role in split1}
            res["read_kb_per_msg"] = round((read1 - read0) / (n1 - n0) / 1024, 1)
        ok = await collector.wait_for(topic, bulk, timeout_s, lambda: proc.poll() is None)
        if not ok:
            log = (workdir / f"{kind.partition('@')[0]}.log").read_text(errors="replace")[-2000:]
            return {**res, "error": f"{collector.count(topic)} of {bulk} results; log tail:\n{log}"}
        tp = kafka_io.throughput(collector.rows, topic)
        await asyncio.sleep(0.5)  # one more CPU sample after the span's end
        spent = sampler.cpu_between(tp["start_ms"] / 1000.0, tp["end_ms"] / 1000.0)
        res["msg_per_s"] = tp["images_per_s"]
        res["steady_msg_per_s"] = tp["steady_images_per_s"]
        if "cpu_us_per_msg_by_process" in res:  # the steady span (a tenth to nine tenths of the results)
            res["cpu_us_per_msg"] = round(sum(res["cpu_us_per_msg_by_process"].values()), 1)
        if spent is not None:  # the whole span, start and end included (sampled: coarser)
            res["cpu_us_per_msg_whole_span"] = round(spent[0] / (tp["results"] - 1) * 1e6, 1)
        res["peak_rss_mb"] = round(sampler.peak_mb, 1)
        res["results"] = tp["results"]
    finally:
        e2e.stop_consumers([proc])
        sampler.stop()
        await collector.stop()
    return res


# ---------------------------------------------------------------------------------------------
# the profile, by stage

# (stage, substrings of "function (file)" frames); the first stage that any frame of a stack
# matches, searched from the innermost frame outwards, takes the sample
STAGES = [
    ("metrics", ("prometheus_client", "worker/metrics.py")),
    ("logging", ("logging/__init__.py", "kafka_log.py")),
    ("result encoding", ("stream/results.py", "stream/wire.py", "msgpack", "outcomes.py")),
    ("envelope/header checks", ("stream/envelope.py", "stream/routing.py", "media_checks.py",
                                "pipeline/media.py", "pipeline/headers.py", "pipeline/containers.py",
                                "stream/poison.py", "stream/plan.py")),
    ("batching", ("stream/batching.py", "stream/backpressure.py")),
    ("isolation hand-off", ("pipeline/isolation.py", "pipeline/isolated", "pipeline/ipc.py",
                            "pipeline/child.py", "multiprocessing/",
                            "shared_memory", "_posixshmem")),
    ("DALI call overhead", ("nvidia/dali", "pipeline/run.py", "pipeline/feeds.py", "pipeline/outputs.py",
                            "pipeline/bisect.py", "worker/pipeline/")),
    ("commit", ("commit", "offsets.py", "txn_stable_offsets.py")),
    ("produce", ("aiokafka/producer", "delivery.py", "txn_fencing.py", "fanout.py")),
    ("fetch/record parsing", ("aiokafka/consumer", "aiokafka/record", "aiokafka/protocol",
                              "aiokafka/conn.py", "aiokafka/client.py", "_crecords", "getmany")),
    ("socket reads (mostly fetch responses)", ("asyncio/selector_events.py", "asyncio/streams.py",
                                               "stream/frame_reader.py")),
    ("asyncio loop", ("asyncio/",)),
]


def summarise_profile(path: Path) -> dict:
    """py-spy's raw (collapsed) stacks -> samples per process role and per stage."""
    by_proc: dict[str, collections.Counter] = {}
    totals: collections.Counter = collections.Counter()
    if not path.exists():
        return {"error": f"no profile at {path}"}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        try:
            count = int(n)
        except ValueError:
            continue
        frames = stack.split(";")
        # with --subprocesses each stack starts with its process and their parents
        proc = [f for f in frames if f.startswith("process ")][-1:] or ["?"]
        role = ("isolation child" if "pipeline.child" in proc[0]
                else "worker" if "--slot" in proc[0] or "--bare" in proc[0]
                else "supervisor")
        stage = "other"
        for frame in reversed(frames):
            hit = next((name for name, keys in STAGES if any(k in frame for k in keys)), None)
            if hit:
                stage = hit
                break
        if stage == "other" and any("idle" in f or "select" in f or "epoll" in f for f in frames[-2:]):
            stage = "idle"
        by_proc.setdefault(role, collections.Counter())[stage] += count
        totals[stage] += count
    busy = sum(n for s, n in totals.items() if s != "idle")
    share = {s: round(n / busy, 3) for s, n in totals.most_common() if s != "idle"} if busy else {}
    return {"samples": sum(totals.values()), "busy_samples": busy, "share_of_busy": share,
            "by_process": {p: dict(c.most_common()) for p, c in by_proc.items()}}


# ---------------------------------------------------------------------------------------------

async def _run(args) -> dict:
    data = corpus.load(args.corpus)
    bootstrap, broker = common.bootstrap_or_broker()
    out: dict = {"bulk": args.bulk, "batch": BATCH, "partitions": PARTITIONS, "note": args.note,
                 "corpus": {"files": len(data), "mean_kb": round(sum(map(len, data)) / len(data) / 1024, 1)},
                 "rounds": []}
    try:
        topic = f"cost-in-{uuid.uuid4().hex[:6]}"
        await kafka_io.create_topics(bootstrap, [topic], PARTITIONS)
        await kafka_io.produce(bootstrap, topic, data, args.bulk)
        with tempfile.TemporaryDirectory(prefix="dsw-cost-") as tmp:
            repo = make_repository(Path(tmp))
            for i in range(args.rounds):
                rnd = {}
                # the order reverses every other round: the second of two like cases measured
                # 5-20% worse here whichever worker it was, so a before/after pair alternates
                kinds = args.cases.split(",")
                for kind in (kinds if i % 2 == 0 else kinds[::-1]):
                    speed = machine_speed()
                    rnd[kind] = await run_case(kind, bootstrap, repo, topic, args.bulk, Path(tmp))
                    rnd[kind]["machine_speed_ms"] = speed
                    print(f"round {i + 1} {kind}: {rnd[kind]}", flush=True)
                rnd["ratios"] = ratios(rnd)
                speeds = [c["machine_speed_ms"] for c in rnd.values() if isinstance(c, dict) and "machine_speed_ms" in c]
                # steady: the fixed task cost the same within 30% before every case of the round
                # (the index itself moves by a tenth or two between two samples on this VM)
                rnd["steady"] = bool(speeds) and max(speeds) <= 1.3 * min(speeds)
                print(f"round {i + 1} ratios ({'steady' if rnd['steady'] else 'NOT steady: the host was busier for some cases'}): "
                      f"{rnd['ratios']}", flush=True)
                out["rounds"].append(rnd)
            out["median_ratios"] = median_ratios(out["rounds"])
            print(f"median over {len(out['rounds'])} rounds: {out['median_ratios']}", flush=True)
            if args.profile:
                out["profile"] = {}
                out["py_spy"] = subprocess.run([pyspy(), "--version"], capture_output=True,
                                               text=True).stdout.strip()
                for kind in args.profile_cases.split(","):
                    raw = Path(tmp) / (kind.replace("@", "-at").replace("/", "_") + ".pyspy")
                    res = await run_case(kind, bootstrap, repo, topic, args.bulk, Path(tmp), profile_to=raw)
                    await asyncio.sleep(1.0)
                    res["stages"] = summarise_profile(raw)
                    if args.keep_profiles:
                        shutil.copy(raw, Path(args.keep_profiles) / raw.name)
                    out["profile"][kind] = res
                    print(f"profile {kind}: {res['stages'].get('share_of_busy')}", flush=True)
    finally:
        if broker:
            broker.stop()
    return out


def median_ratios(rounds: list[dict]) -> dict:
    """Each ratio's median over the rounds, with its range: one round's ratio moves by a fifth
    when the VM's host gets busier between two cases, the median of several much less."""
    out = {}
    for key in dict.fromkeys(k for r in rounds for k in r.get("ratios", {})):
        values = sorted(r["ratios"][key] for r in rounds if key in r.get("ratios", {}))
        out[key] = {"median": round(statistics.median(values), 2), "min": values[0], "max": values[-1]}
    return out


def ratios(rnd: dict) -> dict:
    out = {}
    for base in ("bare", "bare+"):
        bare = rnd.get(base) or {}
        for kind in [k for k in rnd if not k.startswith("bare")]:
            w = rnd.get(kind) or {}
            if bare.get("cpu_us_per_msg") and w.get("cpu_us_per_msg"):
                out[f"{kind} cpu/{base}"] = round(w["cpu_us_per_msg"] / bare["cpu_us_per_msg"], 2)
            if bare.get("msg_per_s") and w.get("msg_per_s"):
                out[f"{kind} msg_per_s/{base}"] = round(w["msg_per_s"] / bare["msg_per_s"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--bare"]:
        bootstrap, topic, output, group = argv[1:5]
        if "--fast-fetch" in argv:  # "bare+": the same loop on the worker's fetch path
            from worker import allocator
            from worker.stream.kafka import fast_fetch_path

            allocator.tune()
            fast_fetch_path(16 << 20)
        asyncio.run(bare_loop(bootstrap, topic, output, group, BATCH))
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench.stream_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bulk", type=int, default=6000, help="backlog records")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cases", default="bare,at-least-once,exactly-once",
                    help="bare, bare+, at-least-once, exactly-once; MODE@DIR runs the worker of the checkout "
                         "in DIR (before/after in one run: git worktree add DIR COMMIT)")
    ap.add_argument("--profile", action="store_true", help="also profile the worker with py-spy")
    ap.add_argument("--profile-cases", default="bare,at-least-once,exactly-once")
    ap.add_argument("--keep-profiles", default="", help="copy the raw py-spy files to this folder")
    ap.add_argument("--corpus", default="bench/corpus")
    ap.add_argument("--name", default="stream-cost")
    ap.add_argument("--note", default="", help="what else ran on the machine (kept in the JSON)")
    args = ap.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    res = asyncio.run(_run(args))
    print("wrote", common.write_result(args.name, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
