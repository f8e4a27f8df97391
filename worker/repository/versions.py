"""Which versions of a model are served, as Triton decides it, and what each version's files
look like now (for live reload).

Triton's ``version_policy`` in config.pbtxt (model_config.proto, ``ModelVersionPolicy``):

- ``latest { num_versions: N }``: the N numerically highest versions; the default is latest 1;
- ``all``: every version present;
- ``specific { versions: [...] }``: exactly those; a listed version that has no folder is not
  served (Triton fails to load that version, the others still serve).

Only numeric folders are versions. A version's *fingerprint* is the name, size and modification
time of every file under its folder plus the model's config.pbtxt: Triton's poll mode reloads a
version when its folder changes, and every version when config.pbtxt changes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import find, model_config
from .errors import ConfigError, ModelNotFoundError, RepositoryError
from .load import config_text

log = logging.getLogger(__name__)


def policy_of(config):
    """The ModelVersionPolicy of a parsed config, or None (Triton's default: latest 1)."""
    if config is None or not config.HasField("version_policy"):
        return None
    return config.version_policy


def describe_policy(policy) -> str:
    """``latest 1``, ``all``, ``specific [1, 3]``: the policy as the pipelines command shows it."""
    choice = None if policy is None else policy.WhichOneof("policy_choice")
    if choice == "all":
        return "all"
    if choice == "specific":
        return f"specific {sorted(policy.specific.versions)}"
    n = policy.latest.num_versions if choice == "latest" else 1
    return f"latest {max(n, 1)}"


def check_policy(policy, model: str) -> None:
    """Refuse policies Triton refuses: ``latest`` with num_versions below 1, an empty ``specific``."""
    choice = None if policy is None else policy.WhichOneof("policy_choice")
    if choice == "latest" and policy.latest.num_versions < 1:
        raise ConfigError(f"model {model!r}: version_policy latest {{ num_versions: "
                          f"{policy.latest.num_versions} }} serves nothing: set num_versions >= 1")
    if choice == "specific" and not policy.specific.versions:
        raise ConfigError(f"model {model!r}: version_policy specific {{ }} lists no version: "
                          f"list them, e.g. specific {{ versions: [1, 2] }}")


def served_versions(repository: Path, name: str) -> list[int]:
    """The versions config.pbtxt's ``version_policy`` serves, ascending. Raises a
    RepositoryError when there are none (naming the versions present and the policy)."""
    find.model_dir(repository, name)
    present = find.model_versions(repository, name)
    if not present:
        raise ModelNotFoundError(f"model {name!r} has no version folder: put the pipeline in "
                                 f"{name}/1/dali.py or {name}/1/model.dali")
    text = config_text(repository, name)
    policy = policy_of(None if text is None else model_config.parse_config(text, name))
    check_policy(policy, name)
    served = find.allowed_versions(present, policy)
    if policy is not None and policy.WhichOneof("policy_choice") == "specific":
        missing = sorted(set(policy.specific.versions) - set(present))
        if missing:
            log.warning("model %s: version_policy names versions %s that have no folder; they are "
                        "not served", name, ", ".join(map(str, missing)))
    if not served:
        raise ModelNotFoundError(f"model {name!r}: config.pbtxt's version_policy "
                                 f"({describe_policy(policy)}) serves none of the versions present "
                                 f"({', '.join(map(str, present))})")
    return served


@dataclass(frozen=True)
class ModelFiles:
    """What a model's files look like now: the versions served and a fingerprint of each."""

    name: str
    versions: dict[int, tuple]     # served version -> fingerprint
    error: str | None = None       # why the served set could not be read (a bad config.pbtxt)


def _files_of(folder: Path) -> tuple:
    entries = []
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts:   # written by importing dali.py: not a change
            continue
        try:
            st = path.stat()
        except OSError:   # removed while we look: the next poll sees the rest
            continue
        if path.is_file():
            entries.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def snapshot(repository: Path, name: str) -> ModelFiles:
    """The model's served versions and their fingerprints, read from the files (no import)."""
    repository = Path(repository)
    try:
        served = served_versions(repository, name)
    except RepositoryError as e:
        return ModelFiles(name, {}, str(e))
    config = repository / name / "config.pbtxt"
    try:
        st = config.stat()
        config_fp = (st.st_size, st.st_mtime_ns)
    except OSError:
        config_fp = None
    return ModelFiles(name, {v: (config_fp, _files_of(repository / name / str(v))) for v in served})


@dataclass(frozen=True)
class Changes:
    """What differs between two snapshots of one model."""

    added: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def diff(old: ModelFiles, new: ModelFiles) -> Changes:
    """Versions added to, changed in and removed from the served set."""
    return Changes(
        added=tuple(v for v in sorted(new.versions) if v not in old.versions),
        changed=tuple(v for v in sorted(new.versions)
                      if v in old.versions and old.versions[v] != new.versions[v]),
        removed=tuple(v for v in sorted(old.versions) if v not in new.versions))
