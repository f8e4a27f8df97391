"""The aiokafka releases that exactly-once was tested with.

Exactly-once patches aiokafka's internals (``worker/stream/txn_fencing.py``: TxnOffsetCommit v3 with the group
membership; ``worker/stream/txn_stable_offsets.py``: OffsetFetch with require_stable). Those are private
classes and functions that a new aiokafka release may rename or change without notice, and a
patch that silently stops applying would lose the zombie fencing while everything looks fine.
So exactly-once refuses to start on a release not listed here. The fetch path's speed-ups
(``stream/frame_reader.py``, ``stream/fast_crc.py``, ``stream/fetch_hold.py``) read or swap
internals too, but only on a release listed here and each with a fallback that is slower, never
wrong; so at-least-once runs on any release that pyproject.toml admits. versions.toml names the
release the lock installs; tests/unit/test_version_matrix.py keeps the two in step.
"""
from __future__ import annotations

import aiokafka

from worker.errors import ConfigError

TESTED = ("0.14.0",)


def require_tested_aiokafka(version: str | None = None) -> None:
    """Raise ConfigError (one line: the version found, the ones tested, the fix) when exactly-once
    would run on an aiokafka whose internals were not tested."""
    found = version or aiokafka.__version__
    if found not in TESTED:
        raise ConfigError(
            f"delivery=exactly-once was tested with aiokafka {', '.join(TESTED)} only (it patches "
            f"aiokafka's internals) and this is aiokafka {found}: install aiokafka=={TESTED[-1]} "
            f"(pip install -r requirements.lock) or use delivery=at-least-once")
