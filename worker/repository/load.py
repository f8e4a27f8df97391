"""Load one model of a repository: pick the version, get the serialized pipeline (read
``model.dali`` or autoserialize a Python file), build it on the chosen device, and complete and
check its config. The result, a :class:`LoadedModel`, builds fresh pipelines for runners.

Device convention for Python pipelines: before autoserializing, the loader sets the
environment variable ``DALI_DEVICE`` to ``cpu`` or ``gpu`` (and ``DALI_DEVICE_ID``), so one
``dali.py`` can choose ``device="mixed"`` decoders on a GPU and ``device="cpu"`` elsewhere.
A pipeline that ignores it and uses GPU operators simply needs a GPU.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import find, model_config, streaming, training_ops
from .errors import ConfigError, DeviceError, PipelineLoadError
from .serialized import SerializedInfo, deserialize_problem, read_serialized

log = logging.getLogger(__name__)
_ENV_LOCK = threading.Lock()   # os.environ and sys.path are process-wide


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    ndim: int
    dims: tuple[int, ...]
    device: str = "cpu"          # inputs: where the external_source wants the data


@dataclass
class LoadedModel:
    name: str
    version: int
    config: object                # tritonclient model_config_pb2.ModelConfig, complete
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    max_batch_size: int
    device: str | int             # "cpu" or a GPU id
    num_threads: int
    serialized: bytes
    source: Path
    info: SerializedInfo
    # False: config.pbtxt's max_batch_size is 0 (Triton's unbatched model): every sample runs
    # alone (max_batch_size here is then 1) and config.dims carry the batch dimension first
    batched: bool = True
    # outputs config.pbtxt's split_along_outer_axis names: each row of a sample's (n, ...)
    # output is a sample of its own (a result of its own in the stream, as the backend returns
    # n samples); their TensorSpec dims are a row's
    split: frozenset = frozenset()
    unchecked_dtypes: tuple = ()  # outputs whose data_type only config.pbtxt gives
    _spare: object = None         # the pipeline built at load time, handed to the first runner

    def build_pipeline(self):
        """A new built DALI pipeline of this model (one per runner / thread)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            return spare
        return _build(self.serialized, self.dali_batch_size, self.num_threads, self.device,
                      self.name, self.version)

    @property
    def dali_batch_size(self) -> int:
        """The DALI pipeline's batch: max_batch_size, or for an unbatched model the rows one
        request may carry (the pipeline's batch_size)."""
        return self.max_batch_size if self.batched else max(self.info.batch_size, 1)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]


def _device_id(device) -> int | None:
    if device == "cpu" or device is None:
        return None
    if isinstance(device, str) and device.startswith("gpu"):
        device = device[3:].lstrip(":") or 0
    return int(device)


def normalize_device(device) -> str | int:
    """"cpu", an int GPU id, "gpu", "gpu:1" or "1" -> "cpu" or int."""
    dev = _device_id(device)
    return "cpu" if dev is None else dev


def _build(serialized: bytes, batch_size: int, num_threads: int, device, name: str, version: int):
    """Executor settings, measured with DALI 2.4: ``prefetch_queue_depth=1`` runs batches
    smaller than ``batch_size`` (deeper queues failed to peek them); the dynamic executor keeps
    the pipeline usable after an operator error (the default executor declares it invalid, and
    destroying such a pipeline crashed the process now and then) at the same throughput."""
    from nvidia.dali import Pipeline

    try:
        pipe = Pipeline.deserialize(serialized_pipeline=serialized, batch_size=batch_size,
                                    num_threads=num_threads, device_id=_device_id(device),
                                    prefetch_queue_depth=1, exec_dynamic=True)
        pipe.build()
    except Exception as e:
        hint = (" (the pipeline asks for a GPU: run with --device GPU_ID on a machine with one)"
                if "CUDA" in str(e) or "GPU" in str(e) else "")
        raise PipelineLoadError(f"model {name!r} version {version}: DALI could not build the "
                                f"pipeline on device {device!r}: {_first_lines(e)}{hint}") from e
    return pipe


def _first_lines(e: Exception, n: int = 6) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return " ".join(lines[:n]) or type(e).__name__


@contextlib.contextmanager
def _device_env(device):
    dev = _device_id(device)
    saved = {k: os.environ.get(k) for k in ("DALI_DEVICE", "DALI_DEVICE_ID")}
    os.environ["DALI_DEVICE"] = "cpu" if dev is None else "gpu"
    os.environ["DALI_DEVICE_ID"] = "" if dev is None else str(dev)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def autoserialize(path: Path, device, model: str) -> bytes:
    """Import ``path`` as the DALI backend does and serialize its one @autoserialize pipeline."""
    from nvidia.dali._utils.autoserialize import invoke_autoserialize

    module_name = f"_dsw_pipeline_{model}_{path.parent.name}_{path.stem}".replace(".", "_").replace("-", "_")
    with _ENV_LOCK, _device_env(device), tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(path.parent))
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            out = Path(tmp) / "model.dali"
            invoke_autoserialize(module, str(out))
            return out.read_bytes()
        except Exception as e:
            msg = _first_lines(e)
            if "Precisely one autoserialize" in msg:
                msg += (" -- mark exactly one @pipeline_def in the file with "
                        "@autoserialize (from nvidia.dali.plugin.triton import autoserialize)")
            raise PipelineLoadError(f"model {model!r}: could not autoserialize {str(path)!r}: "
                                    f"{msg}") from e
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(path.parent))
            sys.modules.pop(module_name, None)


