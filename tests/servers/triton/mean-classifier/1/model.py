"""Triton Python-backend model: ``mean_classifier.logits`` with the test hooks of the MLServer
runtime (``classifier_runtime.py``), so that a test can aim a failure at one sample.

Input ``image`` FP32 [N, 3, H, W]; outputs ``logits`` FP32 [N, 10] (labels.txt: Triton's
classification extension answers top-k when a client asks for ``class_count``) and
``request_size`` INT32 [N, 1], the number of samples in the request (tests read it to see how
the client split batches).

Hooks:
- a sample whose first value is ``REJECT_MARKER``, or that holds NaN, fails its whole request
  with INVALID_ARG (gRPC INVALID_ARGUMENT, HTTP 400), as Triton fails a request, not a sample;
- with the config parameter ``reject_below`` (a number), a sample whose every value is below it
  is rejected too (a black JPEG after ImageNet normalization is about -2 everywhere);
- a sample whose first value is ``SLOW_MARKER`` makes the request take ``SLOW_S`` seconds, or
  until the client cancels it (a timed-out gRPC call), so that the one instance is not held.

tests/triton_server.py puts a preamble above this text that sets ``sys.path``: the Python-backend
stub does not inherit PYTHONPATH, needs numpy<2, and imports mean_classifier from beside this file.
"""
import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils

import mean_classifier
from mean_classifier import REJECT_MARKER, SLOW_MARKER, SLOW_S


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        below = config.get("parameters", {}).get("reject_below", {}).get("string_value", "")
        self.reject_below = float(below) if below.strip() else None
        self.name = args["model_name"]

    def execute(self, requests):
        return [self._answer(request) for request in requests]

    def _answer(self, request):
        batch = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1] != mean_classifier.CHANNELS:
            return _error(f"input 'image' must be FP32 (N, 3, H, W), got {batch.dtype}{list(batch.shape)}")
        flat = batch.reshape(len(batch), -1)
        first = flat[:, 0] if flat.shape[1] else np.zeros(len(batch), np.float32)
        bad = [i for i in range(len(batch))
               if not np.isfinite(flat[i]).all() or first[i] == REJECT_MARKER
               or (self.reject_below is not None and flat.shape[1]
                   and float(flat[i].max()) < self.reject_below)]
        if bad:
            return _error(f"input 'image': samples {bad} are invalid (test marker/NaN"
                          f"{'' if self.reject_below is None else f'/all below {self.reject_below:g}'})")
        if np.any(first == SLOW_MARKER):
            deadline = time.monotonic() + SLOW_S
            while time.monotonic() < deadline and not request.is_cancelled():
                time.sleep(0.05)
        outputs = {"logits": mean_classifier.logits(batch),
                   "request_size": np.full((len(batch), 1), len(batch), dtype=np.int32)}
        wanted = request.requested_output_names() or list(outputs)
        return pb_utils.InferenceResponse([pb_utils.Tensor(n, outputs[n]) for n in wanted])


def _error(message):
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))
