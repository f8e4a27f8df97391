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

Everything else (retries, split on rejection, outcomes) is ModelClient's.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from worker.inference.client import InferOutcome, ModelClient
from worker.inference.config import ModelRoute
from worker.inference.errors import InferenceConfigError, ModelFitError
from worker.inference.fit import FitPlan
from worker.reasons import Reason

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
    def __init__(self, route: ModelRoute):
        if route.mode != "dali_backend":
            raise InferenceConfigError(f"{route.where}.mode: DaliBackendClient needs "
                                       f"mode = \"dali_backend\", got {route.mode!r}")
        self.route = route
        self.client = ModelClient(route)

    @property
    def model_info(self) -> dict:
        return self.client.model_info

    async def start(self, input_names: Iterable[str]) -> FitPlan:
        """Check that each named encoded field can feed a UINT8 [-1] input of the DALI model
        (names mapped by ``route.inputs``, or equal, or the single one)."""
        specs = {name: (np.uint8, 1, (-1,)) for name in input_names}
        if not specs:
            raise InferenceConfigError(f"{self.route.where}: name the encoded input field(s)")
        try:
            return await self.client.start(specs)
        except ModelFitError as exc:
            raise ModelFitError(f"{exc}\n  ({_HINT})") from None

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
