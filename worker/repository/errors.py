"""Errors of the model repository: finding, loading and checking pipelines.

Every message names the model (and version, file or field where it helps) and the fix."""
from __future__ import annotations


class RepositoryError(Exception):
    """The repository, a model folder or a model file is missing or malformed."""


class ModelNotFoundError(RepositoryError):
    """No model of that name (or no such version) in the repository."""


class PipelineLoadError(RepositoryError):
    """The pipeline file exists but could not be serialized, deserialized or built."""


class ConfigError(RepositoryError):
    """config.pbtxt cannot be parsed, or disagrees with the pipeline."""


class DeviceError(RepositoryError):
    """The pipeline needs a device this worker was not given (e.g. mixed/GPU ops on CPU)."""
