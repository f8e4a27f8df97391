"""Second mode, for hosts without a local GPU: the pipeline runs inside Triton's DALI backend
and the worker sends it the encoded inputs.

The DALI backend takes encoded data as UINT8 inputs of shape [-1] (not TYPE_STRING: dali_backend
#42, #176). A batch of different lengths goes out either zero-padded to the longest (the
backend's documented way: DALI's decoders ignore trailing zeros; route ``ragged = "pad"``, the
default in this mode) or as one request per distinct length (``ragged = "per_sample"``, for
models that set ``allow_ragged_batch`` and pipelines that must not see padding).

    client = DaliBackendClient(ModelRoute.from_dict({..., "mode": "dali_backend"}))
    await client.start(["encoded"])                # worker fields that carry encoded bytes
    outcomes = await client.infer([{"encoded": jpeg_bytes}, ...])

Everything else (retries, split on rejection, outcomes) is ModelClient's. A corrupt sample
fails its whole request in the backend (gRPC UNKNOWN, "Critical error in pipeline"; the
backend's pipeline recovers for the next request): the batch is then re-sent one sample per
request, and a sample rejected alone is sent on its own again, up to twice, one at a time
for the client (Triton's dynamic batcher may have merged it with another batch's corrupt one),
so only the bad one becomes a ``model_error`` dead letter: three requests per corrupt image.

One thing the backend cannot do: answer a batch whose outputs differ in shape from sample to
sample. It declares the output [N, <largest sample's shape>] but writes the samples back to back
at their own sizes (dali_backend's ``array_shape``; measured in
tests/integration/test_dali_backend.py), so no client can split the answer. Where the model's
config leaves an output's dims open (-1, as the backend's autoconfig does), the client sends
one sample per request; declare fixed dims in config.pbtxt (``dims: [3, 224, 224]``) for whole
batches.

In the stream (``[routes.model] mode = "dali_backend"``) the route's ``pipeline`` is the
model's name in Triton's repository; the worker loads no pipeline of its own for it, reads the
model's inputs from the server, and passes the encoded fields of each message through.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from worker.inference.client import InferOutcome, ModelClient
from worker.inference.config import ModelRoute
from worker.inference.errors import InferenceConfigError, ModelFitError
from worker.inference.fit import FitPlan
from worker.reasons import Reason

log = logging.getLogger(__name__)

_HINT = ("Triton's DALI backend takes encoded data as UINT8 inputs with dims [-1] "
         "(one external_source per input); TYPE_STRING/BYTES inputs are not supported by it")


def as_uint8(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Encoded bytes as the 1-D uint8 array the DALI backend takes (no copy for bytes)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            raise ValueError(f"encoded input must be 1-D uint8, got {data.dtype}{list(data.shape)}")
        return data
    return np.frombuffer(data, dtype=np.uint8)


class DaliBackendClient:
    def __init__(self, route: ModelRoute, on_status=None):
        if route.mode != "dali_backend":
            raise InferenceConfigError(f"{route.where}.mode: DaliBackendClient needs "
                                       f"mode = \"dali_backend\", got {route.mode!r}")
        self.route = route
        self.client = ModelClient(route, on_status=on_status)
        # any rejected sample is sent alone again, up to twice, one at a time for the client:
        # the batcher may also merge the first re-send with another batch's corrupt sample
        self.client.confirm_rejected = 1
        self.client.confirm_attempts = 2
        self.samples_alone: list[str] = []   # outputs whose dims vary: one sample per request

    @property
    def plan(self) -> FitPlan | None:
        return self.client.plan

    @property
    def stats(self) -> dict:
        return self.client.stats

    async def model_inputs(self) -> list[str]:
        """The DALI model's input names, read from the server (waits for it like ``start``)."""
        await self.client.connect()
        return [t.name for t in self.client.model.inputs]

    @property
    def model_info(self) -> dict:
        return self.client.model_info

    async def start(self, input_names: Iterable[str] | None = None) -> FitPlan:
        """Check that each named encoded field (default: every input the model has) can feed a
        UINT8 [-1] input of the DALI model (names mapped by ``route.inputs``, or equal, or the
        single one)."""
        names = list(input_names) if input_names is not None else await self.model_inputs()
        specs = {name: (np.uint8, 1, (-1,)) for name in names}
        if not specs:
            raise InferenceConfigError(f"{self.route.where}: name the encoded input field(s)")
        try:
            plan = await self.client.start(specs)
        except ModelFitError as exc:
            raise ModelFitError(f"{exc}\n  ({_HINT})") from None
        open_dims = [t.name for t in self.client.model.outputs
                     if t.name in plan.outputs and any(d < 0 for d in t.shape)]
        if open_dims and plan.batched and plan.max_batch_size != 1:
            self.samples_alone = open_dims
            self.client.plan = plan = replace(plan, max_batch_size=1)
            log.info("%s: output(s) %s have open dims in the model's config: one sample per request "
                     "(the DALI backend cannot answer a batch of differently shaped outputs in a "
                     "way a client can split); declare fixed dims in its config.pbtxt to send "
                     "whole batches", self.route.model_ref, ", ".join(open_dims))
        return plan

    async def forward(self, outcomes: list) -> list:
        """The stream's step, as ModelClient.forward: each ok outcome's ``outputs`` hold the
        message's encoded fields; they are replaced by the DALI model's answer."""
        return await self.client.forward(outcomes, infer=self.infer)

    async def infer(self, samples: list[dict[str, bytes | np.ndarray]]) -> list[InferOutcome]:
        arrays, bad = [], {}
        for k, sample in enumerate(samples):
            try:
                arrays.append({name: as_uint8(v) for name, v in sample.items()})
            except (TypeError, ValueError) as exc:
                bad[k] = str(exc)
                arrays.append({})
        good = [k for k in range(len(samples)) if k not in bad]
        answers = await self.client.infer([arrays[k] for k in good]) if good else []
        out: list[InferOutcome | None] = [None] * len(samples)
        for k, error in bad.items():
            out[k] = InferOutcome(False, reason=Reason.MODEL_INPUT_MISMATCH,
                                  error=f"{self.route.model_ref}: {error}")
        for k, a in zip(good, answers):
            out[k] = a
        return out  # type: ignore[return-value]

    async def close(self) -> None:
        await self.client.close()
