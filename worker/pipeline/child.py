"""The isolated runner's child process: one DALI pipeline, fed and drained through shared memory.

``python -m worker.pipeline.child CONTROL_FD PARENT_PID``, started by ``isolation.py`` (a fresh
interpreter, never a fork of a process where DALI or CUDA already run). The pipeline is built
from the serialized bytes the parent sends, so the user's ``dali.py`` is not imported again.
The child dies with its parent (``PR_SET_PDEATHSIG``), ignores SIGINT/SIGTERM (its parent ends
it, after draining), and its stdout/stderr go to a file the parent reads back when a run fails
or the child crashes. ``DSW_FAULT_INJECT_CRASH`` works here as in the worker (tests).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np

from . import console, ipc, outputs
from .errors import PipelineRunError
from .runner import PipelineRunner, dali_message, failure
from worker.repository.load import LoadedModel  # rebuilt from the parent's description


def _stderr_size() -> int:
    try:
        return os.fstat(2).st_size
    except OSError:
        return 0


def _stderr_since(mark: int, limit: int = 65536) -> str:
    try:
        size = os.fstat(2).st_size
        start = max(mark, size - limit)
        return os.pread(2, size - start, start).decode("utf-8", "replace") if size > start else ""
    except OSError:
        return ""


class Writer:
    """Per request: writes each successful run's outputs into the region the parent lent (or,
    when it has no room, a region of its own whose fd goes back with the reply)."""

    def __init__(self, region: ipc.Region | None, key, samples: int):
        self.packer = ipc.Packer(region, key)
        self.samples = samples                # in the request: the size of an overflow region
        self.overflow: list[ipc.Region] = []
        self.blocks: list[np.ndarray] = []   # small outputs, sent in the reply (_inline)
        self.per_sample = 0

    def collect(self, outs, names, casts) -> list[dict]:
        cols, total = [], 0
        for name, tl in zip(names, outs):
            if hasattr(tl, "as_cpu") and type(tl).__name__.endswith("GPU"):
                tl = tl.as_cpu()
            dtype = casts.get(name)
            if tl.is_dense_tensor():
                arr = outputs._cast(np.asarray(tl.as_tensor()), dtype)   # a view of DALI's buffer
                cols.append((True, arr))
                total += ipc.aligned(arr.nbytes)
            else:
                per = [outputs._cast(np.asarray(tl[i]), dtype) for i in range(len(tl))]
                cols.append((False, per))
                total += sum(ipc.aligned(a.nbytes) for a in per)
        n = len(cols[0][1]) if cols else 0
        if n:
            self.per_sample = max(self.per_sample, -(-total // n))
        if total <= ipc.INLINE_BYTES:
            percol = [self._inline(c, dense) for dense, c in cols]
        else:
            if self.packer.room() < total:    # room for the rest of the request's runs too
                self.packer = self._overflow(max(total, self.per_sample * self.samples))
            percol = [self.packer.put_block(c) if dense else [self.packer.put(a) for a in c]
                      for dense, c in cols]
        return [{name: col[i] for name, col in zip(names, percol)} for i in range(n)]

    def _inline(self, col, dense: bool) -> list:
        """Small outputs travel in the reply: one array per output and run, and each sample a
        descriptor of its row (pickling 64 arrays of 3 floats cost more than the run itself);
        ragged ones one array per sample."""
        if not dense:
            if len({(a.shape, a.dtype) for a in col}) != 1:
                return [a.copy() for a in col]
            col = np.stack(col)
        key = ("b", len(self.blocks))
        self.blocks.append(np.array(col))  # a copy: DALI's buffer is reused by the next run
        return [("b", key, i) for i in range(len(col))]

    def _overflow(self, total: int) -> ipc.Packer:
        self.packer.release()
        region = ipc.Region(ipc.aligned(total) + ipc.ALIGN * 8)
        self.overflow.append(region)
        return ipc.Packer(region, ("o", len(self.overflow) - 1))


class ChildRunner(PipelineRunner):
    """The in-process runner, plus: what DALI printed during a failed run goes with its error,
    outputs go to shared memory, and errors name the parent's sample indices."""

    writer: Writer
    indices: list[int]

    def run(self, samples):
        """The parent expanded unbatched requests and checks dtypes: run the samples as given."""
        return self._run_samples(samples)

    def _prepare(self, sample):
        """The parent prepared every sample (``isolation.py`` packs what ``prepare`` returned):
        arrays of the inputs' dtypes and shapes, checked once."""
        return sample

    def _run_batch(self, batch):
        self._mark = _stderr_size()
        return super()._run_batch(batch)

    def _run_error(self, error):
        err = PipelineRunError(str(error))
        err.console = console.clean(_stderr_since(self._mark))
        return err

    def _collect(self, outs):
        return self.writer.collect(outs, self.model.output_names, self.casts)

    def _failure(self, index, error):
        result = failure(self.model, self.indices[index], dali_message(error),
                         getattr(error, "console", None))
        result.index = index
        return result


