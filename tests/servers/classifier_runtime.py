"""MLServer runtime serving ``mean_classifier`` over the KServe V2 protocol (as Triton speaks it).

Input ``image``: FP32 (N, 3, H, W). Outputs: ``logits`` FP32 (N, 10) and ``request_size`` INT32
(N, 1), the number of samples in the request (tests read it to see how the client split batches).

Test hooks, chosen by the data so that a test can aim them at one sample:
- a sample whose first value is ``mean_classifier.REJECT_MARKER`` (or that holds NaN: gRPC only, JSON has no
  NaN) is rejected with 400 / INVALID_ARGUMENT, as Triton rejects bad input;
- a sample whose first value is ``SLOW_MARKER`` makes the request sleep ``SLOW_S`` seconds;
- with ``reject_below`` in the model-settings ``extra`` (a number), a sample whose every value is
  below it is rejected too: end-to-end tests send a black JPEG, which a preprocessing pipeline
  turns into a tensor that no marker value can reach (ImageNet-normalized black is about -2).
(The markers live in ``mean_classifier`` so that tests can import them without MLServer.)
"""
from __future__ import annotations

import asyncio

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse

import mean_classifier

from mean_classifier import REJECT_MARKER, SLOW_MARKER, SLOW_S


class MeanClassifier(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        below = extra.get("reject_below")
        self.reject_below = None if below is None else float(below)
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        by_name = {inp.name: inp for inp in payload.inputs}
        if "image" not in by_name:
            raise InferenceError(f"input 'image' missing; got {sorted(by_name)}")
        batch = NumpyCodec.decode_input(by_name["image"])
        if batch.dtype != np.float32:
            raise InferenceError(f"input 'image' must be FP32, got {batch.dtype}")
        if batch.ndim != 4 or batch.shape[1] != mean_classifier.CHANNELS:
            raise InferenceError(f"input 'image' must be (N, 3, H, W), got {batch.shape}")
        first = batch.reshape(len(batch), -1)[:, 0] if batch.size else np.zeros(0)
        bad = [i for i in range(len(batch))
               if not np.isfinite(batch[i]).all() or first[i] == REJECT_MARKER
               or (self.reject_below is not None and batch[i].size
                   and float(batch[i].max()) < self.reject_below)]
        if bad:
            raise InferenceError(f"input 'image': samples {bad} are invalid (test marker/NaN)")
        if np.any(first == SLOW_MARKER):
            await asyncio.sleep(SLOW_S)
        outputs = {
            "logits": mean_classifier.logits(batch),
            "request_size": np.full((len(batch), 1), len(batch), dtype=np.int32),
        }
        wanted = [o.name for o in payload.outputs] if payload.outputs else list(outputs)
        unknown = [n for n in wanted if n not in outputs]
        if unknown:
            raise InferenceError(f"unknown requested outputs {unknown}; model has {sorted(outputs)}")
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(n, outputs[n]) for n in wanted],
        )
