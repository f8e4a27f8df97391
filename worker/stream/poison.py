"""Poison messages: inputs that crash the process inside DALI, and must not crash it forever.

DALI 2.4's CPU image decoder can kill the process (SIGSEGV) on some corrupt files. Offsets are
committed only after an outcome, so after a restart the same message would come back and crash
the worker again, in a loop, holding its partition. So, just before a batch enters DALI, its
lane thread writes the batch's coordinates to a small file of this worker slot, and clears it
after. A process that starts and finds the file left by its crashed predecessor knows which
messages were in DALI at the moment of the crash:

- each of them runs alone the next time it is consumed (a single bad sample does not take good
  ones down with it, and batches of one did not crash in our runs);
- one that was alone in DALI when the worker crashed (it crashed twice) goes to the dead-letter
  topic with reason ``pipeline_error`` instead of running again, and its partition moves on.

The file is per slot (``--slot``), so a restarted process reads its own predecessor's; a
partition that moves to another process on the rebalance is retried there once more.

Only lanes whose DALI runs in the worker's own process (``isolate_dali = false``) keep the
journal: an isolated lane's DALI runs in a child whose crash costs the worker nothing (the
isolated runner bisects the batch itself, ``pipeline/isolation.py``).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # topic, partition, offset
CRASHES_TO_QUARANTINE = 2


class PoisonGuard:
    def __init__(self, state_dir: str | os.PathLike, slot_name: str) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slot_name = self._claim(slot_name)
        self._warned = False
        self.suspects: dict[Key, int] = self._load()
        if self.suspects:
            log.warning("the previous worker of this slot crashed while DALI ran %d message(s): they "
                        "run alone now, and one that crashes it again is dead-lettered: %s",
                        len(self.suspects), sorted(self.suspects)[:8])

    def _claim(self, slot_name: str) -> str:
        """A journal name no other live process uses: two workers started apart on one host are
        both slot 0. An exclusive lock marks the name taken; it dies with its holder, so a
        restarted worker takes over its dead predecessor's journal."""
        import fcntl

        for i in range(256):
            name = slot_name if i == 0 else f"{slot_name}.{i}"
            fd = os.open(self.dir / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._lock_fd = fd  # held for the life of the process
            return name
        raise RuntimeError(f"more than 256 workers hold journals in {self.dir}")

    def _file(self, lane: str) -> Path:
        return self.dir / f"running-{self.slot_name}-{lane}.json"

    def _load(self) -> dict[Key, int]:
        suspects: dict[Key, int] = {}
        for path in self.dir.glob(f"running-{self.slot_name}-*.json"):
            try:
                entries = json.loads(path.read_text())
            except (OSError, ValueError):
                entries = []
            path.unlink(missing_ok=True)
            suspects.update({(t, int(p), int(o)): int(c) + 1 for t, p, o, c in entries})
        return suspects

    def crashes(self, key: Key) -> int:
        """How many worker crashes this message was in DALI for (0: none known)."""
        return self.suspects.get(key, 0)

    def quarantined(self, key: Key) -> bool:
        return self.crashes(key) >= CRASHES_TO_QUARANTINE

    # called in a lane's thread (one file per lane: lanes run concurrently), around the DALI run
    def entering(self, lane: str, keys: list[Key]) -> None:
        path = self._file(lane)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps([[t, p, o, self.suspects.get((t, p, o), 0)] for t, p, o in keys]))
            os.replace(tmp, path)
        except OSError as exc:  # best effort: the journal must never stop the worker
            self._warn(exc)

    def left(self, lane: str) -> None:
        try:
            self._file(lane).unlink(missing_ok=True)
        except OSError as exc:
            self._warn(exc)

    def _warn(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("poison-message journal in %s not writable (%s): a message that crashes the "
                        "worker will not be set aside", self.dir, exc)

    def settled(self, key: Key) -> None:
        """The message has its outcome: forget it."""
        self.suspects.pop(key, None)
