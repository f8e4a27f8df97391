"""What `dali-worker demo` runs by default: per image, its size (height, width, channels, read
from the header without decoding) and its mean colour (0-255 per channel, after decoding), so
each result reads at a glance.

Input ``image``: encoded bytes (uint8, 1-D). Outputs ``size``: int64 [3]; ``mean_rgb``: float32
[3]. ``DALI_DEVICE=gpu`` (default) decodes with ``device="mixed"``; ``DALI_DEVICE=cpu`` stays on
the CPU.
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"


@autoserialize
@pipeline_def(batch_size=32, num_threads=2, device_id=0 if GPU else None,
              output_dtype=[types.INT64, types.FLOAT], output_ndim=[1, 1])
def image_stats():
    encoded = fn.external_source(name="image", dtype=types.UINT8, ndim=1)
    size = fn.peek_image_shape(encoded, dtype=types.INT64)
    image = fn.decoders.image(encoded, device="mixed" if GPU else "cpu", output_type=types.RGB)
    mean = fn.reductions.mean(fn.cast(image, dtype=types.FLOAT), axes=(0, 1))
    return size, mean