def _pipeline_facts(info: SerializedInfo, pipe) -> model_config.PipelineFacts:
    dtypes, ndims = pipe.output_dtype() or [], pipe.output_ndim() or []
    n = len(info.output_names)
    outputs = []
    for i in range(n):
        dt = dtypes[i] if i < len(dtypes) else None
        nd = ndims[i] if i < len(ndims) else None
        # the pipeline's own output name, as the DALI backend takes it (GetOutputName(i))
        outputs.append(model_config.TensorFacts(info.output_names[i], None if dt is None else int(dt), nd))
    inputs = [model_config.TensorFacts(e.name, e.dtype, e.ndim) for e in info.inputs]
    return model_config.PipelineFacts(batch_size=info.batch_size, inputs=inputs, outputs=outputs)


def config_text(repository: Path, name: str) -> str | None:
    """The text of the model's config.pbtxt, None when it has none."""
    path = find.model_dir(repository, name) / "config.pbtxt"
    return path.read_text() if path.is_file() else None


def read_config(repository: Path, name: str):
    text = config_text(repository, name)
    return None if text is None else model_config.parse_config(text, name)


def _check_config_batch_size(text: str | None, name: str) -> bool:
    """Whether the model is batched. An explicit 0 is Triton's unbatched model (the DALI
    backend's ``DaliModel::Batched()`` is false then and ``ExecuteUnbatched`` runs each request
    alone); an absent one, or one below 0 (``-1``), is the pipeline's batch_size, as the
    backend's AutofillConfig replaces it."""
    explicit = model_config.explicit_max_batch_size(text) if text is not None else None
    if explicit is not None and explicit < 0:
        log.warning("model %s: config.pbtxt sets max_batch_size: %d: the pipeline's batch_size is "
                    "used, as Triton's DALI backend fills it; Triton 2.51 itself refuses this config "
                    "before the backend sees it ('max_batch_size' must be non-negative): remove the "
                    "line for a repository both load", name, explicit)
    return explicit != 0


def _serialize(candidates: list[find.ModelFile], device, name: str, version: int):
    """Bytes of the first candidate that loads, as DaliModel::LoadModel (src/dali_model.h) tries
    them: a serialized file counts when DALI can deserialize it, a Python file when it
    autoserializes; a failure moves on to the next file (``dali.py``) with a warning."""
    failures = []
    for i, model_file in enumerate(candidates):
        if model_file.kind == "serialized":
            data = model_file.path.read_bytes()
            problem = deserialize_problem(data)
            error = None if problem is None else f"not a serialized DALI pipeline ({problem})"
        else:
            try:
                data, error = autoserialize(model_file.path, device, name), None
            except PipelineLoadError as e:
                if len(candidates) == 1:
                    raise
                error = str(e)
        if error is None:
            return data, model_file
        failures.append(f"{model_file.path.name}: {error}")
        if i + 1 < len(candidates):
            log.warning("model %s version %d: %s failed to load (%s); falling back to %s, as "
                        "Triton's DALI backend does", name, version, model_file.path, error,
                        candidates[i + 1].path.name)
    if len(candidates) == 1:   # one serialized file: the full reason, from read_serialized
        read_serialized(data, what=f"model {name!r} ({candidates[0].path})")
    raise PipelineLoadError(f"model {name!r} version {version}: no pipeline file loads: "
                            f"{'; '.join(failures)}: fix one of them (serialize with "
                            f"Pipeline.serialize(filename=...), or one @autoserialize pipeline "
                            f"in the .py)")


