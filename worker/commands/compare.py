"""Check that a served pipeline gives the tensors the model was validated with.

Builds your validation pipeline (the @pipeline_def of your training script) reading DIR with
its own reader, as in training, and runs the served model's pipeline on the same files in the
same order, through the worker's own feeds (ragged and padded, as `run` feeds a topic's
messages). For each output: the shapes, the largest absolute and relative difference, and the
first files that differ. Exit 0 when every output is within --atol, 1 when one is not (or a
file fails), 2 for a mistake in the command line.

  dali-worker compare efficientnet_preprocess --repository examples/training_to_serving/repository \\
      --reference examples/training_to_serving/validation.py:validation_pipe \\
      --data photos/ --arg dali_cpu=True

FILE.py is imported (run) as Python: a training script that trains at import needs an
`if __name__ == "__main__":` guard. DIR goes to the function's data parameter (data_dir,
file_root, data_path, data, root or path; or name it with --data-arg); other parameters come
from --arg NAME=VALUE (Python literals; `types.INTERP_CUBIC` for DALI's types). The file each
sample came from is the reader's source_info, so a shuffling or sharded reader is compared
file by file too.

Outputs are paired by name when the served outputs carry the reference's names, else by
position among outputs of the same rank; reference outputs left over (the labels of
fn.readers.file) are dropped and said so. Pair them yourself with --match SERVED=INDEX.
A served pipeline that holds a reader or a random operator is named in the report: its
outputs change from run to run.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from worker.commands.try_pipeline import UsageError, _pick_input, _values

DATA_PARAMS = ("data_dir", "file_root", "data_path", "data", "root", "path")
FEEDS = {"ragged": ("ragged",), "padded": ("padded",), "both": ("ragged", "padded")}


def add_arguments(p) -> None:
    p.add_argument("model", help="model name in the repository (the served pipeline)")
    p.add_argument("--reference", required=True, metavar="FILE.py:FUNCTION",
                   help="the validation pipeline: a @pipeline_def function of your training script")
    p.add_argument("--data", required=True, type=Path, metavar="DIR",
                   help="folder the reference reads with its own reader (fn.readers.file: one "
                        "subfolder per class)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                   help="an argument of FUNCTION, a Python literal (dali_cpu=True, image_size=224) "
                        "or types.NAME (interpolation=types.INTERP_LINEAR); repeat for more")
    p.add_argument("--data-arg", default=None, metavar="NAME",
                   help=f"the parameter DIR goes to (default: the first of {', '.join(DATA_PARAMS)})")
    p.add_argument("--atol", type=float, default=1e-5,
                   help="largest absolute difference accepted (default 1e-5: float32 rounding of "
                        "values near 1; 0 asks for bit-identical outputs)")
    p.add_argument("--device", default=os.environ.get("DSW_DEVICE", "cpu"),
                   help="cpu or a GPU id, for both pipelines (default: $DSW_DEVICE, else cpu)")
    p.add_argument("--repository", type=Path, default=None,
                   help="model repository (default: $DSW_REPOSITORY, else ./pipelines)")
    p.add_argument("--version", type=int, default=None, help="model version (default: the one served)")
    p.add_argument("--feed", choices=tuple(FEEDS), default="both",
                   help="the worker's feeds to check (default both)")
    p.add_argument("--match", action="append", default=[], metavar="SERVED=INDEX",
                   help="pair a served output with the reference output at INDEX (0-based); "
                        "reference outputs paired with none are dropped")
    p.add_argument("--input", dest="input_name", default=None,
                   help="served input the files feed (default: the model's only uint8 1-D input)")
    p.add_argument("--value", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="the same value for another served input of every sample")
    p.add_argument("--max-files", type=int, default=0, metavar="N",
                   help="compare the reader's first N files only (default: its whole epoch)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the model's)")
    p.add_argument("--threads", type=int, default=None, help="DALI CPU threads (default: the model's)")
    p.add_argument("--show", type=int, default=3, metavar="N",
                   help="files named per differing output (default 3)")


# -- the reference pipeline -------------------------------------------------------------------
def parse_arg(item: str) -> tuple[str, object]:
    """``NAME=VALUE``: a Python literal, ``types.NAME`` (nvidia.dali.types), else the string."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise UsageError(f"--arg {item!r}: use NAME=VALUE, e.g. --arg image_size=224")
    text = text.strip()
    if text.startswith("types."):
        from nvidia.dali import types

        value = getattr(types, text[len("types."):], None)
        if value is None:
            raise UsageError(f"--arg {item!r}: nvidia.dali.types has no {text[6:]!r}")
        return name, value
    try:
        return name, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return name, text


