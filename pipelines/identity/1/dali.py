"""Identity: returns its input unchanged. For checking transport (topic in, topic out) without
any decoding. Input ``data``: uint8 1-D (any bytes). Output ``data_out``: the same bytes.
CPU only: it does no work a GPU could speed up.
"""
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize


@autoserialize
@pipeline_def(batch_size=64, num_threads=1, device_id=None,
              output_dtype=[types.UINT8], output_ndim=[1])
def identity():
    return fn.external_source(name="data", dtype=types.UINT8, ndim=1)
