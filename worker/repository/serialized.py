"""Read a serialized DALI pipeline (the bytes of ``model.dali`` or of ``Pipeline.serialize()``).

A deserialized ``Pipeline`` does not tell Python the names of its ``fn.external_source``
inputs, so we read them from the protobuf itself. DALI's schema (``dali/pipeline/proto/
dali.proto``, package ``dali_proto``, proto2) is rebuilt here at runtime from a descriptor;
only the fields we read are needed, unknown ones are skipped by the parser. The ``required``
labels are DALI's own, so a parse succeeds exactly when DALI's ``daliIsDeserializable`` (a
protobuf parse of ``PipelineDef``) would: the test the Triton DALI backend applies to
``model.dali`` before it falls back to ``dali.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .errors import RepositoryError

_T = "TYPE_"  # shorthand for FieldDescriptorProto type names


def _message(file_proto, name: str, fields: list[tuple[str, int, str, str, str | None]]):
    from google.protobuf import descriptor_pb2

    msg = file_proto.message_type.add()
    msg.name = name
    for fname, number, label, ftype, type_name in fields:
        f = msg.field.add()
        f.name = fname
        f.number = number
        f.label = getattr(descriptor_pb2.FieldDescriptorProto, "LABEL_" + label)
        f.type = getattr(descriptor_pb2.FieldDescriptorProto, _T + ftype)
        if type_name:
            f.type_name = ".dali_proto." + type_name


@lru_cache(maxsize=1)
def _pipeline_def_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fp = descriptor_pb2.FileDescriptorProto()
    fp.name = "dsw_dali_pipeline.proto"   # our own file name: no clash with DALI's if loaded
    fp.package = "dali_proto"
    fp.syntax = "proto2"
    _message(fp, "Argument", [
        ("name", 1, "REQUIRED", "STRING", None),
        ("type", 2, "OPTIONAL", "STRING", None),
        ("floats", 3, "REPEATED", "FLOAT", None),
        ("ints", 4, "REPEATED", "INT64", None),
        ("strings", 5, "REPEATED", "STRING", None),
        ("bools", 6, "REPEATED", "BOOL", None),
        ("extra_args", 7, "REPEATED", "MESSAGE", "Argument"),
        ("is_vector", 8, "REQUIRED", "BOOL", None),
    ])
    _message(fp, "InputOutput", [
        ("name", 1, "REQUIRED", "STRING", None),
        ("device", 2, "REQUIRED", "STRING", None),
        ("is_argument_input", 3, "REQUIRED", "BOOL", None),
        ("arg_name", 4, "OPTIONAL", "STRING", None),
        ("dtype", 5, "OPTIONAL", "INT32", None),
        ("ndim", 6, "OPTIONAL", "INT32", None),
    ])
    _message(fp, "OpDef", [
        ("name", 1, "REQUIRED", "STRING", None),
        ("input", 2, "REPEATED", "MESSAGE", "InputOutput"),
        ("output", 3, "REPEATED", "MESSAGE", "InputOutput"),
        ("args", 4, "REPEATED", "MESSAGE", "Argument"),
        ("inst_name", 5, "OPTIONAL", "STRING", None),
        ("logical_id", 6, "OPTIONAL", "INT32", None),
    ])
    _message(fp, "PipelineDef", [
        ("num_threads", 1, "OPTIONAL", "INT64", None),
        ("batch_size", 2, "REQUIRED", "INT32", None),
        ("use_async", 3, "OPTIONAL", "BOOL", None),
        ("pipeline", 4, "OPTIONAL", "BOOL", None),
        ("op", 5, "REPEATED", "MESSAGE", "OpDef"),
        ("external_inputs", 6, "REPEATED", "STRING", None),
        ("pipe_outputs", 7, "REPEATED", "MESSAGE", "InputOutput"),
        ("device_id", 8, "OPTIONAL", "INT32", None),
        ("seed", 9, "OPTIONAL", "INT64", None),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("dali_proto.PipelineDef"))


@dataclass(frozen=True)
class ExternalInput:
    """One named ``fn.external_source`` of a serialized pipeline."""
    name: str
    device: str              # "cpu" or "gpu": where DALI wants the data
    dtype: int | None        # DALIDataType value, None when the pipeline did not set it
    ndim: int | None         # ndim=, else len(layout=) as DALI's ExternalSource infers it
    layout: str = ""


@dataclass(frozen=True)
class SerializedInfo:
    batch_size: int
    num_threads: int
    device_id: int
    inputs: tuple[ExternalInput, ...]
    output_names: tuple[str, ...]
    output_devices: tuple[str, ...]
    operator_devices: dict            # operator schema name -> sorted devices it runs on

    @property
    def needs_gpu(self) -> bool:
        return any(d in ("gpu", "mixed") for devs in self.operator_devices.values() for d in devs)

    def gpu_operators(self) -> list[str]:
        return sorted(n for n, devs in self.operator_devices.items()
                      if any(d in ("gpu", "mixed") for d in devs))


def _arg(op, name: str):
    for a in op.args:
        if a.name == name:
            return a
    return None


def _arg_int(op, name: str) -> int | None:
    a = _arg(op, name)
    return int(a.ints[0]) if a is not None and len(a.ints) else None


def _arg_str(op, name: str) -> str | None:
    a = _arg(op, name)
    return a.strings[0] if a is not None and len(a.strings) else None


def _external_ndim(op) -> int | None:
    """DALI's ExternalSource::InferNdim (dali/pipeline/operator/builtin/external_source.h):
    ``ndim`` if given, else the length of a non-empty ``layout``; the Triton DALI backend reads
    it through daliGetExternalInputNdim (src/dali_executor/dali_pipeline.cc, GetInputShape)."""
    ndim = _arg_int(op, "ndim")
    layout = _arg_str(op, "layout") or ""
    return len(layout) if ndim is None and layout else ndim


def _parse(data: bytes):
    """(PipelineDef, None) or (None, why it does not parse) -- DALI's test, see deserialize_problem."""
    from google.protobuf.message import DecodeError

    proto = _pipeline_def_class()()
    try:
        proto.ParseFromString(data)
    except DecodeError as e:
        return None, str(e)
    if not proto.IsInitialized():   # C++ ParseFrom* checks required fields; upb's does not
        return None, f"missing required fields: {', '.join(proto.FindInitializationErrors())}"
    return proto, None


