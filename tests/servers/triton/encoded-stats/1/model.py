"""Triton Python-backend stand-in for a DALI-backend model (see encoded_stats.py): input
``encoded`` UINT8 [N, L], zero-padded; outputs per sample ``length`` INT64 (without the trailing
zeros, which DALI's decoders ignore too), ``checksum`` UINT64 (byte sum), ``request_size`` INT32.
It runs no DALI. tests/triton_server.py puts a sys.path preamble above this text."""
import numpy as np
import triton_python_backend_utils as pb_utils

import encoded_stats


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "encoded").as_numpy()
            if batch.dtype != np.uint8 or batch.ndim != 2:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    f"input 'encoded' must be UINT8 (N, L), got {batch.dtype}{list(batch.shape)}",
                    pb_utils.TritonError.INVALID_ARG)))
                continue
            outputs = encoded_stats.stats(batch)
            wanted = request.requested_output_names() or list(outputs)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor(n, outputs[n]) for n in wanted]))
        return responses
