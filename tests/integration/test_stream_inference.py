"""Forwarding to a model, end to end: Kafka -> worker (DALI "classify" on the CPU) -> a real
Triton Inference Server (2.51 on the CPU, models in its Python backend: tests/triton_server.py)
-> results and dead letters on Kafka. The predictions are checked against the same pipeline and
models run here, for a plain model and for an ensemble (a Python preprocessing step, then the
classifier). The server is stopped mid-stream (nothing committed while it is down, the worker
neither spins nor grows, then recovers by itself with nothing lost or doubled), the model is
unloaded and loaded again through Triton's model control API mid-stream (the same, without a
server restart), and the server is stopped for longer than the retry budget (model_unavailable
dead letters naming the server, offsets then move on)."""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tests.kafka_helpers import BIG, BackgroundReader
from tests.triton_server import (CLASSIFIER, DARK_REJECTING, ENSEMBLE, SERVERS_DIR,  # noqa: F401
                                 restartable_triton_server, triton_classifier_server)
from tests.worker_harness import (ROOT, WorkerProcess, committed_positions, corrupt_jpeg, produce,
                                  setup_topics, small_jpegs)

sys.path.insert(0, str(SERVERS_DIR))
import ensemble_preprocess  # noqa: E402
import mean_classifier  # noqa: E402

PIPELINE = "classify"
PIPELINE_OUTPUT = "DALI_OUTPUT_0"  # pipelines/classify/1/dali.py: float32 [3, 224, 224]
BATCH = 8
# DARK_REJECTING also rejects all-dark samples: a black JPEG after ImageNet normalization is
# about -2 everywhere, so the test can aim a model_error at one message through the real pipeline.


# -- helpers ----------------------------------------------------------------------------------
def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def write_config(path: Path, topics: tuple[str, str, str], model: dict) -> Path:
    tin, tout, tdlq = topics
    top = {"commit_interval_ms": 300, "num_threads": 2, "max_inflight_batches": 4,
           "dead_letter_topic": tdlq}
    route = {"input": tin, "pipeline": PIPELINE, "output": tout, "dead_letter": tdlq,
             "max_batch_size": BATCH, "max_delay_ms": 20}
    lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
    lines += ["", "[[routes]]"] + [f"{k} = {_toml(v)}" for k, v in route.items()]
    lines += ["", "[routes.model]"] + [f"{k} = {_toml(v)}" for k, v in model.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def model_table(server, **kw) -> dict:
    table = {"url": server.grpc_url, "protocol": "grpc", "name": CLASSIFIER.name,
             "inputs": {PIPELINE_OUTPUT: "image"}, "outputs": ["logits", "request_size"],
             "classify_output": "logits", "top_k": 3, "timeout_s": 10, "startup_timeout_s": 60,
             "backoff_initial_s": 0.1, "backoff_max_s": 0.5}
    table.update(kw)
    return {k: v for k, v in table.items() if v is not None}  # None: leave the key out


@dataclass
class Seen:
    results: dict = field(default_factory=dict)  # id -> [Result, ...]
    dead: dict = field(default_factory=dict)  # id -> [DeadLetter, ...]

    @property
    def ids(self) -> set[str]:
        return set(self.results) | set(self.dead)


class Tail(BackgroundReader):
    """Reads the results and dead-letter topics from the beginning, in a thread, for as long as
    the test runs, so that the test can watch progress while it stops and starts the server."""

    def __init__(self, bootstrap: str, results_topic: str, dead_topic: str):
        super().__init__(bootstrap, (results_topic, dead_topic), fetch_max_bytes=BIG * 4)
        self._seen = Seen()

    def on_record(self, tp, r) -> None:
        from worker.stream.messages import decode_dead_letter, decode_result

        if tp.topic == self.topics[0]:
            res = decode_result(r.value)
            self._seen.results.setdefault(res.id, []).append(res)
        else:
            dl = decode_dead_letter(r.value, r.headers)
            self._seen.dead.setdefault(dl.id, []).append(dl)

    def snapshot(self) -> Seen:
        if self.error is not None:
            raise AssertionError(f"tail consumer failed: {self.error!r}")
        with self._lock:
            return Seen({k: list(v) for k, v in self._seen.results.items()},
                        {k: list(v) for k, v in self._seen.dead.items()})

    def wait(self, pred, timeout: float, what: str, worker: WorkerProcess | None = None) -> Seen:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.snapshot()
            if pred(seen):
                return seen
            if worker is not None and worker.proc.poll() is not None:
                raise AssertionError(f"worker exited ({worker.proc.returncode}) waiting for {what}:\n"
                                     f"{worker.log()[-4000:]}")
            if time.monotonic() > deadline:
                tail = worker.log()[-4000:] if worker else ""
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: "
                                     f"{len(seen.results)} results, {len(seen.dead)} dead\n{tail}")
            time.sleep(0.1)


