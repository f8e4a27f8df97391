"""Run a loaded model's DALI pipeline on lists of samples, batch after batch, in-process.

Synchronous and single-threaded by design: one runner per worker thread. ``run`` splits a list
longer than the model's max batch size, feeds every named external_source (ragged or padded),
copies outputs to the host, and when DALI fails a batch it isolates the failing samples
(``bisect``), so one corrupt sample costs only itself. Pipelines are built with DALI's dynamic
executor, which keeps them usable after an operator error (``repository/load.py``).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from . import bisect, feeds, outputs, suspect, unbatched
from .errors import PipelineRunError, SampleError

log = logging.getLogger(__name__)


@dataclass
class SampleResult:
    index: int                                   # position in the list given to run()
    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    input_name: str | None = None                # the input blamed, when known
    reason: str | None = None                    # dead-letter reason (None: decode_error)


# nvImageCodec status codes as DALI's decoders print them ("nvImageCodec failure: '#3'")
_NVIMGCODEC = re.compile(r"nvImageCodec failure: '#(\d+)'")
# (nvimgcodecStatus_t in nvidia/nvimgcodec/include/nvimgcodec.h)
_NVIMGCODEC_STATUS = {"2": "invalid parameter",
                      "3": "bad or truncated codestream", "4": "unsupported or unrecognised format",
                      "5": "allocation failed", "6": "execution failed", "8": "internal error"}


def dali_message(error: BaseException) -> str:
    """DALI's error, short: the operator and what it encountered, without the pipeline
    definition traceback and the 'no longer valid' trailer."""
    text = str(error)
    op = re.search(r"Error in (\w+ operator `[^`]+`)", text)
    what = text.split("encountered:", 1)[1] if "encountered:" in text else text
    lines = [ln.strip() for ln in what.splitlines()
             if ln.strip() and "no longer valid" not in ln and not ln.startswith("Critical error")]
    msg = " ".join(lines) or type(error).__name__
    msg = _NVIMGCODEC.sub(lambda m: f"{m.group(0)} ({_NVIMGCODEC_STATUS.get(m.group(1), 'status ' + m.group(1))})", msg)
    return f"{op.group(1)}: {msg}" if op else msg


class PipelineRunner:
    """Feeds samples to one pipeline of ``model`` (a ``LoadedModel``)."""

    def __init__(self, model, feed: str = "ragged", output_cast=None):
        if feed not in feeds.FEEDS:
            raise ValueError(f"unknown feed {feed!r}: use one of {', '.join(feeds.FEEDS)}")
        self.model = model
        self.feed = feed
        self.casts = outputs.parse_cast(output_cast, model.output_names)
        self.batch_size = getattr(model, "dali_batch_size", model.max_batch_size)
        self._pipe = model.build_pipeline()
        self._dtypes_checked = False
        self._image_inputs = suspect.image_inputs(model)
        self.failures = 0                        # batches DALI refused (a metric)

    # -- public -------------------------------------------------------------------------
    def run(self, samples: list[dict]) -> list[SampleResult]:
        """One result per sample, in order. Never raises for a bad sample."""
        return run_checked(self, samples, self._run_samples)

    def _run_samples(self, samples: list[dict]) -> list[SampleResult]:
        results: list[SampleResult | None] = [None] * len(samples)
        arrays: list[dict | None] = [None] * len(samples)
        for i, sample in enumerate(samples):
            try:
                arrays[i] = self._prepare(sample)
            except SampleError as e:
                results[i] = SampleResult(i, False, error=f"sample {i}: {e}", input_name=e.input_name)
        ready = [i for i in range(len(samples)) if results[i] is None]
        self._run_ready(arrays, ready, results)
        return results

    def _run_ready(self, arrays, ready, results) -> None:
        for start in range(0, len(ready), self.batch_size):
            chunk = ready[start:start + self.batch_size]
            good, bad = self._run_chunk(arrays, chunk)
            for i, outs in good.items():
                results[i] = SampleResult(i, True, outputs=outs)
            for i, err in bad.items():
                results[i] = self._failure(i, err)

    def _run_chunk(self, arrays, chunk):
        run = lambda idx: self._run_batch([arrays[i] for i in idx])  # noqa: E731
        if not self._image_inputs:
            return bisect.run_isolating(run, chunk)
        # image pipelines: suspects run alone, and a failed batch is re-run one sample at a
        # time, never in halves (see suspect.py for the DALI crash this avoids)
        alone = [i for i in chunk if any(suspect.suspicious(arrays[i][n]) for n in self._image_inputs)]
        rest = [i for i in chunk if i not in set(alone)]
        good, bad = bisect.run_isolating(run, rest, split=bisect.singles)
        for i in alone:
            g, b = bisect.run_isolating(run, [i])
            good.update(g)
            bad.update(b)
        return good, self._confirm(run, good, bad)

    def _confirm(self, run, good: dict, bad: dict) -> dict:
        """Each failure, run alone once more: after a batch failed on several samples, DALI
        2.4 (CPU decoder, dynamic executor) now and then raises a leftover error in the *next*
        run, so a good image run alone just after one failed ('nvImageCodec failure' blamed on
        the external_source); alone again it decodes. Measured: 1-3 good images in 700 failed
        this way among 600 corrupt JPEGs. A real failure fails twice (one more short run)."""
        still = {}
        for i, err in bad.items():
            g, b = bisect.run_isolating(run, [i])
            if g:
                log.info("sample %d failed alone, then decoded when run again (a leftover "
                         "error of the batch before): %s", i, dali_message(err))
                good.update(g)
            else:
                still[i] = b.get(i, err)
        return still

    def close(self) -> None:
        self._pipe = None

    # -- internals ----------------------------------------------------------------------
    def _prepare(self, sample: dict) -> dict[str, np.ndarray]:
        return prepare(self.model, sample)

    def _run_batch(self, batch: list[dict[str, np.ndarray]]) -> list:
        try:
            outs = self._execute(batch)
        except Exception as e:
            self.failures += 1
            raise self._run_error(e) from None
        return self._collect(outs)

    def _execute(self, batch: list[dict[str, np.ndarray]]):
        from nvidia.dali.tensors import TensorCPU

        for spec in self.model.inputs:
            feed = feeds.build(self.feed, spec.name, [s[spec.name] for s in batch])
            data = feed.data
            if isinstance(data, list):  # what feed_input makes of each array (no layout given),
                # without its per-sample checks for MXNet and PyTorch types: 3 us a sample
                data = [TensorCPU(a, "") for a in data]
            self._pipe.feed_input(spec.name, data)
        return self._pipe.run()

    def _run_error(self, error: BaseException) -> PipelineRunError:
        return PipelineRunError(str(error))

    def _collect(self, outs) -> list:
        """The outputs of one successful run, one entry per sample (the isolated runner's child
        writes them into shared memory instead)."""
        return outputs.split(outs, self.model.output_names, self.casts)

    def _failure(self, index: int, error: BaseException) -> SampleResult:
        return failure(self.model, index, dali_message(error), getattr(error, "console", None))


def run_checked(runner, samples: list, run_samples) -> list[SampleResult]:
    """``run_samples`` for a batched model; for an unbatched one, each request's rows (see
    unbatched.py). The first good result's output dtypes are held to config.pbtxt's, once."""
    model = runner.model
    if getattr(model, "batched", True):
        results = run_samples(samples)
    else:
        results = unbatched.run(model, samples, run_samples,
                                lambda i, msg, name: SampleResult(i, False, error=msg, input_name=name))
    if not runner._dtypes_checked:
        first = next((r for r in results if r.ok), None)
        if first is not None:
            runner._dtypes_checked = True
            for line in outputs.dtype_mismatches(model, first.outputs, runner.casts):
                log.warning("%s", line)
    return results


def prepare(model, sample: dict) -> dict[str, np.ndarray]:
    """One sample's inputs as arrays of their specs; raises SampleError naming the input."""
    if not isinstance(sample, dict):
        raise SampleError(model.input_names[0], f"expected a dict of input name -> "
                          f"bytes/array, got {type(sample).__name__}")
    out = {}
    for spec in model.inputs:
        if spec.name not in sample:
            raise SampleError(spec.name, f"missing input {spec.name!r} (model "
                              f"{model.name!r} takes {', '.join(model.input_names)})")
        out[spec.name] = feeds.to_array(sample[spec.name], spec)
    return out


def failure(model, index: int, what: str, console: str | None = None,
            reason: str | None = None) -> SampleResult:
    """A failed sample: which pipeline, which input, what DALI said, and what it printed on
    the console (libjpeg's reason, when the isolated runner captured it)."""
    names = model.input_names
    blamed = names[0] if len(names) == 1 else None
    where = f"input {blamed!r}" if blamed else f"inputs {', '.join(map(repr, names))}"
    if console:
        what = f"{what.rstrip(' :')}: {console}" if what.rstrip().endswith(":") else f"{what} (console: {console})"
    msg = f"sample {index}: pipeline {model.name!r} failed on {where}: {what}"
    log.debug("sample %d failed: %s", index, msg)
    return SampleResult(index, False, error=msg, input_name=blamed, reason=reason)
