"""Video frames: decode a whole clip (MP4/MKV/WebM), keep every 2nd frame, resize each to
112x112. One input, one output of shape [frames, 112, 112, 3] (uint8, layout FHWC); a route's
``cut`` turns it into one result per clip, per frame or per sequence of frames.

Input ``video``: the encoded file (uint8, 1-D), e.g. a raw Kafka value. Output ``frames``.
Device: ``DALI_DEVICE=gpu`` decodes with ``device="mixed"`` (NVDEC: H.264, HEVC, VP8, VP9,
AV1) and resizes on the GPU; ``DALI_DEVICE=cpu`` decodes on the CPU (DALI 2.4's PyPI wheel
decodes VP8 and VP9 there, not H.264/HEVC; the worker refuses those before decoding).
``stride`` is read by the worker (the decoder's argument): it expects ceil(declared / stride)
frames, and a clip that decodes to fewer is one dead letter (``incomplete_media``).
"""
import os

from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

GPU = os.environ.get("DALI_DEVICE", "gpu") == "gpu"
STRIDE = 2
SIZE = 112


@autoserialize
@pipeline_def(batch_size=8, num_threads=4, device_id=0 if GPU else None,
              output_dtype=[types.UINT8], output_ndim=[4])
def video_frames():
    clip = fn.external_source(name="video", dtype=types.UINT8, ndim=1)
    frames = fn.decoders.video(clip, device="mixed" if GPU else "cpu", stride=STRIDE)
    return fn.resize(frames, size=(SIZE, SIZE), antialias=True)
