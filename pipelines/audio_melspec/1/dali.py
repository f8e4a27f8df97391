"""Audio log-mel spectrogram: decode WAV/FLAC/OGG (Vorbis), downmix to mono, resample to
16 kHz, 25 ms windows every 10 ms (400/160 samples, FFT 512), 64 mel bands, decibels.

Input ``audio``: the encoded file (uint8, 1-D). Output ``melspec``: [time, 64] float32, one row
per 10 ms (layout "tf", time first, so that a route's ``cut = "sequence"`` with
``sequence_length = 100`` makes one result per second of audio). CPU only: DALI's audio
decoder runs on the CPU; the spectrogram is cheap next to it.
"""
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.plugin.triton import autoserialize

RATE = 16000


@autoserialize
@pipeline_def(batch_size=16, num_threads=4, device_id=None,
              output_dtype=[types.FLOAT], output_ndim=[2])
def audio_melspec():
    encoded = fn.external_source(name="audio", dtype=types.UINT8, ndim=1)
    audio, _rate = fn.decoders.audio(encoded, sample_rate=RATE, downmix=True, dtype=types.FLOAT)
    spec = fn.spectrogram(audio, nfft=512, window_length=400, window_step=160)
    mel = fn.mel_filter_bank(spec, sample_rate=RATE, nfilter=64)
    db = fn.to_decibels(mel, multiplier=10.0, cutoff_db=-80.0)
    return fn.transpose(db, perm=[1, 0])
