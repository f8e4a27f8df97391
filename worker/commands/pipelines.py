"""List the pipelines of a model repository: versions, the served version, inputs and outputs
(name, data type, dims) and max batch size, as the worker would load them.

The repository is --repository, else $DSW_REPOSITORY, else ./pipelines. Each model is loaded
(Python pipelines are serialized with DALI_DEVICE from --device), so errors in a model's
config.pbtxt or pipeline show here, with the fix.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--repository", type=Path, default=None,
                   help="model repository (default: $DSW_REPOSITORY, else ./pipelines)")
    p.add_argument("--device", default=os.environ.get("DSW_DEVICE", "cpu"),
                   help="cpu or a GPU id to load with (default: $DSW_DEVICE, else cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(repository: Path, name: str, device) -> dict:
    """What the `pipelines` command shows for one model (also handy for routing)."""
    from worker.repository.errors import RepositoryError
    from worker.repository.find import model_versions
    from worker.repository.load import load_model
    from worker.repository.model_config import type_name

    entry = {"name": name, "versions": model_versions(repository, name)}
    try:
        m = load_model(repository, name, device=device, num_threads=1)
    except RepositoryError as e:
        entry["error"] = str(e)
        return entry

    def tensors(items):
        return [{"name": t.name, "data_type": type_name(t.data_type), "dims": list(t.dims)} for t in items]

    entry.update(version=m.version, source=str(m.source), max_batch_size=m.max_batch_size,
                 inputs=tensors(m.config.input), outputs=tensors(m.config.output),
                 needs_gpu=m.info.needs_gpu)
    return entry


def main(args) -> int:
    from worker.repository.errors import RepositoryError
    from worker.repository.find import default_repository, list_models
    from worker.repository.load import normalize_device

    repository = args.repository or default_repository()
    try:
        names = list_models(repository)
    except RepositoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    entries = [describe(repository, n, normalize_device(args.device)) for n in names]
    if args.json:
        print(json.dumps({"repository": str(repository), "models": entries}, indent=2))
    else:
        print(f"repository {repository}: {len(entries)} model(s)")
        for e in entries:
            versions = ",".join(map(str, e["versions"]))
            if "error" in e:
                print(f"\n{e['name']} (versions {versions}): ERROR {e['error']}")
                continue
            print(f"\n{e['name']}  version {e['version']} of [{versions}]  max_batch_size "
                  f"{e['max_batch_size']}  ({Path(e['source']).name})")
            for kind in ("inputs", "outputs"):
                for t in e[kind]:
                    print(f"  {kind[:-1]:6} {t['name']:<16} {t['data_type']:<10} {t['dims']}")
    return 1 if any("error" in e for e in entries) else 0
