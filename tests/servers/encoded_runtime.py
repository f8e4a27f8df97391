"""MLServer runtime standing in for a model in Triton's DALI backend, at the protocol level:
input ``encoded`` UINT8 (N, L), zero-padded by clients as the DALI backend expects. Like DALI's
decoders, it ignores trailing zeros. Outputs per sample: ``length`` INT64 (N, 1), the payload
length without the padding; ``checksum`` UINT64 (N, 1), the byte sum; ``request_size`` INT32
(N, 1). It runs no DALI (see the report of issue 5 for what a real DALI stand-in would take)."""
from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse

import encoded_stats


class EncodedStats(MLModel):
    async def load(self) -> bool:
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        by_name = {inp.name: inp for inp in payload.inputs}
        if "encoded" not in by_name:
            raise InferenceError(f"input 'encoded' missing; got {sorted(by_name)}")
        batch = NumpyCodec.decode_input(by_name["encoded"])
        if batch.dtype != np.uint8 or batch.ndim != 2:
            raise InferenceError(f"input 'encoded' must be UINT8 (N, L), got {batch.dtype}"
                                 f"{list(batch.shape)}")
        outputs = encoded_stats.stats(batch)
        return InferenceResponse(model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output(n, v)
                                          for n, v in outputs.items()])