def load_model(repository: Path, name: str, version: int | None = None, device="cpu",
               num_threads: int | None = None, max_batch_size: int | None = None) -> LoadedModel:
    """Load ``name`` from ``repository`` (highest served version unless pinned) on ``device``
    ("cpu" or a GPU id). Raises a RepositoryError subclass naming the model and the fix.

    The repository is trusted code: a Python pipeline file is imported (executed) here."""
    repository = Path(repository)
    device = normalize_device(device)
    text = config_text(repository, name)
    config = None if text is None else model_config.parse_config(text, name)
    batched = _check_config_batch_size(text, name)
    chosen = find.choose_version(repository, name, version,
                                 config.version_policy if config is not None and config.HasField("version_policy") else None,
                                 served_only=True)
    version_dir = find.model_dir(repository, name) / str(chosen)
    candidates = find.model_file_candidates(version_dir, config.default_model_filename if config else "", name)
    serialized, model_file = _serialize(candidates, device, name, chosen)
    info = read_serialized(serialized, what=f"model {name!r} ({model_file.path})")
    if device == "cpu" and info.needs_gpu:
        raise DeviceError(f"model {name!r} version {chosen}: {model_file.path.name} uses GPU "
                          f"operators ({', '.join(info.gpu_operators())}) but the device is cpu: "
                          f"run with a GPU id, or give the pipeline a CPU form (read DALI_DEVICE "
                          f"in dali.py)")
    for inp in info.inputs:
        find.validate_name(inp.name, f"external_source name in model {name!r}")
    streaming.refuse(name, chosen, serialized)   # fn.experimental.inputs.video: not an input here
    # batch size: explicit > config.pbtxt (above 0) > pipeline
    batch = max_batch_size or max(config.max_batch_size if config is not None else 0, 0) or info.batch_size
    if not batched:   # as the DALI backend's ExecuteUnbatched: each request (here a sample) alone
        batch = 1
    if batch <= 0:
        raise ConfigError(f"model {name!r}: no batch size: set batch_size in @pipeline_def or "
                          f"max_batch_size in config.pbtxt")
    threads = num_threads or _config_threads(config) or info.num_threads or 1
    # an unbatched model's request is a batch of its own (its first dimension), up to the
    # pipeline's batch_size, as the backend builds it (ReadPipelineProperties: max batch -1)
    pipe = _build(serialized, batch if batched else max(info.batch_size, 1), threads, device, name, chosen)
    facts = _pipeline_facts(info, pipe)
    full = model_config.autofill_and_validate(config, facts, name, batched)
    # data types config.pbtxt gives that the pipeline does not declare: checked at the first
    # batch (runner.run_checked), since DALI tells a built pipeline's output types only by running
    unchecked = tuple(t.name for t, f in zip(full.output, facts.outputs) if f.triton_type is None)
    if batched:
        full.max_batch_size = batch
    devices = {e.name: e.device for e in info.inputs}
    skip = 0 if batched else 1   # an unbatched config's dims start with the batch dimension
    inputs = [TensorSpec(t.name, model_config.numpy_dtype(t.data_type), len(t.dims) - skip,
                         tuple(t.dims)[skip:], devices.get(t.name, "cpu")) for t in full.input]
    outputs = [TensorSpec(t.name, model_config.numpy_dtype(t.data_type), len(t.dims) - skip,
                          tuple(t.dims)[skip:]) for t in full.output]
    training = training_ops.find(serialized)   # a reader or random op left in: skew
    if training:
        log.warning("%s", training_ops.warning(name, chosen, training))
    log.info("loaded model %s version %d from %s on %s (%s, %d threads)", name, chosen,
             model_file.path, device, f"batch {batch}" if batched else "unbatched: one sample at a time",
             threads)
    return LoadedModel(name=name, version=chosen, config=full, inputs=inputs, outputs=outputs,
                       max_batch_size=batch, device=device, num_threads=threads,
                       serialized=serialized, source=model_file.path, info=info, batched=batched,
                       split=frozenset(full.output[i].name for i in
                                       model_config.split_positions(full, info.output_names, name).values()),
                       unchecked_dtypes=unchecked,
                       _spare=pipe)


def _config_threads(config) -> int | None:
    if config is None or "num_threads" not in config.parameters:
        return None
    value = config.parameters["num_threads"].string_value
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"model {config.name!r}: parameters num_threads is {value!r}: use an "
                          f"integer string, e.g. string_value: \"4\"") from None


def list_models(repository: Path, *, dali_only: bool = True) -> list[str]:
    """Models of the repository; with ``dali_only`` those a DALI worker can run, leaving out the
    repository's other models (an ONNX classifier that Triton serves beside the pipelines)."""
    names = find.list_models(repository)
    if not dali_only:
        return names
    return [n for n in names if is_dali_model(repository, n)]


def is_dali_model(repository: Path, name: str) -> bool:
    """No config.pbtxt (a DALI pipeline file is what the folder holds), or a config whose
    backend/platform is dali (or unset)."""
    return non_dali_backend(repository, name) is None


def non_dali_backend(repository: Path, name: str) -> str | None:
    """``'backend python'``, ``'platform onnxruntime_onnx'``... for a model whose config.pbtxt
    names another backend (Triton serves it, not this worker), else None. A config that does not
    parse counts as DALI: its error shows when the model loads, not hidden here."""
    try:
        text = config_text(repository, name)
        config = None if text is None else model_config.parse_text(text, name)
    except (ConfigError, OSError, UnicodeDecodeError):
        return None
    return None if config is None else model_config.other_backend(config)
