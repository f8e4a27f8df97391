"""DALI's streaming input operator, ``fn.experimental.inputs.video``: what Triton's DALI backend
serves in decoupled mode (one request carries a whole clip, the pipeline is run again and again
until the operator has handed out every ``sequence_length`` frames, one response each). The
worker feeds a pipeline once per batch, through named ``fn.external_source`` inputs, so such a
pipeline is refused at load, in one line naming the model, the operator and the rewrite that
gives the same frames here: decode the whole clip with ``fn.experimental.decoders.video`` behind
an external_source, and let the route cut the frames into sequences (``cut = "sequence"``).
"""
from __future__ import annotations

from .errors import PipelineLoadError

STREAMING_INPUTS = ("experimental__inputs__Video",)


def streaming_inputs(serialized: bytes) -> list[tuple[str, str]]:
    """(operator, input name) of each streaming input operator of a serialized pipeline."""
    from .serialized import _arg_str, _parse

    proto, _ = _parse(serialized)
    if proto is None:
        return []
    return [(op.name, _arg_str(op, "name") or op.inst_name) for op in proto.op
            if op.name in STREAMING_INPUTS]


def refuse(model: str, version: int, serialized: bytes) -> None:
    """Raise PipelineLoadError when the pipeline reads its input with a streaming operator."""
    found = streaming_inputs(serialized)
    if not found:
        return
    op, name = found[0]
    raise PipelineLoadError(
        f"model {model!r} version {version}: input {name!r} is read by fn.experimental.inputs.video "
        f"({op}), a streaming input that Triton's DALI backend serves in decoupled mode; this "
        f"worker feeds fn.external_source inputs only: write fn.experimental.decoders.video("
        f"fn.external_source(name={name!r}, dtype=types.UINT8, ndim=1), ...) and set the route's "
        f"cut = \"sequence\" with sequence_length = the operator's sequence_length")
