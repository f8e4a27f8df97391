"""The classify preprocessing (decode, resize shorter side 256, centre crop 224, normalize, CHW)
followed by a per-channel mean: outputs are 3 floats per image, so benchmarks measure the
preprocessing, not the copy of large tensors.

Input ``image``: encoded bytes (uint8, 1-D). Output ``channel_mean``: float32 [3].
``DALI_DEVICE=gpu`` (default) decodes with ``device="mixed"``; ``DALI_DEVICE=cpu`` stays on CPU.
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"
MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@autoserialize
@pipeline_def(batch_size=64, num_threads=4, device_id=0 if GPU else None,
              output_dtype=[types.FLOAT], output_ndim=[1])
def classify_reduce():
    image = fn.external_source(name="image", dtype=types.UINT8, ndim=1)
    image = fn.decoders.image(image, device="mixed" if GPU else "cpu", output_type=types.RGB)
    image = fn.resize(image, resize_shorter=256, antialias=True)
    image = fn.crop_mirror_normalize(image, crop=(224, 224), mean=MEAN, std=STD,
                                     dtype=types.FLOAT, output_layout="CHW")
    return fn.reductions.mean(image, axes=(1, 2))
