"""The worker's message formats in one import: input envelopes and raw inputs, results, dead
letters (defined in ``schemas/``, encoded with msgpack). The code lives in three small modules:

- ``worker.stream.wire``: version field, typed arrays, source coordinates (shared);
- ``worker.stream.envelope``: :func:`decode_input`, :func:`check_inputs`, :func:`encode_input`;
- ``worker.stream.results``: results and dead letters, encoders and decoders.

Example, turning a result back into numpy arrays::

    from worker.stream.messages import decode_result
    r = decode_result(record.value)
    r.outputs["probs"].shape, r.labels and r.labels["probs"][0].label
"""
from __future__ import annotations

from worker.stream.envelope import InputMessage, Mode, check_inputs, decode_input, encode_input
from worker.stream.errors import REASONS, MessageError
from worker.stream.results import (DeadLetter, Label, Result, dead_letter_from_error,
                                   decode_dead_letter, decode_result, encode_dead_letter,
                                   encode_result)
from worker.stream.wire import DTYPES, MAJOR, VERSION, Source, looks_like_map

__all__ = [
    "DTYPES", "MAJOR", "REASONS", "VERSION", "DeadLetter", "InputMessage", "Label",
    "MessageError", "Mode", "Result", "Source", "check_inputs", "dead_letter_from_error",
    "decode_dead_letter", "decode_input", "decode_result", "encode_dead_letter", "encode_input",
    "encode_result", "looks_like_map",
]