def deserialize_problem(data: bytes) -> str | None:
    """None when DALI's daliIsDeserializable would accept ``data`` (Pipeline::IsDeserializable:
    a protobuf parse of ``PipelineDef``, required fields present), else why not. The Triton DALI
    backend tries the next pipeline file when it fails (TryLoadModel in src/dali_model.h)."""
    return _parse(data)[1]


def read_serialized(data: bytes, what: str = "pipeline") -> SerializedInfo:
    """Parse the bytes of a serialized DALI pipeline. ``what`` names it in errors."""
    proto, why = _parse(data)
    if proto is None:
        raise RepositoryError(f"{what}: not a serialized DALI pipeline ({why}); serialize it with "
                              f"Pipeline.serialize(filename=...) or give a dali.py instead")
    if not proto.op:
        raise RepositoryError(f"{what}: not a serialized DALI pipeline (no operators); serialize "
                              f"it with Pipeline.serialize(filename=...) or give a dali.py instead")
    inputs, devices = [], {}
    for op in proto.op:
        device = _arg_str(op, "device") or "cpu"
        devices.setdefault(op.name, set()).add(device)
        if op.name == "ExternalSource":
            name = _arg_str(op, "name") or op.inst_name
            inputs.append(ExternalInput(name=name, device=device, dtype=_arg_int(op, "dtype"),
                                        ndim=_external_ndim(op), layout=_arg_str(op, "layout") or ""))
    return SerializedInfo(
        batch_size=int(proto.batch_size), num_threads=int(proto.num_threads),
        device_id=int(proto.device_id), inputs=tuple(inputs),
        output_names=tuple(o.name for o in proto.pipe_outputs),
        output_devices=tuple(o.device for o in proto.pipe_outputs),
        operator_devices={k: tuple(sorted(v)) for k, v in devices.items()})


def dump(data: bytes) -> str:
    """Human-readable text of a serialized pipeline, for debugging."""
    proto = _pipeline_def_class()()
    proto.ParseFromString(data)
    return str(proto)


@dataclass(frozen=True)
class OperatorDef:
    """One operator of a serialized pipeline, in graph order: its schema name (``readers__File``,
    ``random__CoinFlip``), instance name, device and its boolean arguments (``random_shuffle``)."""
    schema: str
    inst_name: str
    device: str
    bools: dict


def operators(data: bytes) -> tuple[OperatorDef, ...]:
    """The operators of a serialized pipeline (empty when ``data`` does not parse)."""
    proto, _ = _parse(data)
    if proto is None:
        return ()
    return tuple(OperatorDef(op.name, op.inst_name, _arg_str(op, "device") or "cpu",
                             {a.name: bool(a.bools[0]) for a in op.args if len(a.bools)})
                 for op in proto.op)
