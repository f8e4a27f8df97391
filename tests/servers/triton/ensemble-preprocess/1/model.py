"""Triton Python-backend model: the preprocessing step of ``classifier-ensemble``
(ensemble_preprocess.preprocess). tests/triton_server.py puts a sys.path preamble above this."""
import triton_python_backend_utils as pb_utils

import ensemble_preprocess


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("scaled", ensemble_preprocess.preprocess(batch))]))
        return responses
