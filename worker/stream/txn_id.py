"""Exactly-once: a transactional id that no other live worker on this host uses.

The default id is ``<group>-<hostname>-<slot>``: stable, so a restarted process fences its dead
predecessor and aborts the transaction it left open. But two workers started side by side on
one host (two ``dali-worker run``, each with one process: both slot 0) got the same id and
fenced each other in turn (ProducerFenced, restarts, no progress for either).

So each process *claims* its id with an exclusive ``flock`` on a file named after it in the
state folder (``state_dir``, per user and group; the kernel releases it when the process dies,
however it dies). With the default prefix, a process whose id is held takes the next free one,
``<id>.1``, ``<id>.2``, ...: a restarted process gets the lowest free id, its predecessor's
when the predecessor is gone (it is then fenced as before). With a ``transactional_id_prefix``
that the operator chose, a clash is a configuration error that names the other process.

Only workers that share the state folder see each other's claims (the same user, or a shared
``state_dir``); containers with their own hostnames never clash.
"""
from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from worker.errors import ConfigError

MAX_TRIES = 64


class TransactionalIdClash(ConfigError):
    """The configured transactional id is held by another live worker on this host."""


def _lock_path(folder: Path, tid: str) -> Path:
    return folder / f"txn-{re.sub(r'[^A-Za-z0-9_.-]', '_', tid)}.lock"


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def claim(base: str, folder: str | os.PathLike, chosen: bool) -> tuple[str, int]:
    """(the id, the fd that holds its lock; keep it open while the worker runs, then release()).
    ``chosen``: the operator set the prefix (a clash is an error, not a reason to move on)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(MAX_TRIES):
        tid = base if n == 0 else f"{base}.{n}"
        path = _lock_path(folder, tid)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if chosen:
                raise TransactionalIdClash(
                    f"transactional id {tid!r} is in use by another live worker on this host "
                    f"(pid {_holder(path)}, lock {path}): two workers with one transactional id fence "
                    "each other; give each its own transactional_id_prefix, or leave it unset (each "
                    "process then claims a free id), or run them as one (--procs)") from None
            continue
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return tid, fd
    raise TransactionalIdClash(f"no free transactional id among {base!r} and {MAX_TRIES - 1} variants "
                               f"in {folder}: too many exactly-once workers of this group on one host")


def release(fd: int) -> None:
    """Give the id back (the lock goes with the descriptor), for a later worker of this process;
    a process that exits releases it anyway."""
    try:
        os.close(fd)
    except OSError:
        pass
