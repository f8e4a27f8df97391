"""ImageNet-style classification preprocessing: decode, resize the shorter side to 256, centre
crop 224x224, normalize with ImageNet mean/std, CHW float32.

Input ``image``: encoded JPEG/PNG/... bytes (uint8, 1-D). Output ``DALI_OUTPUT_0``: [3, 224, 224].
Device: ``DALI_DEVICE=gpu`` (the default, as under Triton) decodes with ``device="mixed"``
(nvJPEG) and runs the rest on the GPU; ``DALI_DEVICE=cpu`` runs everything on the CPU.
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"
MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@autoserialize
@pipeline_def(batch_size=64, num_threads=4, device_id=0 if GPU else None,
              output_dtype=[types.FLOAT], output_ndim=[3])
def classify():
    image = fn.external_source(name="image", dtype=types.UINT8, ndim=1)
    image = fn.decoders.image(image, device="mixed" if GPU else "cpu", output_type=types.RGB)
    image = fn.resize(image, resize_shorter=256, antialias=True)
    return fn.crop_mirror_normalize(image, crop=(224, 224), mean=MEAN, std=STD,
                                    dtype=types.FLOAT, output_layout="CHW")
