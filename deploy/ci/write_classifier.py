"""CI's stand-in for export-classifier (docker-compose.ci.yml): a deterministic numpy classifier
served by Triton's Python backend under the shipped name and signature (``resnet50``: input
``input`` FP32 [3, 224, 224], output ``logits`` FP32 [1000], labels.txt), because the real export
needs the PyTorch image and ResNet-50's weights, neither of which can be fetched where CI runs.

    python3 write_classifier.py --repository /src/pipelines [--if-missing] [--match-owner]

The logits are ``W @ channel_means(image) + b`` (W fixed, no files), so results are reproducible
and differ from image to image; the labels are ``class_0`` .. ``class_999``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NAME = "resnet50"
NUM_CLASSES = 1000

CONFIG = f'''# written by deploy/ci/write_classifier.py (CI only): the shipped export writes an ONNX model
name: "{NAME}"
backend: "python"
max_batch_size: 128
input [
  {{ name: "input", data_type: TYPE_FP32, dims: [ 3, 224, 224 ] }}
]
output [
  {{ name: "logits", data_type: TYPE_FP32, dims: [ {NUM_CLASSES} ], label_filename: "labels.txt" }}
]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
instance_group [ {{ kind: KIND_CPU, count: 1 }} ]
'''

MODEL = f'''# written by deploy/ci/write_classifier.py (CI only)
import numpy as np
import triton_python_backend_utils as pb_utils

C = np.arange({NUM_CLASSES}, dtype=np.float32)[:, None]
W = np.cos(0.37 * C + np.arange(3, dtype=np.float32)[None, :]).astype(np.float32)
B = np.linspace(-0.05, 0.05, {NUM_CLASSES}, dtype=np.float32)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "input").as_numpy()
            means = x.reshape(x.shape[0], 3, -1).mean(axis=2, dtype=np.float64).astype(np.float32)
            logits = (means @ W.T + B).astype(np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("logits", logits)]))
        return responses
'''


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repository", type=Path, required=True)
    p.add_argument("--if-missing", action="store_true", help="exit 0 when the model is there")
    p.add_argument("--match-owner", action="store_true",
                   help="give the files written to the owner of the repository folder")
    args = p.parse_args(argv)
    model = args.repository / NAME
    files = {model / "config.pbtxt": CONFIG, model / "1" / "model.py": MODEL,
             model / "labels.txt": "".join(f"class_{i}\n" for i in range(NUM_CLASSES))}
    if args.if_missing and all(f.exists() for f in files):
        print(f"{NAME}: already written ({model})")
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if args.match_owner:
        st = args.repository.stat()
        for path in [model, model / "1", *files]:
            os.chown(path, st.st_uid, st.st_gid)
    print(f"{NAME}: wrote the CI classifier (Python backend, {NUM_CLASSES} classes) into {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
