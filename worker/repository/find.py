"""Find models, versions and pipeline files in a Triton DALI-backend model repository.

Layout (as Triton reads it)::

    <repository>/<model>/config.pbtxt          optional
    <repository>/<model>/<version>/model.dali  serialized pipeline (or default_model_filename)
    <repository>/<model>/<version>/dali.py     or a Python file with one @autoserialize pipeline

File precedence inside a version folder follows the DALI backend (``DaliModel::LoadModel`` in
src/dali_model.h): the file named by ``default_model_filename`` (default ``model.dali``) as a
serialized pipeline; if that name ends in ``.py``, that file autoserialized (the backend tries
any name, but its ``importlib.util.spec_from_file_location`` finds no loader for other
suffixes); failing that -- missing, or failing to load -- ``dali.py`` autoserialized.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError, RepositoryError

DEFAULT_MODEL_FILENAME = "model.dali"
AUTOSERIALIZE_FILENAME = "dali.py"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def default_repository() -> Path:
    """``$DSW_REPOSITORY`` if set, else ``./pipelines``."""
    return Path(os.environ.get("DSW_REPOSITORY") or "pipelines")


def validate_name(name: str, what: str = "model name") -> str:
    """Accept ``[A-Za-z0-9_.-]+`` without ``..`` (no path tricks), as the DALI backend does."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name or name in (".",):
        fix = (f"rename the folder to {_renamed(name)!r}"
               if isinstance(name, str) and what == "model name" else "")
        raise RepositoryError(f"invalid {what} {name!r}: use letters, digits, '_', '.', '-' "
                              f"only, and no '..'" + (f": {fix}" if fix else ""))
    return name


@dataclass(frozen=True)
class ModelFile:
    path: Path
    kind: str          # "serialized" or "autoserialize"


def _check_repository(repository: Path) -> Path:
    repository = Path(repository)
    if not repository.is_dir():
        raise RepositoryError(f"model repository {str(repository)!r} is not a folder: pass "
                              f"--repository DIR or set DSW_REPOSITORY")
    return repository


def list_models(repository: Path) -> list[str]:
    """Names of the model folders that hold at least one numeric version folder."""
    repository = _check_repository(repository)
    names = []
    for d in sorted(repository.iterdir()):
        if d.is_dir() and _valid(d.name) and model_versions(repository, d.name):
            names.append(d.name)
    return names


def misnamed_models(repository: Path) -> list[str]:
    """Model folders (with a numeric version folder) whose names the worker does not take
    (spaces, non-ASCII, ...): listed as skipped, never silently left out."""
    repository = _check_repository(repository)
    return [d.name for d in sorted(repository.iterdir())
            if d.is_dir() and not _valid(d.name)
            and any(v.is_dir() and v.name.isdigit() for v in d.iterdir())]


def name_problem(name: str) -> str:
    """Why a model folder's name is refused, and the fix (one line)."""
    return (f"model folder {name!r}: its name has characters the worker does not take (use "
            f"letters, digits, '_', '.', '-' only, as in Triton's DALI backend's file names): "
            f"rename the folder, e.g. {_renamed(name)!r}")


def _valid(name: str) -> bool:
    return bool(_NAME.match(name)) and ".." not in name


def _renamed(name: str) -> str:
    """``name`` with each run of characters the worker does not take as one '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "model"


def model_dir(repository: Path, name: str) -> Path:
    repository = _check_repository(repository)
    d = repository / validate_name(name)
    if not d.is_dir():
        known = ", ".join(list_models(repository)) or "none"
        raise ModelNotFoundError(f"model {name!r} not found in repository {str(repository)!r} "
                                 f"(models there: {known})")
    return d


def model_versions(repository: Path, name: str) -> list[int]:
    """Numeric version folders of a model, ascending (Triton ignores other folders)."""
    d = Path(repository) / validate_name(name)
    if not d.is_dir():
        return []
    return sorted(int(v.name) for v in d.iterdir() if v.is_dir() and v.name.isdigit())


def allowed_versions(versions: list[int], policy=None) -> list[int]:
    """Apply a Triton ``version_policy`` (a ModelVersionPolicy message or None = latest 1)."""
    if policy is None or policy.WhichOneof("policy_choice") in (None, "latest"):
        n = policy.latest.num_versions if policy is not None and policy.HasField("latest") else 1
        return versions[-max(n, 1):]
    if policy.WhichOneof("policy_choice") == "all":
        return list(versions)
    wanted = set(policy.specific.versions)
    return [v for v in versions if v in wanted]


def choose_version(repository: Path, name: str, version: int | None = None, policy=None,
                   served_only: bool = False) -> int:
    """The pinned ``version`` if it exists (and, with ``served_only``, the policy serves it:
    every command serves the versions ``run`` serves), else the highest version the policy
    serves."""
    model_dir(repository, name)
    versions = model_versions(repository, name)
    if not versions:
        raise ModelNotFoundError(f"model {name!r} has no version folder: put the pipeline in "
                                 f"{name}/1/dali.py or {name}/1/model.dali")
    if version is not None:
        if version not in versions:
            raise ModelNotFoundError(f"model {name!r} has no version {version} (versions: "
                                     f"{', '.join(map(str, versions))}); pin an existing one")
        served = allowed_versions(versions, policy)
        if served_only and version not in served:
            raise ModelNotFoundError(f"model {name!r}: version {version} is not served: config.pbtxt's "
                                     f"version_policy serves {', '.join(map(str, served)) or 'none'} "
                                     f"of the versions present ({', '.join(map(str, versions))}); pin "
                                     f"a served version, or change version_policy")
        return version
    served = allowed_versions(versions, policy)
    if not served:
        raise ModelNotFoundError(f"model {name!r}: config.pbtxt's version_policy serves none of "
                                 f"the versions present ({', '.join(map(str, versions))})")
    return served[-1]


def model_file_candidates(version_dir: Path, default_model_filename: str = "",
                          model: str = "") -> list[ModelFile]:
    """The pipeline files present in one version folder, in the order the DALI backend tries
    them: the default file, then ``dali.py``; a loader takes the first that loads."""
    filename = default_model_filename or DEFAULT_MODEL_FILENAME
    validate_name(filename, f"default_model_filename of model {model!r}")
    found = []
    candidate = version_dir / filename
    if candidate.is_file():
        found.append(ModelFile(candidate, "autoserialize" if filename.endswith(".py") else "serialized"))
    fallback = version_dir / AUTOSERIALIZE_FILENAME
    if fallback.is_file() and fallback != candidate:
        found.append(ModelFile(fallback, "autoserialize"))
    if found:
        return found
    raise ModelNotFoundError(f"model {model!r}: no pipeline in {str(version_dir)!r}: expected "
                             f"{filename} (serialized, or Python if it ends in .py) or "
                             f"{AUTOSERIALIZE_FILENAME} with one @autoserialize pipeline")


def find_model_file(version_dir: Path, default_model_filename: str = "", model: str = "") -> ModelFile:
    """The first pipeline file of one version folder, by the DALI backend's precedence."""
    return model_file_candidates(version_dir, default_model_filename, model)[0]
