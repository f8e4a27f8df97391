"""The parts `dali-worker demo` starts, in order, and stops in reverse: a development broker
(worker/devkafka.py), the topics, optionally a local Triton (worker/devtriton.py), the worker as
a child process (`python -m worker run`, exactly what a user would run, watched through its
/readyz), then the images sent and the results read back (demo_report.py prints them)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from worker.commands.demo_report import Answer, Summary, line, summarise

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT_PIPELINE = "image_stats"
MODEL_PIPELINE = "classify"
MiB = 1024 * 1024
# a cold start on a busy 2-core machine: DALI's import, the pipeline, its isolation child
READY_TIMEOUT_S = float(os.environ.get("DSW_DEMO_READY_TIMEOUT", "600"))
# worker log lines worth showing while it starts (all of them go to its log file): its own
# errors and pipeline loads, not the Kafka client's transient complaints
_LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<msg>.*)$")


class DemoError(RuntimeError):
    """Something the demo needs could not start; the message says what and where its log is."""


class DemoSession:
    def __init__(self, args, say) -> None:
        self.args = args
        self.say = say
        self.tmp = Path(tempfile.mkdtemp(prefix="dsw-demo-"))
        self.broker = None
        self.triton = None
        self.worker: subprocess.Popen | None = None
        self.worker_log = self.tmp / "worker.log"
        self.device_used = "cpu"
        self._log_thread: threading.Thread | None = None

    # ---- what to run, on what ----
    def files(self) -> list[tuple[str, Path]]:
        from worker.commands.produce import IMAGE_EXTENSIONS, UsageError, collect_files

        paths = self.args.paths or [str(SAMPLES / "images")]
        try:
            files = collect_files(paths, IMAGE_EXTENSIONS)
        except UsageError as exc:
            raise DemoError(str(exc)) from None
        if not files:
            raise DemoError("no images to send")
        return files

    def device(self) -> str:
        wanted = self.args.device
        if wanted != "auto":
            return "cpu" if wanted == "cpu" else wanted
        from worker.devices import visible_gpus

        gpus = visible_gpus()
        return "0" if gpus else "cpu"  # one GPU is plenty for a demo

    def pipeline(self) -> tuple[str, Path]:
        name = self.args.pipeline or (MODEL_PIPELINE if self.args.model_repository else DEFAULT_PIPELINE)
        if self.args.repository:
            repo = Path(self.args.repository)
        elif (SAMPLES / "pipelines" / name).is_dir():
            repo = SAMPLES / "pipelines"
        else:
            repo = Path(os.environ.get("DSW_REPOSITORY") or "pipelines")
        if not (repo / name).is_dir():
            raise DemoError(f"no pipeline {name!r} in {repo.resolve()}: name a repository that has it "
                            "(--repository; the project's pipelines/ has classify, classify_reduce, ...)")
        return name, repo.resolve()

    # ---- the parts ----
    def start_kafka(self) -> str:
        if self.args.bootstrap_servers:
            self.say(f"using Kafka at {self.args.bootstrap_servers}")
            return self.args.bootstrap_servers
        from worker.devkafka import BrokerError, KafkaBroker, find_java, java_version

        try:
            java = find_java()
            self.say(f"starting a development Kafka broker (Java {java_version(java) or '?'}: {java})")
            self.broker = KafkaBroker(progress=lambda text: self.say(text.strip()))
            self.broker.start()
        except BrokerError as exc:
            raise DemoError(f"the development broker did not start: {exc}") from None
        self.say(f"Kafka is up at {self.broker.bootstrap_servers} (pid {self.broker._proc.pid})")
        return self.broker.bootstrap_servers

    def topics(self, bootstrap: str) -> dict[str, str]:
        from worker.devkafka import create_topics

        suffix = "" if self.broker else f".{uuid.uuid4().hex[:8]}"  # a shared broker: our own topics
        names = {k: f"demo{suffix}.{k}" for k in ("images", "results", "dead-letters")}
        asyncio.run(create_topics(bootstrap, list(names.values()), partitions=1))
        self.say(f"topics {', '.join(names.values())}")
        return names

    def start_triton(self) -> dict:
        from worker.devtriton import TritonError, start_triton

        try:
            self.triton, model = start_triton(Path(self.args.model_repository), self.args.model,
                                              workdir=self.tmp, say=self.say)
        except TritonError as exc:
            raise DemoError(str(exc)) from None
        route = {"url": self.triton.grpc_url, "name": model.name, "top_k": self.args.top_k}
        if model.scores_output:  # the output config.pbtxt gives labels for holds the scores
            route["classify_output"] = model.scores_output
        if model.labels_file:
            route["labels_file"] = str(model.labels_file)
        return route

    def start_worker(self, bootstrap: str, topics: dict, device: str, pipeline: str, repo: Path,
                     model: dict | None) -> int:
        from worker.devkafka import free_port
        from worker.procutil import die_with_parent

        self.device_used = device
        port = free_port()
        cmd = [sys.executable, "-m", "worker", "run", "--bootstrap-servers", bootstrap,
               "--dead-letter-topic", topics["dead-letters"], "--group-id", f"demo-{uuid.uuid4().hex[:8]}",
               "--device", device, "--repository", str(repo), "--no-supervise",
               "--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
        if model:  # forwarding is a route setting: a TOML file, as a user would write it
            config = self.tmp / "demo.toml"
            config.write_text(_route_toml(topics, pipeline, model))
            cmd += ["--config", str(config)]
        else:
            cmd += ["--input", topics["images"], "--output", topics["results"], "--pipeline", pipeline]
        where = "CPU" if device == "cpu" else f"GPU {device}"
        self.say(f"starting the worker on {where}: pipeline {pipeline} from {repo}"
                 + (f", forwarding to model {model['name']}" if model else ""))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # its own session: Ctrl-C reaches the demo, which stops the worker with SIGTERM (a drain)
        self.worker = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                       preexec_fn=die_with_parent)
        self.say(f"worker pid {self.worker.pid}, log {self.worker_log}")
        self._log_thread = threading.Thread(target=self._pump_log, daemon=True, name="demo-worker-log")
        self._log_thread.start()
        return port

    def _pump_log(self) -> None:
        with open(self.worker_log, "ab") as log:
            for raw in self.worker.stdout:
                log.write(raw)
                log.flush()
                text = raw.decode(errors="replace").rstrip()
                m = _LOG_LINE.match(text)
                if m and m["name"].startswith("worker") and (
                        m["level"] in ("ERROR", "CRITICAL") or "loaded pipeline" in m["msg"]):
                    self.say(f"worker: {m['msg'][:300]}")
                elif text.startswith("dali-worker run: "):  # a configuration error, one line
                    self.say(f"worker: {text[len('dali-worker run: '):][:500]}")

    def wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        said = None
        while True:
            if self.worker.poll() is not None:
                hint = "" if self.device_used == "cpu" else " (on a GPU; --device cpu runs without one)"
                raise DemoError(f"the worker exited with {self.worker.returncode} before it was ready"
                                f"{hint}; its log ({self.worker_log}) ends:\n{self.worker_log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        self.say("the worker is ready")
                        return
            except urllib.error.HTTPError as exc:  # 503: what is still missing, one per line
                body = exc.read().decode(errors="replace").splitlines()
                missing = "; ".join(t.strip(" -") for t in body if t.strip(" -") and t.strip() != "not ready:")
                if missing and missing != said:
                    said = missing
                    self.say(f"waiting for the worker: {missing[:300]}")
            except (urllib.error.URLError, OSError):
                pass  # not serving yet: Python and DALI are still importing
            if time.monotonic() > deadline:
                raise DemoError(f"the worker was not ready after {READY_TIMEOUT_S:.0f} s; its log "
                                f"({self.worker_log}) ends:\n{self.worker_log_tail()}")
            time.sleep(0.5)

    def worker_log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.worker_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- the run ----
    def run(self) -> int:
        files = self.files()
        device = self.device()
        pipeline, repo = self.pipeline()
        self.say(f"{len(files)} image(s) from {', '.join(self.args.paths) or 'the package samples'}")
        bootstrap = self.start_kafka()
        topics = self.topics(bootstrap)
        model = self.start_triton() if self.args.model_repository else None
        port = self.start_worker(bootstrap, topics, device, pipeline, repo, model)
        self.wait_ready(port)
        summary = asyncio.run(self.stream(bootstrap, topics, files))
        for text in summary.lines():
            print(text, flush=True)
        return 0 if summary.ok else 1

    async def stream(self, bootstrap: str, topics: dict, files: list[tuple[str, Path]]) -> Summary:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        from worker.commands.produce import content_type
        from worker.commands.tail import describe

        consumer = AIOKafkaConsumer(topics["results"], topics["dead-letters"], bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    max_partition_fetch_bytes=16 * MiB, fetch_max_bytes=16 * MiB,
                                    client_id="dali-worker-demo")
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                    max_request_size=16 * MiB, client_id="dali-worker-demo")
        await consumer.start()
        await producer.start()
        summary = Summary(expected=len(files))
        width = min(40, max(len(k) for k, _ in files))
        sent: dict[str, float] = {}
        parts: dict[str, set] = {}
        start = time.monotonic()
        try:
            for key, path in files:
                sent[key] = time.monotonic()
                await producer.send(topics["images"], path.read_bytes(), key=key.encode(),
                                    headers=[("content-type", content_type(path).encode())])
            await producer.flush()
            self.say(f"sent {len(files)} image(s) to {topics['images']}; results as they arrive:")
            last = time.monotonic()
            while len(summary.answers) < len(files):
                if self.worker.poll() is not None:
                    self.say(f"the worker exited with {self.worker.returncode}; its log ends:\n"
                             f"{self.worker_log_tail()}")
                    break
                if time.monotonic() - last > self.args.timeout:
                    self.say(f"no result for {self.args.timeout:.0f} s: giving up")
                    break
                batches = await consumer.getmany(timeout_ms=500)
                for record in sorted((r for rs in batches.values() for r in rs), key=lambda r: r.timestamp):
                    d = describe(record, self.args.top_k)
                    key = d.get("id")
                    if key not in sent or key in summary.answers:
                        continue  # another run's, or a redelivery
                    if d.get("part"):  # a clip cut into parts: answered when all are in
                        seen = parts.setdefault(key, set())
                        seen.add(d["part"]["index"])
                        if len(seen) < d["part"]["count"]:
                            continue
                    last = time.monotonic()
                    answer = Answer(key, d["kind"], (last - sent[key]) * 1000,
                                    (d.get("timings") or {}).get("total_ms"), summarise(d))
                    summary.answers[key] = answer
                    print(line(answer, width), flush=True)
        finally:
            summary.elapsed_s = time.monotonic() - start
            await producer.stop()
            await consumer.stop()
        return summary

    def close(self, keep_logs: bool = False) -> None:
        """Stop what was started, the worker first (SIGTERM: it drains and commits); with
        ``keep_logs`` (something failed) the logs stay in the session's folder, said where."""
        if self.worker is not None and self.worker.poll() is None:
            self.say("stopping the worker")
            with contextlib.suppress(ProcessLookupError):
                self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(timeout=10)
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
        if self.triton is not None:
            self.say("stopping Triton")
            self.triton.stop()
        if self.broker is not None:
            self.say("stopping Kafka")
            if keep_logs and self.broker.data_dir is not None:
                with contextlib.suppress(OSError):
                    shutil.copy2(self.broker.data_dir / "broker.log", self.tmp / "broker.log")
            self.broker.stop()
        if keep_logs and any(self.tmp.glob("*.log")):
            self.say(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _route_toml(topics: dict, pipeline: str, model: dict) -> str:
    def value(v):
        return str(v) if isinstance(v, int) else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[[routes]]", f"input = {value(topics['images'])}", f"pipeline = {value(pipeline)}",
             f"output = {value(topics['results'])}", "[routes.model]"]
    lines += [f"{k} = {value(v)}" for k, v in model.items()]
    return "\n".join(lines) + "\n"
