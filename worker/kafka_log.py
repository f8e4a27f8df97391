"""aiokafka's log, made readable during an outage.

aiokafka logs an ERROR line for every retry of every request while a broker is away: about 60
lines per second from one worker (a 73 s broker outage gave 4,600 lines, each the same few
causes). :class:`RepeatFilter` keeps the first line of each cause and then one line per cause
per ``interval_s``, carrying how many like it were held back::

    ERROR aiokafka: Unable connect to node with id 1: [Errno 111] Connect call failed (...) [and 57 more like this in 10 s]

A *cause* is the logger, the level and the message with its numbers blanked, so that retries
against ports, node ids and offsets count as one. Only records of the ``aiokafka`` loggers and
of ``worker.stream.delivery`` (a commit that fails and is retried every commit interval) are
limited; the worker's other lines always pass. :func:`muted` drops aiokafka's lines altogether
for a while (the worker's start, whose failure the worker states in one line of its own).

The filter sits on the handlers of the root logger (``install``), not on aiokafka's loggers, so
that handlers attached to those loggers (``kafka_security.start_explained`` records what
aiokafka says to explain a failed start) still see every record.
"""
from __future__ import annotations

import contextlib
import logging
import re
import threading
import time

INTERVAL_S = 10.0
LIMITED = ("aiokafka", "worker.stream.delivery")
_DIGITS = re.compile(r"\d+")
_muted = 0
_lock = threading.Lock()


class RepeatFilter(logging.Filter):
    def __init__(self, interval_s: float = INTERVAL_S, prefixes: tuple[str, ...] = LIMITED,
                 clock=time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self.prefixes = prefixes
        self._clock = clock
        self._seen: dict[tuple, list] = {}  # cause -> [window start, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(record.name == p or record.name.startswith(p + ".") for p in self.prefixes):
            return True
        if _muted and record.name.startswith("aiokafka"):
            return False
        if record.levelno < logging.WARNING:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record: let logging report it
            return True
        key = (record.name, record.levelno, _DIGITS.sub("#", text)[:200])
        now = self._clock()
        with _lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.interval_s:
                seen[1] += 1
                return False
            held = seen[1] if seen is not None else 0
            self._seen[key] = [now, 0]
            if len(self._seen) > 1000:  # causes with numbers we did not blank: keep it bounded
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval_s}
        if held:
            record.msg = f"{text} [and {held} more like this in {self.interval_s:.0f} s]"
            record.args = None
        if seen is not None:
            record.exc_info = record.exc_text = None  # its traceback was shown the first time
        return True


def install(interval_s: float = INTERVAL_S) -> RepeatFilter | None:
    """Put one RepeatFilter on every handler of the root logger (after logging is set up)."""
    handlers = logging.getLogger().handlers
    if any(isinstance(f, RepeatFilter) for h in handlers for f in h.filters):
        return None
    flt = RepeatFilter(interval_s)
    for h in handlers:
        h.addFilter(flt)
    return flt


@contextlib.contextmanager
def muted():
    """aiokafka's lines are dropped while this is entered (by the root's handlers)."""
    global _muted
    with _lock:
        _muted += 1
    try:
        yield
    finally:
        with _lock:
            _muted -= 1
