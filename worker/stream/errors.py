"""Why a message could not be processed: the closed list of dead-letter reason codes, and the
exception that carries one. Every code here is documented in ``schemas/README.md``; a dead
letter never carries a code that is not in :data:`REASONS`."""
from __future__ import annotations

# code -> what it means (and, implicitly, whose fault it is). Keep in sync with schemas/README.md.
REASONS: dict[str, str] = {
    "malformed_msgpack": "the value starts like a msgpack map but does not decode",
    "unsupported_version": "the message's major version is one this worker does not read",
    "invalid_envelope": "the value decodes but is not a valid envelope (missing or mistyped field)",
    "empty_value": "the record has no value (a tombstone) or an empty one",
    "unknown_pipeline": "the envelope names a pipeline the worker does not serve",
    "unknown_input": "an input the pipeline does not have (or raw mode for a multi-input pipeline)",
    "missing_input": "the pipeline needs an input the message does not carry",
    "wrong_dtype": "an input's dtype differs from the pipeline input's dtype",
    "wrong_shape": "an input's number of dimensions differs from the pipeline input's",
    "oversized": "the value is larger than the worker's max message size",
    "decode_error": "DALI failed on this sample (corrupt or unsupported media)",
    "pipeline_error": "the DALI pipeline failed for another reason",
    "model_error": "the model server rejected or failed the request",
    "model_unavailable": "the model server could not be reached or the model is not ready",
    "result_too_large": "the encoded result is larger than the producer's max request size",
}


class MessageError(Exception):
    """A message that must go to the dead-letter topic.

    ``reason`` is one of :data:`REASONS`; ``str(err)`` is the human message (it names the
    message and says what to do). ``id`` and ``pipeline`` are set when they were known at the
    point of failure, so that the dead letter can carry them.
    """

    def __init__(self, reason: str, message: str, *, id: str | None = None,
                 pipeline: str | None = None):
        if reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {reason!r}; known: {', '.join(REASONS)}")
        super().__init__(message)
        self.reason = reason
        self.id = id
        self.pipeline = pipeline

    def __repr__(self) -> str:
        return f"MessageError({self.reason!r}, {str(self)!r})"
