"""Run a model's DALI pipeline in a child process, so that a crash inside DALI costs one sample,
never the worker.

Why: DALI 2.4's CPU image decoder kills its process (SIGSEGV, in ``ImageDecoder<CPUBackend>``'s
thread pool) on mixes of corrupt JPEGs that pass every cheap screen (valid SOI..EOI, damage
inside). Reproduced with ``bench/isolation.py --reproduce`` (600 such files among 100 good,
batches of 64, in-process): 20 crashes in 4 runs of 11 batches, every one while a batch of 64
ran in DALI (an earlier run saw one in a one-by-one re-run after a failed batch). In one process
nothing restarts the worker, and the consumer group stalls for the session timeout.

:class:`IsolatedRunner` has the interface of :class:`~worker.pipeline.runner.PipelineRunner`
(``run(samples) -> list[SampleResult]``, ``close()``, ``batch_size``, ``failures``) and runs a
``PipelineRunner`` in a child (``child.py``, started by ``childproc.py``), fed through shared
memory (``ipc.py``). When the child dies during a batch (EOF on its socket: a signal or an exit)
or hangs (no answer within ``timeout_s``: killed), a fresh child (a warm spare, after the first
crash) runs each sample of that batch alone; a sample whose solo run kills ``crashes_to_fail``
(2) fresh children in a row fails, naming the signal and what DALI printed; every other sample
gets its normal result. ``max_consecutive_crashes`` (8) crashes without one answer in between
mean the child cannot work at all (broken pipeline, GPU, or machine): ``run`` raises
:class:`IsolationError` instead of failing sample after sample.
"""
from __future__ import annotations

import logging
import os
import time
import weakref

from . import console, ipc, outputs, suspect
from .childproc import Child, Died, kill_all
from .errors import IsolationError, PipelineError, SampleError
from .feeds import FEEDS
from .runner import SampleResult, failure, prepare, run_checked

log = logging.getLogger(__name__)

TIMEOUT_S = float(os.environ.get("DSW_ISOLATION_TIMEOUT_S", "120"))     # one request
POOL_KEEP = 4                   # free output regions kept mapped for reuse