async def _end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


def committed(bootstrap, group, topic, parts) -> dict[int, int]:
    return {p: (o or 0) for p, o in asyncio.run(committed_positions(bootstrap, group, topic, parts)).items()}


def wait_committed_to_end(bootstrap, group, topic, parts, timeout=30.0) -> dict[int, int]:
    ends = asyncio.run(_end_offsets(bootstrap, topic, parts))
    deadline = time.monotonic() + timeout
    while True:
        got = committed(bootstrap, group, topic, parts)
        if got == ends:
            return got
        assert time.monotonic() < deadline, f"committed {got} never reached the end offsets {ends}"
        time.sleep(0.3)


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds user+system, resident set in bytes) of a process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    import os

    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return cpu, int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def worker_args(config: Path, group: str) -> list[str]:
    return ["--config", str(config), "--group-id", group]


def names(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def black_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 64)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def local_predictions(jpegs: dict[str, bytes], served: str = CLASSIFIER.name) -> dict[str, np.ndarray]:
    """The same pipeline (loaded as the worker loads it) and model (the classifier, or the
    ensemble: its preprocessing step, then the classifier), run here on the same bytes."""
    from worker.pipeline.runner import PipelineRunner
    from worker.repository.load import load_model

    model = load_model(ROOT / "pipelines", PIPELINE, device="cpu", num_threads=2)
    assert model.output_names == [PIPELINE_OUTPUT], model.output_names
    runner = PipelineRunner(model)
    try:
        keys = list(jpegs)
        out = runner.run([{"image": jpegs[k]} for k in keys])
    finally:
        runner.close()
    want = {}
    for k, r in zip(keys, out):
        assert r.ok, (k, r.error)
        tensor = r.outputs[PIPELINE_OUTPUT]
        assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
        batch = tensor[None]
        if served == ENSEMBLE.name:
            batch = ensemble_preprocess.preprocess(batch)
        want[k] = mean_classifier.logits(batch)[0]
    return want


# -- tests ------------------------------------------------------------------------------------
def stream_through(kafka_bootstrap, server, items, tmp_path, **model_kw) -> Seen:
    """Produce ``items``, run a worker forwarding to ``server`` until every message has an
    outcome and the offsets are committed to the end, and return what it published. A worker
    that logs "fatal:" fails the test at once (its supervisor would restart it for minutes)."""
    parts = 2
    topics = setup_topics(kafka_bootstrap, names("inf"), parts)
    group = names("g")
    ids = {k for k, _ in items}
    config = write_config(tmp_path / "worker.toml", topics, model_table(server, **model_kw))
    asyncio.run(produce(kafka_bootstrap, topics[0], items, partitions=parts))
    with WorkerProcess(kafka_bootstrap, worker_args(config, group), tmp_path / "w.log") as w, \
            Tail(kafka_bootstrap, topics[1], topics[2]) as tail:
        def done(seen: Seen) -> bool:
            if "fatal:" in w.log():
                raise AssertionError(f"the worker failed:\n{w.log()[-3000:]}")
            return seen.ids >= ids

        tail.wait(done, 180, "every message's outcome", w)
        wait_committed_to_end(kafka_bootstrap, group, topics[0], parts)
        time.sleep(0.5)  # anything doubled would show by now
        seen = tail.snapshot()
        assert w.terminate() == 0, w.log()[-3000:]
    return seen


