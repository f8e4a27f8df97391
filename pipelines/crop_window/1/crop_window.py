"""Two named inputs: an encoded image and a per-sample crop window. Decodes only the window
(``fn.decoders.image_slice``), resizes it to 224x224 and returns HWC uint8.

Inputs: ``image`` (encoded bytes, uint8 1-D); ``window`` (float32 [4]: x, y, width, height as
fractions of the image, e.g. [0.25, 0.25, 0.5, 0.5] for the centre quarter).
Output ``crop``: uint8 [224, 224, 3].
``DALI_DEVICE=gpu`` (default) decodes with ``device="mixed"``; ``DALI_DEVICE=cpu`` stays on CPU.
This file is named in config.pbtxt by ``default_model_filename``.
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"


@autoserialize
@pipeline_def(batch_size=32, num_threads=4, device_id=0 if GPU else None,
              output_dtype=[types.UINT8], output_ndim=[3])
def crop_window():
    image = fn.external_source(name="image", dtype=types.UINT8, ndim=1)
    window = fn.external_source(name="window", dtype=types.FLOAT, ndim=1)
    crop = fn.decoders.image_slice(image, window[0:2], window[2:4], device="mixed" if GPU else "cpu",
                                   output_type=types.RGB, normalized_anchor=True,
                                   normalized_shape=True, axes=[1, 0])
    return fn.resize(crop, size=(224, 224), antialias=True)