class IsolatedRunner:
    """Feeds samples to one pipeline of ``model`` (a ``LoadedModel``) in a child process."""

    def __init__(self, model, feed: str = "ragged", output_cast=None, *, timeout_s: float | None = None,
                 crashes_to_fail: int = 2, max_consecutive_crashes: int = 8, spare: bool = True):
        if feed not in FEEDS:
            raise ValueError(f"unknown feed {feed!r}: use one of {', '.join(FEEDS)}")
        self.model = model
        self.feed = feed
        self.batch_size = getattr(model, "dali_batch_size", model.max_batch_size)
        self.casts = outputs.parse_cast(output_cast, model.output_names)   # unknown names: fail here
        self._dtypes_checked = False
        self.failures = 0                    # batches DALI refused or crashed on (a metric)
        self.crashes = 0                     # children lost during a request
        self.restarts = 0
        self.request_seconds = 0.0           # answered requests, parent's wall time ...
        self.child_run_seconds = 0.0         # ... of which the child's runner ran: the rest is IPC
        self.timeout_s = timeout_s or TIMEOUT_S
        self.crashes_to_fail = max(1, crashes_to_fail)
        self.max_consecutive_crashes = max(self.crashes_to_fail + 1, max_consecutive_crashes)
        self.use_spare = spare
        self._decoder = bool(suspect.image_inputs(model))
        self._spec = {"feed": feed, "output_cast": output_cast, "model": dict(
            name=model.name, version=model.version, inputs=list(model.inputs), outputs=list(model.outputs),
            max_batch_size=model.max_batch_size, device=model.device, num_threads=model.num_threads,
            serialized=model.serialized, info=model.info, source=model.source,
            batched=getattr(model, "batched", True), split=getattr(model, "split", frozenset()),
            config=None)}  # the runner needs no config.pbtxt (and tritonclient's message does not pickle)
        if getattr(model, "_spare", None) is not None:
            model._spare = None              # the parent never runs DALI: free the load-time pipeline
        self._consecutive = 0
        self._seq = 0
        self._next_region = 0
        self._input: ipc.Region | None = None
        self._pool: list[ipc.Region] = []
        self._dropped: list[int] = []
        self._per_sample = 0                 # output bytes per sample, as measured
        self._children: list[Child] = []     # current and spare, for the finalizer
        self._finalizer = weakref.finalize(self, kill_all, self._children)
        self._spare: Child | None = None
        self._closed = False
        self._child = self._new_child()
        try:
            self._child.wait_ready()
        except Died as death:
            self.close()
            raise IsolationError(f"pipeline {model.name!r}: the isolated DALI process {death.how} "
                                 f"while starting (console: {console.clean(death.console) or 'nothing'})") from None

    # -- public -------------------------------------------------------------------------
    def run(self, samples: list[dict]) -> list[SampleResult]:
        """One result per sample, in order. Never raises for a bad sample; raises
        IsolationError when the child cannot run anything."""
        return run_checked(self, samples, self._run_samples)

    def _run_samples(self, samples: list[dict]) -> list[SampleResult]:
        if self._closed:
            raise PipelineError("the isolated runner is closed")
        results: list[SampleResult | None] = [None] * len(samples)
        arrays: list[dict | None] = [None] * len(samples)
        for i, sample in enumerate(samples):
            try:
                arrays[i] = prepare(self.model, sample)
            except SampleError as e:
                results[i] = SampleResult(i, False, error=f"sample {i}: {e}", input_name=e.input_name)
        ready = [i for i in range(len(samples)) if results[i] is None]
        for start in range(0, len(ready), self.batch_size):
            chunk = ready[start:start + self.batch_size]
            try:
                got = self._request(arrays, chunk)
            except Died as death:
                self._crashed(death, chunk)
                got = {}
                for i in chunk:
                    got.update(self._alone(arrays, i) if len(chunk) > 1 else {i: self._retry(arrays, i, death)})
            for i, r in got.items():
                results[i] = r
        return results

    @property
    def pid(self) -> int | None:
        """The current child's pid (tests, metrics)."""
        return self._child.pid if self._child is not None else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for c in list(self._children):
            c.stop()
        self._children.clear()
        self._child = self._spare = None
        for r in self._pool + ([self._input] if self._input else []):
            r.close()
        self._pool.clear()
        self._input = None
        self._finalizer.detach()

    # -- crashes ------------------------------------------------------------------------
    def _alone(self, arrays, i: int) -> dict:
        try:
            return self._request(arrays, [i])
        except Died as death:
            self._crashed(death, [i])
            return {i: self._retry(arrays, i, death)}

    def _retry(self, arrays, i: int, death: Died) -> SampleResult:
        """Sample ``i`` alone killed a child once: run it in fresh ones until it passes or has
        killed ``crashes_to_fail`` of them."""
        deaths = [death]
        while len(deaths) < self.crashes_to_fail:
            try:
                return self._request(arrays, [i])[i]
            except Died as again:
                self._crashed(again, [i])
                deaths.append(again)
        last = deaths[-1]
        what = (f"hung DALI{self._what()} when {self._verb()} alone ({last.how})" if last.hung else
                f"crashed DALI{self._what()} ({last.signame or last.how}) when {self._verb()} alone")
        times = f", {len(deaths)} times, each in a fresh isolated process" if len(deaths) > 1 else ""
        return failure(self.model, i, what + times, console.clean(last.console) or None,
                       reason="decode_error")

    def _what(self) -> str:
        return "'s decoder" if self._decoder else ""

    def _verb(self) -> str:
        return "decoded" if self._decoder else "run"

    def _crashed(self, death: Died, chunk) -> None:
        self.crashes += 1
        self.failures += 1
        self._consecutive += 1
        text = console.clean(death.console)
        log.warning("the isolated DALI process of pipeline %r %s while it ran %d sample(s)%s; %s",
                    self.model.name, death.how, len(chunk), f" (console: {text})" if text else "",
                    "they run alone in a fresh process" if len(chunk) > 1 else "retrying in a fresh process")
        self._replace_child()
        if self._consecutive >= self.max_consecutive_crashes:
            raise IsolationError(
                f"pipeline {self.model.name!r}: the isolated DALI process {death.how} on each of the "
                f"last {self._consecutive} requests, with no answer in between: the pipeline, the "
                f"device or the machine is broken, not the samples (last console: {text or 'nothing'})")

    def _replace_child(self) -> None:
        old, self._child = self._child, None
        if old is not None:
            old.stop(timeout=1.0)
            if old in self._children:
                self._children.remove(old)

    def _ensure_child(self) -> Child:
        if self._child is not None and self._child.alive():
            return self._child
        if self._child is not None:          # died between requests (no one to blame)
            self._replace_child()
        self.restarts += 1
        child, self._spare = self._spare, None
        if child is None or not child.alive():
            child = self._new_child()
        try:
            child.wait_ready()
        except Died as death:                # died while starting: try once more, then give up
            self._children.remove(child)
            child = self._new_child()
            try:
                child.wait_ready()
            except Died as again:
                raise IsolationError(f"pipeline {self.model.name!r}: the isolated DALI process "
                                     f"{again.how} while starting, twice (console: "
                                     f"{console.clean(again.console) or console.clean(death.console) or 'nothing'})") from None
        self._child = child
        if self.use_spare:                   # after a crash, keep one warm: restarts cost ~1.5 s
            self._spare = self._new_child()
        return child

    def _new_child(self) -> Child:
        child = Child(self._spec)
        self._children.append(child)
        return child

    # -- one request --------------------------------------------------------------------
    def _request(self, arrays, idx: list[int]) -> dict[int, SampleResult]:
        child = self._ensure_child()
        t0 = time.perf_counter()
        new, fds = [], []
        samples = self._pack_inputs([arrays[i] for i in idx], new, fds, child)
        out = self._lend_output(len(idx), new, fds, child)
        drop = [rid for rid in self._dropped if rid in child.known]   # only this child may know them
        child.known.difference_update(drop)
        self._dropped.clear()
        self._seq += 1
        msg = {"op": "run", "id": self._seq, "samples": samples, "indices": idx,
               "out": out.rid if out is not None else None, "new": new, "drop": drop}
        reply, got_fds = child.request(msg, fds, self.timeout_s)
        child.known.update(rid for rid, _ in new)
        if reply.get("op") != "result" or reply.get("id") != self._seq:
            for fd in got_fds:
                os.close(fd)
            raise IsolationError(f"pipeline {self.model.name!r}: the isolated DALI process answered "
                                 f"{reply.get('op')!r}: {reply.get('error', '')[-2000:]}")
        self._consecutive = 0
        self.failures += reply["failures"]
        self._per_sample = max(self._per_sample, reply["per_sample"])
        tops = {("b", k): block for k, block in enumerate(reply.get("blocks", ()))}
        for k, (size, fd) in enumerate(zip(reply["overflow"], got_fds)):
            region = ipc.Region(size, fd=fd)
            region.close_fd()
            tops[("o", k)] = region.lend()
        if out is not None and any(isinstance(d, tuple) and d[1] == ("p", out.rid)
                                   for row in reply["results"] for d in (row[2] or {}).values()):
            tops[("p", out.rid)] = out.lend()
        results = {}
        for local, ok, outs, error, input_name, reason in reply["results"]:
            i = idx[local]
            if ok:
                results[i] = SampleResult(i, True, outputs={n: ipc.resolve(d, tops) for n, d in outs.items()})
            else:
                results[i] = SampleResult(i, False, error=error, input_name=input_name, reason=reason)
        self.request_seconds += time.perf_counter() - t0
        self.child_run_seconds += reply["run_s"]
        return results

    def _region(self, size: int) -> ipc.Region:
        region = ipc.Region(size)
        region.rid = self._next_region
        self._next_region += 1
        return region

    def _share(self, region, child: Child, new: list, fds: list) -> None:
        if region.rid not in child.known:
            new.append((region.rid, region.size))
            fds.append(region.fd)

    def _pack_inputs(self, batch: list[dict], new, fds, child: Child) -> list[dict]:
        total = sum(ipc.aligned(a.nbytes) for s in batch for a in s.values())
        if total <= ipc.INLINE_BYTES:
            return batch
        if self._input is None or self._input.size < total:
            if self._input is not None:
                self._dropped.append(self._input.rid)
                self._input.close()
            self._input = self._region(max(total + total // 2, 8 << 20))
        self._share(self._input, child, new, fds)
        packer = ipc.Packer(self._input, ("p", self._input.rid))
        packed = [{name: packer.put(a) for name, a in s.items()} for s in batch]
        packer.release()
        return packed

    def _lend_output(self, n: int, new, fds, child: Child):
        """A free output region big enough for ``n`` samples (sized from what was measured), or
        None: small outputs travel inline, and the first batch tells the size."""
        need = self._per_sample * n + ipc.ALIGN * 4 * max(1, len(self.model.output_names))
        if self._per_sample == 0 or self._per_sample * n <= ipc.INLINE_BYTES:
            return None
        free = [r for r in self._pool if r.free() and r.size >= need]
        if free:
            region = min(free, key=lambda r: r.size)
        else:
            region = self._region(need + need // 8)
            self._pool.append(region)
            idle = [r for r in self._pool if r is not region and r.free()]
            while len(self._pool) > POOL_KEEP and idle:    # let go of idle regions past the cap
                old = idle.pop(0)
                self._pool.remove(old)
                self._dropped.append(old.rid)
                old.close()
        self._share(region, child, new, fds)
        return region
