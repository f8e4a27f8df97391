"""Errors of running pipelines."""
from __future__ import annotations


class PipelineError(Exception):
    """Running a pipeline failed in a way not tied to one sample."""


class SampleError(ValueError):
    """One sample cannot be fed (missing input, wrong dtype or shape). Names the input."""

    def __init__(self, input_name: str, message: str):
        super().__init__(message)
        self.input_name = input_name


class PipelineRunError(PipelineError):
    """DALI refused a batch; the message is DALI's."""


class IsolationError(PipelineError):
    """The isolated runner's child process cannot run anything (it crashes on every request or
    cannot start): a broken pipeline, device or machine, not a bad sample."""


class ContainerError(ValueError):
    """The value is not a readable container of a kind we know, or it is cut short
    (worker/pipeline/containers.py and the frame checks it calls raise it)."""
