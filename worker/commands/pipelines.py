"""List the pipelines of a model repository.

The repository is trusted code: loading a model imports (executes) its dali.py or other .py
pipeline file, which runs with the rights of this process (the worker's, under `dali-worker
run`). So by default nothing is imported: for each model this lists its versions, the versions
served (config.pbtxt's version_policy, as Triton applies it: default latest 1), the pipeline
file of the highest and what config.pbtxt says; a serialized model.dali is read too
(parsing it runs no code) for its batch size, inputs and outputs.

Name models (`dali-worker pipelines classify crop_window`), or pass --load for all of them, to
load them as the worker would: Python pipelines are imported and serialized with DALI_DEVICE
from --device, and each shows its inputs and outputs (name, data type, dims) and max batch size,
or its errors in config.pbtxt or the pipeline, with the fix.

Models of other backends (config.pbtxt's backend or platform is onnxruntime_onnx, python,
ensemble, ...) are Triton's to serve, and are listed as skipped. The exit status is 1 when a
DALI model has an error, else 0. The repository is --repository, else $DSW_REPOSITORY, else
./pipelines.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("names", nargs="*", metavar="MODEL",
                   help="models to load (imports their Python pipelines); default: list all "
                        "models without importing any")
    p.add_argument("--load", action="store_true",
                   help="load every DALI model (imports their Python pipelines: trusted code)")
    p.add_argument("--repository", type=Path, default=None,
                   help="model repository (default: $DSW_REPOSITORY, else ./pipelines)")
    p.add_argument("--device", default=os.environ.get("DSW_DEVICE", "cpu"),
                   help="cpu or a GPU id to load with (default: $DSW_DEVICE, else cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _tensors(items) -> list[dict]:
    from worker.repository.model_config import type_name

    return [{"name": t.name, "data_type": type_name(t.data_type) if t.data_type else None,
             "dims": list(t.dims) or None} for t in items]


def describe(repository: Path, name: str, device) -> dict:
    """What the `pipelines` command shows for one loaded model (also handy for routing).
    Loading imports the model's Python pipeline file: the repository is trusted code."""
    from worker.repository.errors import RepositoryError
    from worker.repository.find import model_versions
    from worker.repository.load import load_model

    entry = {"name": name, "versions": [], "loaded": True}
    try:
        entry["versions"] = model_versions(repository, name)
        entry.update(_served(repository, name))
        for v in entry["served"]:   # each served version must load, as the worker loads them all
            m = load_model(repository, name, version=v, device=device, num_threads=1)
    except RepositoryError as e:
        entry["error"] = str(e)
        return entry
    types = {t["name"]: t["data_type"] for t in _tensors(m.config.output)}
    notes = [f"output {n!r}: data_type {types.get(n)} is config.pbtxt's; the pipeline declares "
             f"none (@pipeline_def(output_dtype=[...])), so it is checked at the first batch, "
             f"which warns naming both if they differ" for n in m.unchecked_dtypes]
    if notes:
        entry["notes"] = notes
    entry.update(version=m.version, source=str(m.source), batched=m.batched,
                 max_batch_size=m.max_batch_size if m.batched else 0,
                 inputs=_tensors(m.config.input), outputs=_tensors(m.config.output),
                 needs_gpu=m.info.needs_gpu)
    return entry


def _served(repository: Path, name: str) -> dict:
    """``served``: the versions the version_policy serves; ``policy``: the policy in words."""
    from worker.repository import model_config
    from worker.repository.load import config_text
    from worker.repository.versions import describe_policy, policy_of, served_versions

    text = config_text(repository, name)
    policy = policy_of(None if text is None else model_config.parse_config(text, name))
    return {"served": served_versions(repository, name), "policy": describe_policy(policy)}


def summarize(repository: Path, name: str) -> dict:
    """One model as its files say, without importing any Python: versions, the version served,
    the pipeline file, config.pbtxt's max_batch_size, inputs and outputs, and for a serialized
    pipeline what it declares."""
    from worker.repository import find, model_config
    from worker.repository.errors import RepositoryError
    from worker.repository.load import _check_config_batch_size, config_text
    from worker.repository.serialized import deserialize_problem, read_serialized

    entry = {"name": name, "versions": find.model_versions(repository, name), "loaded": False}
    try:
        text = config_text(repository, name)
        config = None if text is None else model_config.parse_config(text, name)
        _check_config_batch_size(text, name)
        entry.update(_served(repository, name))
        version = entry["served"][-1]
        candidates = find.model_file_candidates(find.model_dir(repository, name) / str(version),
                                                config.default_model_filename if config else "", name)
        entry.update(version=version, config=config is not None,
                     max_batch_size=None if text is None else model_config.explicit_max_batch_size(text),
                     inputs=_tensors(config.input) if config else [],
                     outputs=_tensors(config.output) if config else [])
        notes = []
        for i, mf in enumerate(candidates):
            data = mf.path.read_bytes() if mf.kind == "serialized" else None
            problem = None if data is None else deserialize_problem(data)
            if problem is not None and i + 1 < len(candidates):
                notes.append(f"{mf.path.name} is not a serialized DALI pipeline ({problem}): "
                             f"{candidates[i + 1].path.name} is used instead")
                continue
            entry.update(source=str(mf.path), kind=mf.kind)
            if data is not None:
                info = read_serialized(data, what=f"model {name!r} ({mf.path})")
                entry["pipeline"] = {
                    "batch_size": info.batch_size,
                    "inputs": [{"name": e.name, "data_type": model_config.TensorFacts(
                        e.name, e.dtype).triton_type, "ndim": e.ndim} for e in info.inputs],
                    "outputs": list(info.output_names), "needs_gpu": info.needs_gpu}
            break
        if notes:
            entry["notes"] = notes
    except RepositoryError as e:
        entry["error"] = str(e)
    return entry


