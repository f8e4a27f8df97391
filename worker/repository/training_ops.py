"""Operators that belong to training, not to serving: readers and random operators.

DALI's guide "from training to inference" builds the served pipeline from the *validation*
pipeline, its reader swapped for a named ``fn.external_source``. A reader left in (the pipeline
reads files of the server's disk instead of the request) or a random operator (``fn.random.*``,
``fn.random_resized_crop``, ``fn.decoders.image_random_crop``, a ``mirror=fn.random.coin_flip()``)
makes the served tensors differ from the ones the model was validated on, and from one request
to the next. We find them in the serialized graph and ask DALI's own operator schemas which
operators draw random numbers (``HasRandomStateArg``: every ``fn.random.*``, ``fn.noise.*``,
the random crops, ``fn.jitter``, ``fn.batch_permutation``...), so the list follows DALI's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .serialized import operators

_LEGACY_READER = re.compile(r"^[A-Za-z0-9]+Reader(Resize)?$")    # FileReader, VideoReader, ...


@dataclass(frozen=True)
class TrainingOperator:
    fn_name: str        # as the user wrote it: fn.random.coin_flip, fn.readers.file
    kind: str           # "reader" or "random"
    inst_name: str      # DALI's instance name in the graph (__CoinFlip_3, Reader)
    detail: str = ""    # e.g. "random_shuffle=True"

    def describe(self) -> str:
        what = "reader: reads its own files, not the request" if self.kind == "reader" else \
            "random: differs from run to run"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.fn_name} ({what}{extra})"


def _snake(pascal: str) -> str:
    try:
        from nvidia.dali.fn import _to_snake_case   # DALI's own fn names

        return _to_snake_case(pascal)
    except Exception:
        s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", pascal)
        return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def fn_name(schema: str) -> str:
    """``random__CoinFlip`` -> ``fn.random.coin_flip``; ``RandomResizedCrop`` ->
    ``fn.random_resized_crop``."""
    *modules, op = schema.split("__")
    return ".".join(["fn", *modules, _snake(op)])


def _schema(name: str):
    try:
        from nvidia.dali import backend

        return backend.GetSchema(name)
    except Exception:         # an operator of a plugin this process has not loaded
        return None


def _kind(schema_name: str) -> str | None:
    modules = schema_name.split("__")[:-1]
    if "readers" in modules or _LEGACY_READER.match(schema_name):
        return "reader"
    schema = _schema(schema_name)
    if schema is not None:
        return "random" if schema.HasRandomStateArg() else None
    if "random" in modules or "noise" in modules or "Random" in schema_name:
        return "random"
    return None


def find(serialized: bytes) -> list[TrainingOperator]:
    """Readers and random operators of a serialized pipeline, in graph order."""
    found = []
    for op in operators(serialized):
        kind = _kind(op.schema)
        if kind is None:
            continue
        detail = "random_shuffle=True" if op.bools.get("random_shuffle") else ""
        found.append(TrainingOperator(fn_name(op.schema), kind, op.inst_name, detail))
    return found


def warning(model: str, version: int, found: list[TrainingOperator]) -> str:
    """One line naming each training operator of a served pipeline and what to do."""
    names = "; ".join(op.describe() for op in found)
    fixes = []
    if any(op.kind == "reader" for op in found):
        fixes.append("replace the reader with a named fn.external_source")
    if any(op.kind == "random" for op in found):
        fixes.append("take the validation pipeline's deterministic operators instead of random ones")
    return (f"model {model!r} version {version} contains training-only operators: {names}. "
            f"Serve the validation pipeline: {' and '.join(fixes)}, then check it with "
            f"`dali-worker compare {model} --reference validation.py:FUNCTION --data DIR`")