def check_results(seen: Seen, want: dict[str, np.ndarray], model: str) -> None:
    assert set(seen.results) == set(want), sorted(seen.dead)
    for key, results in seen.results.items():
        assert len(results) == 1, f"{key} published {len(results)} times"
        res = results[0]
        assert res.pipeline == PIPELINE and res.model == {"name": model, "version": None}
        assert set(res.outputs) == {"logits", "request_size"}
        assert 1 <= int(res.outputs["request_size"][0]) <= BATCH
        np.testing.assert_allclose(res.outputs["logits"], want[key], rtol=1e-5, atol=1e-5,
                                   err_msg=key)
        local_top = mean_classifier.top_k(want[key], 3)
        assert [(lab.index, lab.label) for lab in res.labels["logits"]] == \
               [(i, mean_classifier.LABELS[i]) for i, _ in local_top], key
        assert res.labels["logits"][0].score == pytest.approx(local_top[0][1], rel=1e-5, abs=1e-5)
        assert "model_ms" in res.timings
    # the photos are not all one class: the check above compares more than one row of W
    assert len({int(np.argmax(w)) for w in want.values()}) > 1


def labels_path(tmp_path) -> str:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(mean_classifier.LABELS) + "\n")
    return str(labels)


def test_predictions_match_local_pipeline_and_model(kafka_bootstrap, triton_classifier_server,
                                                    tmp_path):
    server, model = triton_classifier_server, DARK_REJECTING.name
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(24, seed=3))}
    items = [*photos.items(), ("corrupt", corrupt_jpeg(5)), ("dark", black_jpeg())]
    seen = stream_through(kafka_bootstrap, server, items, tmp_path, name=model,
                          labels_file=labels_path(tmp_path))
    check_results(seen, local_predictions(photos), model)
    assert set(seen.dead) == {"corrupt", "dark"}
    (corrupt,), (dark,) = seen.dead["corrupt"], seen.dead["dark"]
    assert corrupt.reason == "decode_error"  # failed in DALI: never sent to the model
    assert dark.reason == "model_error", dark.error
    assert model in dark.error and server.grpc_url in dark.error
    assert "invalid" in dark.error and "INVALID_ARGUMENT" in dark.error  # the server's own words
    assert dark.original == dict(items)["dark"]


def test_ensemble_end_to_end_matches_local_preprocessing_and_model(
        kafka_bootstrap, triton_classifier_server, tmp_path):
    """Kafka -> worker -> a Triton ensemble (Python preprocessing step, then the classifier) ->
    results equal to the pipeline, the preprocessing and the classifier run here."""
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(16, seed=5))}
    items = [*photos.items(), ("corrupt", corrupt_jpeg(2))]
    seen = stream_through(kafka_bootstrap, triton_classifier_server, items, tmp_path,
                          name=ENSEMBLE.name, labels_file=labels_path(tmp_path))
    want = local_predictions(photos, ENSEMBLE.name)
    check_results(seen, want, ENSEMBLE.name)
    assert [d.reason for d in seen.dead["corrupt"]] == ["decode_error"] and len(seen.dead) == 1
    plain = local_predictions({k: photos[k] for k in list(photos)[:1]})
    key = next(iter(plain))
    assert not np.allclose(want[key], plain[key], rtol=1e-3)  # the preprocessing step ran


def test_top_k_from_tritons_classification_extension_end_to_end(
        kafka_bootstrap, triton_classifier_server, tmp_path):
    """A route with top_k and no labels file against Triton: the labels come from the model's
    label_filename through Triton's classification extension; the results are published (the
    'score:index:label' strings are labels, not an output) with the right top-k. (The worker
    used to die encoding those strings: 'dtype object cannot travel in a message'.)"""
    photos = {f"photo-{i:02d}": jpeg for i, jpeg in enumerate(small_jpegs(8, seed=13))}
    seen = stream_through(kafka_bootstrap, triton_classifier_server, list(photos.items()),
                          tmp_path, name=CLASSIFIER.name)
    want = local_predictions(photos)
    assert set(seen.results) == set(photos) and not seen.dead
    for key, (res,) in seen.results.items():
        local_top = mean_classifier.top_k(want[key], 3)
        assert [(lab.index, lab.label) for lab in res.labels["logits"]] == \
               [(i, mean_classifier.LABELS[i]) for i, _ in local_top], key
        assert res.labels["logits"][0].score == pytest.approx(local_top[0][1], abs=1e-5)
        assert "request_size" in res.outputs
        if "logits" in res.outputs:  # if published, the scores themselves
            np.testing.assert_allclose(res.outputs["logits"], want[key], rtol=1e-5, atol=1e-5)