def _print_tensor(kind: str, t: dict) -> None:
    data_type = t.get("data_type") or "-"
    dims = t["dims"] if t.get("dims") is not None else "-"
    print(f"  {kind:6} {t['name']:<16} {data_type:<10} {dims}")


def _print_entry(e: dict) -> None:
    versions = ",".join(map(str, e["versions"]))
    if "error" in e:
        print(f"\n{e['name']} (versions {versions}): ERROR {e['error']}")
        return
    served = f"  serves version(s) {', '.join(map(str, e['served']))} (version_policy {e['policy']})"
    if e["loaded"]:
        print(f"\n{e['name']}  version {e['version']} of [{versions}]  max_batch_size "
              f"{e['max_batch_size']}{'' if e['batched'] else ' (unbatched: one sample at a time)'}"
              f"  ({Path(e['source']).name})")
        print(served)
        for kind in ("inputs", "outputs"):
            for t in e[kind]:
                _print_tensor(kind[:-1], t)
        for note in e.get("notes", []):
            print(f"  note: {note}")
        return
    what = "Python, not imported" if e["kind"] == "autoserialize" else "serialized"
    print(f"\n{e['name']}  version {e['version']} of [{versions}]  {Path(e['source']).name} ({what})")
    print(served)
    for note in e.get("notes", []):
        print(f"  note: {note}")
    mbs = e["max_batch_size"]
    if not e["config"]:
        print("  no config.pbtxt: inputs, outputs and max_batch_size come from the pipeline")
    else:
        mbs = "0 (unbatched: one sample at a time)" if mbs == 0 else mbs
        print(f"  config.pbtxt: max_batch_size {mbs if mbs is not None else '(from the pipeline)'}; "
              f"{len(e['inputs'])} input(s), {len(e['outputs'])} output(s) listed")
        for kind in ("inputs", "outputs"):
            for t in e[kind]:
                _print_tensor(kind[:-1], t)
    if "pipeline" in e:
        p = e["pipeline"]
        print(f"  {Path(e['source']).name} declares batch_size {p['batch_size']}; external sources "
              + ", ".join(f"{i['name']} ({i['data_type'] or '-'}, ndim "
                          f"{'-' if i['ndim'] is None else i['ndim']})" for i in p["inputs"])
              + f"; outputs {', '.join(p['outputs'])}")


def main(args) -> int:
    from worker.repository.errors import RepositoryError
    from worker.repository.find import default_repository, misnamed_models, model_versions, name_problem
    from worker.repository.load import list_models, non_dali_backend, normalize_device

    repository = args.repository or default_repository()
    try:
        names = list_models(repository, dali_only=False)
    except RepositoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = normalize_device(args.device)
    skipped = []
    if args.names:   # asked for by name: loaded, whatever their backend (a refusal says why)
        entries = [describe(repository, n, device) for n in args.names]
    else:
        entries = []
        for n in names:
            backend = non_dali_backend(repository, n)
            if backend:
                skipped.append({"name": n, "versions": model_versions(repository, n), "backend": backend})
            else:
                entries.append(describe(repository, n, device) if args.load else summarize(repository, n))
        skipped += [{"name": n, "versions": sorted(int(v.name) for v in (repository / n).iterdir()
                                                    if v.is_dir() and v.name.isdigit()),
                     "why": name_problem(n)} for n in misnamed_models(repository)]
    if args.json:
        print(json.dumps({"repository": str(repository), "models": entries, "skipped": skipped},
                         indent=2))
    else:
        print(f"repository {repository}: {len(entries)} DALI model(s)"
              + (f", {len(skipped)} skipped" if skipped else ""))
        for e in entries:
            _print_entry(e)
        if skipped:
            print()
        for s in skipped:
            print(f"skipped: {s['name']}: {s['backend']}, served by Triton, not this worker"
                  if "backend" in s else f"skipped: {s['why']}")
        if any(not e["loaded"] and e.get("kind") == "autoserialize" for e in entries):
            print("\nPython pipelines were not imported (the repository is code that runs with "
                  "this process's rights): name models, or pass --load, to load them and see "
                  "their inputs and outputs.")
    return 1 if any("error" in e for e in entries) else 0
