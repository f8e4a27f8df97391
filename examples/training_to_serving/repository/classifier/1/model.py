"""Stand-in for the trained network (the guide deploys EfficientNet-B0 as a TensorRT plan): a
deterministic linear classifier of the per-channel means of a CHW float image, in Triton's
Python backend, numpy only. Swap in your own model; the ensemble only needs its input and output
names and shapes to match config.pbtxt.

Input ``INPUT__0`` FP32 [N, 3, 224, 224]; output ``OUTPUT__0`` FP32 [N, 10].
(The Python backend's stub does not see your virtualenv: give it numpy through the backend's
EXECUTION_ENV_PATH parameter, or install numpy for the interpreter it runs.)
"""
import numpy as np
import triton_python_backend_utils as pb_utils

CLASSES = 10
# class c weighs the three channel means differently, so that photos of different colours get
# different classes; fixed numbers, no weights file
W = np.array([[np.cos(0.7 * c + k) * (1.0 + 0.1 * c) for k in range(3)] for c in range(CLASSES)],
             dtype=np.float32)
B = np.linspace(-0.05, 0.05, CLASSES, dtype=np.float32)


def logits(batch: np.ndarray) -> np.ndarray:
    means = batch.astype(np.float32).mean(axis=(2, 3), dtype=np.float64).astype(np.float32)
    return (means @ W.T + B).astype(np.float32)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "INPUT__0").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT__0", logits(batch))]))
        return responses