def import_reference(spec: str):
    """``FILE.py:FUNCTION`` -> the function, imported as the DALI backend imports a dali.py."""
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text or not func_name:
        raise UsageError(f"--reference {spec!r}: use FILE.py:FUNCTION, e.g. "
                         f"train.py:validation_pipe")
    path = Path(path_text)
    if not path.is_file() or path.suffix != ".py":
        raise UsageError(f"--reference {spec!r}: {path_text} is not a .py file")
    module_name = "_dsw_reference_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    sys.path.insert(0, str(path.resolve().parent))   # a training script imports its siblings
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except Exception as e:
        raise UsageError(f"--reference: importing {path} failed: {type(e).__name__}: {e} (compare "
                         f"imports the file; move the pipeline to a module without the training "
                         f"imports, or install them)") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    func = getattr(module, func_name, None)
    if not callable(func):
        funcs = sorted(n for n, v in vars(module).items() if getattr(v, "_is_pipeline_def", False))
        raise UsageError(f"--reference {spec!r}: {path} has no function {func_name!r} (its "
                         f"@pipeline_def functions: {', '.join(funcs) or 'none'})")
    return func


def reference_kwargs(func, data: Path, args: dict, data_arg: str | None) -> tuple[dict, str]:
    """The keyword arguments of FUNCTION: DIR under its data parameter, then --arg values.
    Refuses unknown and missing parameters, naming the function's own."""
    params = inspect.signature(getattr(func, "__wrapped__", func)).parameters
    open_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
    names = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    listed = ", ".join(names) or "none"
    if data_arg is None:
        data_arg = next((n for n in DATA_PARAMS if n in names), None)
        if data_arg is None:
            raise UsageError(f"{func.__name__}({listed}) has no data folder parameter "
                             f"({', '.join(DATA_PARAMS)}): name the one the reader's file_root "
                             f"comes from with --data-arg NAME")
    elif data_arg not in names and not open_kwargs:
        raise UsageError(f"--data-arg {data_arg}: {func.__name__} has no parameter {data_arg!r} "
                         f"(parameters: {listed})")
    if data_arg in args:
        raise UsageError(f"--arg {data_arg}=... : {data_arg} is the data folder, give it once "
                         f"with --data DIR")
    unknown = [n for n in args if n not in names and not open_kwargs]
    if unknown:
        raise UsageError(f"--arg {unknown[0]}: {func.__name__} has no parameter {unknown[0]!r} "
                         f"(parameters: {listed})")
    kwargs = {data_arg: str(data), **args}
    missing = [n for n, p in params.items() if p.default is p.empty and n not in kwargs
               and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if missing:
        raise UsageError(f"{func.__name__} needs {', '.join(missing)}: give "
                         f"{' '.join('--arg ' + n + '=VALUE' for n in missing)}")
    return kwargs, data_arg


def build_reference(func, kwargs: dict, batch_size: int, threads: int, device):
    """The built reference Pipeline. A @pipeline_def function gets batch size, threads and
    device from here (a GPU id, or None for the CPU); a plain function must return a Pipeline."""
    from nvidia.dali import Pipeline

    try:
        if getattr(func, "_is_pipeline_def", False):
            pipe = func(**kwargs, batch_size=batch_size, num_threads=threads,
                        device_id=None if device == "cpu" else device)
        else:
            pipe = func(**kwargs)
        if not isinstance(pipe, Pipeline):
            raise UsageError(f"--reference: {func.__name__} returned {type(pipe).__name__}, not a "
                             f"DALI Pipeline: point it at the @pipeline_def function")
        pipe.build()
    except UsageError:
        raise
    except Exception as e:
        from worker.pipeline.runner import dali_message

        text = dali_message(e)[:600]
        gpu = device == "cpu" and any(w in text.lower() for w in ("mixed", "gpu", "cuda"))
        hint = (" (the reference uses GPU operators: run with --device GPU_ID, or give it a CPU "
                "form, a parameter choosing device='cpu', as the example's --arg dali_cpu=True)"
                if gpu else "")
        if "No files found" in text:
            hint = " (fn.readers.file with file_root reads one subfolder per class: put the files in DIR/<class>/)"
        raise UsageError(f"--reference: DALI could not build {func.__name__}: {text}{hint}") from None
    return pipe


@dataclass
class Reader:
    name: str
    files: int            # samples of this shard's epoch
    shuffled: bool


def reader_of(pipe) -> Reader:
    meta = pipe.reader_meta() or {}
    if not meta:
        raise UsageError("--reference: the pipeline has no reader; compare needs the validation "
                         "pipeline as training runs it, reading --data with fn.readers.file")
    name, m = next(iter(meta.items()))
    total, shards, shard = int(m["epoch_size"]), max(int(m["number_of_shards"]), 1), int(m["shard_id"])
    files = total * (shard + 1) // shards - total * shard // shards
    shuffled = any(op.schema.startswith("readers__") and op.bools.get("random_shuffle")
                   for op in _ops(pipe))
    return Reader(name, files, shuffled)


def _ops(pipe):
    from worker.repository.serialized import operators

    try:
        return operators(pipe.serialize())
    except Exception:
        return ()


# -- outputs, paired --------------------------------------------------------------------------
@dataclass
class Pairing:
    pairs: list[tuple[str, int, str]]            # (served output, reference index, how)
    dropped: list[int]                           # reference outputs compared with nothing
    unpaired: list[str]                          # served outputs with no reference


def pair_outputs(served: list[str], served_ndim: dict, ref_names: list[str], ref_ndim: list[int],
                 explicit: list[str]) -> Pairing:
    """--match first; then served outputs that carry a reference output's name; then by
    position among reference outputs of the same rank."""
    pairs, used = [], set()
    for item in explicit:
        name, sep, index = item.partition("=")
        if not sep or name not in served or not index.strip().isdigit() or int(index) >= len(ref_names):
            raise UsageError(f"--match {item!r}: use SERVED=INDEX with SERVED one of "
                             f"{', '.join(served)} and INDEX 0..{len(ref_names) - 1}")
        pairs.append((name, int(index), "--match"))
        used.add(int(index))
    done = {p[0] for p in pairs}
    for name in served:
        if name not in done and name in ref_names and ref_names.index(name) not in used:
            pairs.append((name, ref_names.index(name), "by name"))
            used.add(ref_names.index(name))
            done.add(name)
    unpaired = []
    for name in served:
        if name in done:
            continue
        nxt = next((i for i in range(len(ref_names)) if i not in used and ref_ndim[i] == served_ndim[name]), None)
        if nxt is None:
            unpaired.append(name)
            continue
        pairs.append((name, nxt, "by position"))
        used.add(nxt)
    pairs.sort(key=lambda p: served.index(p[0]))
    return Pairing(pairs, [i for i in range(len(ref_names)) if i not in used], unpaired)


@dataclass
class Diff:
    """One served output on one feed against its reference output, over all files."""
    compared: int = 0
    differ: int = 0
    failed: int = 0
    max_abs: float = 0.0
    ref_peak: float = 0.0
    shapes: set = field(default_factory=set)           # (reference shape, served shape)
    dtypes: set = field(default_factory=set)
    first: list = field(default_factory=list)          # (file, what)

    @property
    def max_rel(self) -> float:
        return self.max_abs / self.ref_peak if self.ref_peak else (0.0 if not self.max_abs else float("inf"))

    def add(self, file: str, ref, got, atol: float, show: int) -> None:
        import numpy as np

        self.compared += 1
        self.shapes.add((tuple(ref.shape), tuple(got.shape)))
        self.dtypes.add((ref.dtype.name, got.dtype.name))
        if ref.shape != got.shape:
            self.differ += 1
            self.max_abs = float("inf")
            self._note(file, "another shape", show)
            return
        r, g = ref.astype(np.float64), got.astype(np.float64)
        worst = float(np.max(np.abs(r - g))) if r.size else 0.0
        if r.size:
            self.ref_peak = max(self.ref_peak, float(np.max(np.abs(r))))
        self.max_abs = max(self.max_abs, worst)
        if worst > atol:
            self.differ += 1
            self._note(file, f"max abs {worst:.4g}", show)

    def fail(self, file: str, error: str, show: int) -> None:
        self.failed += 1
        self._note(file, f"served pipeline failed: {error}", show)

    def _note(self, file: str, what: str, show: int) -> None:
        if len(self.first) < show:
            self.first.append((file, what))


def _shape_text(shapes: set, side: int) -> str:
    seen = {s[side] for s in shapes}
    if len(seen) == 1:
        return str(list(next(iter(seen))))
    return f"{len(seen)} shapes"


def _num(x: float) -> str:
    return "0" if x == 0 else ("inf" if x == float("inf") else f"{x:.3g}")


# -- the run ----------------------------------------------------------------------------------
def _source(tensor_lists, i: int) -> str:
    for tl in tensor_lists:
        try:
            info = tl[i].source_info()
        except Exception:
            info = ""
        if info:
            return info
    return ""


def _resolve(data: Path, info: str) -> Path:
    p = Path(info)
    return p if p.is_absolute() else data / p


def main(args) -> int:
    try:
        return _main(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _main(args) -> int:
    from worker.pipeline.outputs import to_host
    from worker.pipeline.runner import PipelineRunner
    from worker.repository import training_ops
    from worker.repository.errors import RepositoryError
    from worker.repository.find import default_repository
    from worker.repository.load import load_model

    if not args.data.is_dir():
        raise UsageError(f"--data {args.data}: not a folder")
    if args.atol < 0:
        raise UsageError(f"--atol {args.atol}: use 0 or more")
    func = import_reference(args.reference)
    kwargs, data_arg = reference_kwargs(func, args.data, dict(parse_arg(a) for a in args.arg),
                                        args.data_arg)
    repository = args.repository or default_repository()
    try:
        model = load_model(repository, args.model, args.version, device=args.device,
                           num_threads=args.threads, max_batch_size=args.batch_size)
    except RepositoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    media_input = _pick_input(model, args.input_name)
    fixed = _values(model, args.value, media_input)
    pipe = build_reference(func, kwargs, model.max_batch_size, model.num_threads, model.device)
    reader = reader_of(pipe)
    total = min(reader.files, args.max_files) if args.max_files > 0 else reader.files
    if total <= 0:
        raise UsageError(f"--data {args.data}: the reference's reader {reader.name!r} finds no files "
                         f"there (fn.readers.file wants one subfolder per class)")
    runners = {feed: PipelineRunner(model, feed=feed) for feed in FEEDS[args.feed]}
    served_ndim = {o.name: o.ndim for o in model.outputs}
    ref_names = [n for n, _ in getattr(pipe, "_names_and_devices", [])] or []

    pairing, diffs, ref_info, files = None, {}, [], []
    while len(files) < total:
        outs = pipe.run()
        n = min(len(outs[0]), total - len(files))
        sources = [_source(outs, i) for i in range(n)]
        if not all(sources):
            raise UsageError("--reference: the pipeline's outputs do not say which file each sample "
                             "came from (DALI's source_info is empty): compare needs a reader of "
                             "files, such as fn.readers.file")
        host = [to_host(tl)[:n] for tl in outs]
        if pairing is None:
            if len(ref_names) != len(host):
                ref_names = [f"output {i}" for i in range(len(host))]
            ref_info = [(host[i][0].dtype.name, list(host[i][0].shape)) for i in range(len(host))]
            pairing = pair_outputs(model.output_names, served_ndim, ref_names,
                                   [host[i][0].ndim for i in range(len(host))], args.match)
            diffs = {(name, feed): Diff() for name, _, _ in pairing.pairs for feed in runners}
        paths = [_resolve(args.data, s) for s in sources]
        samples = [{media_input: p.read_bytes(), **fixed} for p in paths]
        for feed, runner in runners.items():
            results = runner.run(samples)
            for j, res in enumerate(results):
                for name, ref_index, _ in pairing.pairs:
                    d = diffs[(name, feed)]
                    if not res.ok:
                        d.fail(sources[j], res.error, args.show)
                    else:
                        d.add(sources[j], host[ref_index][j], res.outputs[name], args.atol, args.show)
        files.extend(sources)
    for runner in runners.values():
        runner.close()

    print(report(args, model, func, kwargs, data_arg, reader, files, pairing, ref_names, ref_info,
                 diffs, training_ops.find(model.serialized)))
    bad = not pairing.pairs or any(d.differ or d.failed for d in diffs.values())
    return 1 if bad else 0


def report(args, model, func, kwargs, data_arg, reader, files, pairing, ref_names, ref_info,
           diffs, training) -> str:
    lines = [f"served:    model {model.name} version {model.version} ({model.source}) on {model.device}"]
    shown = ", ".join(f"{k}={'DIR' if k == data_arg else repr(v)}" for k, v in kwargs.items())
    lines.append(f"reference: {args.reference}({shown})")
    order = "shuffled: compared file by file" if reader.shuffled else "in the reader's order"
    lines.append(f"data:      {len(files)} files of {args.data} read by reader {reader.name!r} ({order})")
    for name, i, how in pairing.pairs:
        lines.append(f"outputs:   {name} <- reference output {i} {ref_names[i]!r} ({how})")
    for i in pairing.dropped:
        dtype, shape = ref_info[i]
        lines.append(f"dropped:   reference output {i} {ref_names[i]!r} ({dtype} {shape}, labels?): "
                     f"no served output takes it")
    for name in pairing.unpaired:
        lines.append(f"unpaired:  served output {name!r}: no reference output of its rank; pair it "
                     f"with --match {name}=INDEX")
    for op in training:
        lines.append(f"WARNING:   the served pipeline contains {op.describe()}: it belongs to "
                     f"training, not serving")
    if not pairing.pairs:
        lines.append("result:    NOTHING COMPARED: no served output pairs with a reference output")
        return "\n".join(lines)
    width = max(22, *(len(name) + 2 for name, _ in diffs))
    header = f"  {'output':<{width}}{'feed':<8}{'files':>6}  {'served shape':<16}{'max abs':>10}{'max rel':>10}{'differ':>8}"
    lines += ["", header]
    for (name, feed), d in diffs.items():
        shape = _shape_text(d.shapes, 1)
        lines.append(f"  {name:<{width}}{feed:<8}{d.compared:>6}  {shape:<16}{_num(d.max_abs):>10}"
                     f"{_num(d.max_rel):>10}{d.differ + d.failed:>8}")
    notes: dict[tuple[str, str], list[str]] = {}      # the same note on both feeds: once
    for (name, feed), d in diffs.items():
        texts = []
        if any(r != s for r, s in d.dtypes):
            ref_t, got_t = next((r, s) for r, s in d.dtypes if r != s)
            texts.append(f"dtype {got_t}, reference {ref_t}")
        if any(r != s for r, s in d.shapes):
            texts.append(f"shape {_shape_text(d.shapes, 1)}, reference {_shape_text(d.shapes, 0)}")
        if d.first:
            more = d.differ + d.failed - len(d.first)
            texts.append("; ".join(f"{f} ({w})" for f, w in d.first) + (f"; and {more} more" if more > 0 else ""))
        for text in texts:
            notes.setdefault((name, text), []).append(feed)
    if notes:
        lines += ["", "first files that differ (max rel: max abs / largest |reference value|):"]
        lines += [f"  {name} ({', '.join(feeds)}): {text}" for (name, text), feeds in notes.items()]
    lines.append("")
    bad = [k for k, d in diffs.items() if d.differ or d.failed]
    if bad:
        names = sorted({k[0] for k in bad})
        lines.append(f"result:    DIFFERENT: {', '.join(names)} beyond --atol {args.atol:g} (the served "
                     f"pipeline is not the validated one)")
    elif all(d.max_abs == 0 for d in diffs.values()):
        lines.append(f"result:    IDENTICAL: {len(files)} files, every output bit for bit")
    else:
        worst = max(d.max_abs for d in diffs.values())
        lines.append(f"result:    SAME within --atol {args.atol:g} (max abs {worst:.3g})")
    return "\n".join(lines)
