"""Why an input ended as a dead letter: the one list of reason codes.

Every part that fails a sample (routing, the pipeline runner, the model client, delivery) names
its reason with a member of :class:`Reason`, and the dead-letter encoder accepts exactly these:
a code that is not here cannot be written, so it cannot be produced either. Each code is
documented in ``schemas/README.md`` and listed in ``schemas/dead-letter.v1.schema.json``
(a unit test holds the three together).

``Reason`` is a ``str`` enum: a member compares equal to its code and goes on the wire as it.
"""
from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    MALFORMED_MSGPACK = "malformed_msgpack"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_ENVELOPE = "invalid_envelope"
    EMPTY_VALUE = "empty_value"
    UNKNOWN_PIPELINE = "unknown_pipeline"
    UNKNOWN_INPUT = "unknown_input"
    MISSING_INPUT = "missing_input"
    WRONG_DTYPE = "wrong_dtype"
    WRONG_SHAPE = "wrong_shape"
    OVERSIZED = "oversized"
    REPLY_TO_REFUSED = "reply_to_refused"
    IMAGE_TOO_LARGE = "image_too_large"
    UNREADABLE_HEADER = "unreadable_header"
    DECODE_ERROR = "decode_error"
    PIPELINE_ERROR = "pipeline_error"
    MODEL_ERROR = "model_error"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_INPUT_MISMATCH = "model_input_mismatch"
    RESULT_TOO_LARGE = "result_too_large"
    MEDIA_TOO_LARGE = "media_too_large"
    INCOMPLETE_MEDIA = "incomplete_media"
    VERSION_NOT_SERVED = "version_not_served"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, code: "str | Reason") -> "Reason":
        """The member for ``code``; ValueError naming the known codes for anything else."""
        try:
            return cls(code)
        except ValueError:
            raise ValueError(f"unknown dead-letter reason {code!r}; known: "
                             f"{', '.join(r.value for r in cls)}") from None


# code -> what it means (and, implicitly, whose fault it is). Keep in step with schemas/README.md.
MEANING: dict[Reason, str] = {
    Reason.MALFORMED_MSGPACK: "the value starts like a msgpack map but does not decode",
    Reason.UNSUPPORTED_VERSION: "the message's major version is one this worker does not read",
    Reason.INVALID_ENVELOPE: "the value decodes but is not a valid envelope (missing or mistyped field)",
    Reason.EMPTY_VALUE: "the record has no value (a tombstone) or an empty one",
    Reason.UNKNOWN_PIPELINE: "the envelope names a pipeline the worker does not serve",
    Reason.UNKNOWN_INPUT: "an input the pipeline does not have (or raw mode for a multi-input pipeline)",
    Reason.MISSING_INPUT: "the pipeline needs an input the message does not carry",
    Reason.WRONG_DTYPE: "an input's dtype differs from the pipeline input's dtype",
    Reason.WRONG_SHAPE: "an input's number of dimensions differs from the pipeline input's",
    Reason.OVERSIZED: "the value is larger than the worker's max message size",
    Reason.REPLY_TO_REFUSED: "the envelope's reply_to names a topic the worker must not write "
                             "(internal, an input or a dead-letter topic, not allowed by the "
                             "route's reply_to patterns, or not writable)",
    Reason.IMAGE_TOO_LARGE: "an image's header declares more pixels than the route's max_pixels "
                            "(not decoded)",
    Reason.UNREADABLE_HEADER: "an image's header cannot be read, so its decoded size is unknown "
                              "(not decoded)",
    Reason.DECODE_ERROR: "DALI failed on this sample (corrupt or unsupported media), or a clip's "
                         "frames are damaged in a way seen before decoding (a zero-filled hole, a "
                         "broken VP8/VP9 frame header)",
    Reason.PIPELINE_ERROR: "the DALI pipeline failed for another reason",
    Reason.MODEL_ERROR: "the model server rejected or failed the request",
    Reason.MODEL_UNAVAILABLE: "the model server could not be reached or the model is not ready",
    Reason.MODEL_INPUT_MISMATCH: "the sample's outputs do not fit the model's inputs (shape, size)",
    Reason.RESULT_TOO_LARGE: "the encoded result is larger than the producer's max request size",
    Reason.MEDIA_TOO_LARGE: "a video or audio input's container declares a decoded size (frames x "
                            "width x height x 3, or samples x channels x 4) over the route's "
                            "max_decoded_bytes, or frames over max_pixels (not decoded)",
    Reason.INCOMPLETE_MEDIA: "a video or audio input is truncated (its container, a FLAC's last "
                             "frame or an Ogg's last page runs past the end), or decoded to fewer "
                             "frames than its container declares (damaged mid-way); none of its "
                             "results was written",
    Reason.VERSION_NOT_SERVED: "the envelope's pipeline_version is not one the repository's "
                               "version_policy serves (the error names those served)",
}
assert set(MEANING) == set(Reason)
