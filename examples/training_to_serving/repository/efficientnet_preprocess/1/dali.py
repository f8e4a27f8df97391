"""The served preprocessing, adapted from ``validation_pipe`` of ../../../validation.py as the
guide "DALI - from training to inference" says:

1. the reader (fn.readers.file) becomes a named fn.external_source (dtype and ndim given, so
   Triton and the worker derive the input from the pipeline);
2. the labels are dropped: the request carries no label;
3. the function's arguments get the values the model was validated with, as defaults;
4. @autoserialize marks it, and output_dtype/output_ndim describe the output.

Device: DALI_DEVICE=gpu (the default, as under Triton) decodes with device="mixed";
DALI_DEVICE=cpu (the worker's --device cpu) runs everything on the CPU. Check it against the
validation pipeline with `dali-worker compare` (docs/training-to-stream.md).
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"
MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@autoserialize
@pipeline_def(batch_size=32, num_threads=4, device_id=0 if GPU else None,
              output_dtype=[types.FLOAT], output_ndim=[3])
def inference_pipe(interpolation=types.INTERP_LINEAR, image_size=256, image_crop=224,
                   output_layout="CHW"):
    jpegs = fn.external_source(name="DALI_INPUT", dtype=types.UINT8, ndim=1)
    images = fn.decoders.image(jpegs, device="mixed" if GPU else "cpu", output_type=types.RGB)
    images = fn.resize(images, resize_shorter=image_size, interp_type=interpolation,
                       antialias=False)
    return fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout=output_layout,
                                    crop=(image_crop, image_crop), mean=MEAN, std=STD)