def serve(runner: ChildRunner, msg: dict, regions: dict) -> tuple[dict, list[ipc.Region]]:
    tops = {("p", rid): np.frombuffer(r.mm, dtype=np.uint8) for rid, r in regions.items()}
    samples = [{name: ipc.resolve(d, tops) for name, d in s.items()} for s in msg["samples"]]
    from worker.pipeline.faults import fault_injection

    fault_injection(samples)
    out = msg.get("out")
    runner.writer = Writer(regions.get(out), ("p", out), len(samples))
    runner.indices = msg["indices"]
    before = runner.failures
    t0 = time.perf_counter()
    results = runner.run(samples)
    run_s = time.perf_counter() - t0
    writer = runner.writer
    writer.packer.release()
    rows = [(r.index, r.ok, r.outputs, r.error, r.input_name, r.reason) for r in results]
    reply = {"op": "result", "id": msg["id"], "results": rows, "failures": runner.failures - before, "run_s": run_s,
             "per_sample": writer.per_sample, "overflow": [r.size for r in writer.overflow],
             "blocks": writer.blocks}
    return reply, writer.overflow


def main(argv: list[str]) -> int:
    from worker.procutil import die_with_parent

    ctl_fd, parent = int(argv[0]), int(argv[1])
    die_with_parent()
    if os.getppid() != parent:               # the parent died before prctl took effect
        return 3
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    chan = ipc.Channel(socket.socket(fileno=ctl_fd))
    try:
        spec, _ = chan.recv()
    except ipc.ChannelClosed:
        return 0
    try:
        runner = ChildRunner(LoadedModel(**spec["model"]), feed=spec["feed"],
                             output_cast=spec["output_cast"])
    except Exception as e:
        chan.send({"op": "fatal", "error": f"{type(e).__name__}: {e}",
                   "console": console.clean(_stderr_since(0))})
        return 2
    chan.send({"op": "ready", "pid": os.getpid()})
    regions: dict[int, ipc.Region] = {}
    while True:
        try:
            msg, fds = chan.recv()
        except ipc.ChannelClosed:
            return 0
        if msg["op"] == "exit":
            return 0
        for (rid, size), fd in zip(msg.get("new", ()), fds):
            regions[rid] = ipc.Region(size, fd=fd)
            regions[rid].close_fd()
        for rid in msg.get("drop", ()):
            old = regions.pop(rid, None)
            if old is not None:
                old.close()
        try:
            reply, overflow = serve(runner, msg, regions)
        except Exception:                    # a bug here, not a bad sample: say so, go on
            reply, overflow = {"op": "error", "id": msg.get("id"),
                               "error": traceback.format_exc(limit=8)}, []
        chan.send(reply, [r.fd for r in overflow])
        for r in overflow:
            r.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
