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

from . import bisect, feeds, outputs, suspect
from .errors import PipelineRunError, SampleError

log = logging.getLogger(__name__)


@dataclass
class SampleResult:
    index: int                                   # position in the list given to run()
    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    input_name: str | None = None                # the input blamed, when known


# nvImageCodec status codes as DALI's decoders print them ("nvImageCodec failure: '#3'")
_NVIMGCODEC = re.compile(r"nvImageCodec failure: '#(\d+)'")
_NVIMGCODEC_STATUS = {"3": "bad or truncated codestream", "4": "unsupported or unrecognised format"}


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
        self.batch_size = model.max_batch_size
        self._pipe = model.build_pipeline()
        self._image_inputs = suspect.image_inputs(model)
        self.failures = 0                        # batches DALI refused (a metric)

    # -- public -------------------------------------------------------------------------
    def run(self, samples: list[dict]) -> list[SampleResult]:
        """One result per sample, in order. Never raises for a bad sample."""
        results: list[SampleResult | None] = [None] * len(samples)
        arrays: list[dict | None] = [None] * len(samples)
        for i, sample in enumerate(samples):
            try:
                arrays[i] = self._prepare(sample)
            except SampleError as e:
                results[i] = SampleResult(i, False, error=f"sample {i}: {e}", input_name=e.input_name)
        ready = [i for i in range(len(samples)) if results[i] is None]
        for start in range(0, len(ready), self.batch_size):
            chunk = ready[start:start + self.batch_size]
            good, bad = self._run_chunk(arrays, chunk)
            for i, outs in good.items():
                results[i] = SampleResult(i, True, outputs=outs)
            for i, err in bad.items():
                results[i] = self._failure(i, err)
        return results

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
        return good, bad

    def close(self) -> None:
        self._pipe = None

    # -- internals ----------------------------------------------------------------------
    def _prepare(self, sample: dict) -> dict[str, np.ndarray]:
        if not isinstance(sample, dict):
            raise SampleError(self.model.input_names[0], f"expected a dict of input name -> "
                              f"bytes/array, got {type(sample).__name__}")
        out = {}
        for spec in self.model.inputs:
            if spec.name not in sample:
                raise SampleError(spec.name, f"missing input {spec.name!r} (model "
                                  f"{self.model.name!r} takes {', '.join(self.model.input_names)})")
            out[spec.name] = feeds.to_array(sample[spec.name], spec)
        return out

    def _run_batch(self, batch: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        try:
            for spec in self.model.inputs:
                feed = feeds.build(self.feed, spec.name, [s[spec.name] for s in batch])
                self._pipe.feed_input(spec.name, feed.data)
            outs = self._pipe.run()
        except Exception as e:
            self.failures += 1
            raise PipelineRunError(str(e)) from None
        return outputs.split(outs, self.model.output_names, self.casts)

    def _failure(self, index: int, error: BaseException) -> SampleResult:
        names = self.model.input_names
        blamed = names[0] if len(names) == 1 else None
        where = f"input {blamed!r}" if blamed else f"inputs {', '.join(map(repr, names))}"
        msg = (f"sample {index}: pipeline {self.model.name!r} failed on {where}: "
               f"{dali_message(error)}")
        log.debug("sample %d failed: %s", index, error)
        return SampleResult(index, False, error=msg, input_name=blamed)
