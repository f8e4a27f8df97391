"""Exceptions of the model client. Messages name the model, the URL, the input or output, and
say what to change."""
from __future__ import annotations


class InferenceError(Exception):
    """Base of every error raised by ``worker.inference``."""


class InferenceConfigError(InferenceError, ValueError):
    """A ``[*.model]`` table in the worker config is wrong (unknown key, bad value)."""


class ModelFitError(InferenceError):
    """The pipeline's outputs cannot feed the model: names, dtypes or shapes do not fit.
    Raised at start-up, before any message is consumed."""


class ModelUnavailableError(InferenceError):
    """The server or the model did not answer within the retry budget."""


class RequestRejected(InferenceError):
    """The server answered and refused the request (bad input, model error). Retrying the same
    request will not help; splitting the batch tells which sample is at fault."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


class RequestTooLarge(RequestRejected):
    """The request is over the server's message size limit (gRPC "Received message larger than
    max (N vs. LIMIT)", HTTP 413). Deterministic, so never retried as is; smaller requests fit,
    so the client splits the batch by bytes. ``limit``: the server's limit when it said it."""

    def __init__(self, message: str, status: str | None = None, limit: int | None = None):
        super().__init__(message, status)
        self.limit = limit


class TransientServerError(InferenceError):
    """Server down, overloaded, timed out or reloading the model: worth retrying."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status