def outage_mid_stream(kafka_bootstrap, server, tmp_path, take_down, bring_up, what: str) -> str:
    """Trickle 200 messages through a worker; after 50 results ``take_down()`` (the server or
    the model) and check the outage: nothing committed, nothing published, no spinning, no
    growth; then ``bring_up()`` and check every message got exactly one result, equal to the
    local computation. Returns the worker's log."""
    parts, total = 2, 200
    topics = setup_topics(kafka_bootstrap, names("rst"), parts)
    group = names("g")
    photos = small_jpegs(16, seed=7)
    items = [(f"m-{i:04d}", photos[i % len(photos)]) for i in range(total)]
    ids = {k for k, _ in items}
    config = write_config(tmp_path / "worker.toml", topics,
                          model_table(server, max_retry_s=0, labels_file=labels_path(tmp_path)))
    produced = threading.Event()
    def trickle():  # ~50 msg/s, so that the outage lands mid-stream
        for start in range(0, total, 10):
            asyncio.run(produce(kafka_bootstrap, topics[0], items[start:start + 10], partitions=parts))
            time.sleep(0.2)
        produced.set()

    with WorkerProcess(kafka_bootstrap, worker_args(config, group), tmp_path / "w.log") as w, \
            Tail(kafka_bootstrap, topics[1], topics[2]) as tail:
        w.wait_for_log("assigned", timeout=120)
        producer = threading.Thread(target=trickle, daemon=True)
        producer.start()
        tail.wait(lambda s: len(s.results) >= 50, 60, "50 results", w)
        take_down()
        assert produced.wait(60), "producer did not finish"
        producer.join()
        # batches answered just before the outage may still be committed: wait until the
        # commits and the results stop moving for a second (a fixed 1.5 s was too short for a
        # loaded machine)
        last, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline:
            now = (committed(kafka_bootstrap, group, topics[0], parts), len(tail.snapshot().ids))
            if now == last:
                break
            last = now
            time.sleep(1.0)

        # the outage: nothing committed, nothing published, no spinning, no growth
        c0, s0 = committed(kafka_bootstrap, group, topics[0], parts), tail.snapshot()
        cpu0, rss0 = proc_usage(w.proc.pid)
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < 5.0:
            time.sleep(0.5)
            samples.append(proc_usage(w.proc.pid)[1])
        cpu1, rss1 = proc_usage(w.proc.pid)
        window = time.monotonic() - t0
        c1, s1 = committed(kafka_bootstrap, group, topics[0], parts), tail.snapshot()
        assert c1 == c0, f"committed moved while {what}: {c0} -> {c1}"
        assert sum(c0.values()) < total, "the outage must hold some messages"
        assert len(s1.ids) == len(s0.ids) < total and not s1.dead
        cpu_share = (cpu1 - cpu0) / window
        growth = max(samples + [rss1]) - rss0
        print(f"\n{what} {window:.1f}s: committed {sum(c0.values())}/{total}, results "
              f"{len(s0.results)}, worker CPU {cpu_share:.1%} of a core, RSS {rss0 / 2**20:.0f} MiB "
              f"({growth / 2**20:+.1f} MiB; samples {[round(x / 2**20, 1) for x in samples]})")
        assert cpu_share < 0.25, f"worker spins while {what}: {cpu_share:.0%} CPU"
        # at the start of the outage the in-flight batches fill up to their bound (up to
        # max_inflight_batches batches of 600 KB tensors, plus fetched records), then
        # backpressure holds: bounded at once, flat afterwards
        assert growth < 64 * 2**20, f"worker grew {growth / 2**20:.1f} MiB while {what}"
        later = samples[len(samples) // 2:]
        assert max(later) - min(later) < 4 * 2**20, \
            f"worker memory still moving in the second half of the outage: {samples}"

        t_up = time.monotonic()
        bring_up()
        ready_s = time.monotonic() - t_up
        seen = tail.wait(lambda s: s.ids >= ids, 120, f"every message after {what}", w)
        recovered_s = time.monotonic() - t_up - ready_s
        final = wait_committed_to_end(kafka_bootstrap, group, topics[0], parts)
        time.sleep(0.5)
        seen = tail.snapshot()
        log = w.log()
        assert w.terminate() == 0, log[-3000:]
    print(f"back after {ready_s:.1f}s, all results {recovered_s:.1f}s later; "
          f"committed {final}")
    assert not seen.dead, {k: [d.reason for d in v] for k, v in seen.dead.items()}
    assert set(seen.results) == ids, f"lost: {sorted(ids - set(seen.results))[:10]}"
    dupes = {k: len(v) for k, v in seen.results.items() if len(v) != 1}
    assert not dupes, f"published twice: {list(dupes.items())[:10]}"
    assert sum(final.values()) == total
    assert "unreachable, holding the batch" in log and "reachable again" in log
    want = local_predictions({f"p{i}": jpeg for i, jpeg in enumerate(photos)})
    for i, (key, _) in enumerate(items):
        (res,) = seen.results[key]
        np.testing.assert_allclose(res.outputs["logits"], want[f"p{i % len(photos)}"], rtol=1e-5,
                                   atol=1e-5, err_msg=key)
    return log


def test_server_stopped_mid_stream_nothing_lost_or_committed_meanwhile(
        kafka_bootstrap, restartable_triton_server, tmp_path):
    server = restartable_triton_server
    outage_mid_stream(kafka_bootstrap, server, tmp_path, server.stop, server.start,
                      "the server was down")


def test_model_unloaded_mid_stream_nothing_lost_or_committed_meanwhile(
        kafka_bootstrap, restartable_triton_server, tmp_path):
    """Triton's model control API mid-stream: ``POST v2/repository/models/<m>/unload`` (Triton
    finishes the requests in flight, then answers NOT_FOUND "... has no available versions" to
    new ones, which the worker must take for a redeploy, not for bad samples), later ``load``:
    nothing lost, nothing committed meanwhile, every result after the reload right."""
    server = restartable_triton_server
    log = outage_mid_stream(kafka_bootstrap, server, tmp_path,
                            lambda: server.unload(CLASSIFIER.name),
                            lambda: server.load(CLASSIFIER.name), "the model was unloaded")
    assert "no available versions" in log
    assert server.running  # the server itself was never stopped




def test_retry_budget_then_model_unavailable_dead_letters(
        kafka_bootstrap, restartable_triton_server, tmp_path):
    server = restartable_triton_server
    parts, budget_s = 2, 2.0
    topics = setup_topics(kafka_bootstrap, names("bud"), parts)
    group = names("g")
    photos = small_jpegs(4, seed=11)
    down = [(f"down-{i:02d}", photos[i % 4]) for i in range(20)]
    config = write_config(tmp_path / "worker.toml", topics,
                          model_table(server, max_retry_s=budget_s,
                                      labels_file=labels_path(tmp_path)))
    with WorkerProcess(kafka_bootstrap, worker_args(config, group), tmp_path / "w.log") as w, \
            Tail(kafka_bootstrap, topics[1], topics[2]) as tail:
        w.wait_for_log("assigned", timeout=120)
        server.stop()
        t0 = time.monotonic()
        asyncio.run(produce(kafka_bootstrap, topics[0], down, partitions=parts))
        seen = tail.wait(lambda s: len(s.dead) >= len(down), 60, "model_unavailable dead letters", w)
        took = time.monotonic() - t0
        assert took >= budget_s, f"dead-lettered after {took:.1f}s, before the {budget_s}s budget"
        after_dead = wait_committed_to_end(kafka_bootstrap, group, topics[0], parts)
        assert sum(after_dead.values()) == len(down)

        # the worker is not stuck: with the server back, new messages get results
        server.start()
        back = [(f"back-{i:02d}", photos[i % 4]) for i in range(6)]
        asyncio.run(produce(kafka_bootstrap, topics[0], back, partitions=parts))
        seen = tail.wait(lambda s: {k for k, _ in back} <= set(s.results), 60, "results after restart", w)
        wait_committed_to_end(kafka_bootstrap, group, topics[0], parts)
        assert w.terminate() == 0, w.log()[-3000:]
    print(f"\n{len(down)} dead letters {took:.1f}s after producing (budget {budget_s}s)")
    assert set(seen.dead) == {k for k, _ in down} and not set(seen.results) & set(seen.dead)
    for key, (dl,) in ((k, v) for k, v in seen.dead.items()):
        assert dl.reason == "model_unavailable", (key, dl.reason)
        assert server.grpc_url in dl.error and CLASSIFIER.name in dl.error, dl.error
        assert "retry budget" in dl.error, dl.error
        assert dl.original is not None and dl.original in photos
