"""The exception that carries a message to the dead-letter topic, with its reason (one of
:class:`worker.reasons.Reason`, the single list of codes)."""
from __future__ import annotations

from worker.reasons import MEANING, Reason

# the codes, as plain strings (documentation, schemas and older callers)
REASONS: dict[str, str] = {r.value: text for r, text in MEANING.items()}


class MessageError(Exception):
    """A message that must go to the dead-letter topic.

    ``reason`` is one of :data:`REASONS`; ``str(err)`` is the human message (it names the
    message and says what to do). ``id`` and ``pipeline`` are set when they were known at the
    point of failure, so that the dead letter can carry them.
    """

    def __init__(self, reason: "str | Reason", message: str, *, id: str | None = None,
                 pipeline: str | None = None):
        self.reason = Reason.of(reason)
        super().__init__(message)
        self.id = id
        self.pipeline = pipeline

    def __repr__(self) -> str:
        return f"MessageError({self.reason.value!r}, {str(self)!r})"
