"""What DALI and its codecs print on the console, made fit for a dead letter.

DALI's exception for a corrupt JPEG often says only ``Failed to decode sample #0 :``; the reason
goes to stderr, printed by libjpeg-turbo (``Bogus Huffman table definition``, ``Corrupt JPEG
data: premature end of data segment``) or nvImageCodec's parser (``[ERROR] [jpeg_parser]
Invalid marker``, in colour). The isolated runner's child process has its stderr in a file of
its own (``isolation.py``), so the text printed during one run can be read back and attached to
the failures of that run: :func:`clean` strips colour codes and log prefixes, drops repeats and
Python/DALI noise, and bounds the length.
"""
from __future__ import annotations

import re

LIMIT = 500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\[[0-9;]*m")
_LEVEL = re.compile(r"^\[(ERROR|WARNING|WARN|INFO|DEBUG|FATAL)\]\s*", re.I)
_TAG = re.compile(r"^\[([A-Za-z0-9_ .:-]+)\]\s*")
_NOISE = ("Current pipeline object is no longer valid", "warnings.warn(", "DeprecationWarning",
          "UserWarning", "Traceback (most recent call last)")


def clean_line(line: str) -> str:
    line = _ANSI.sub("", line).strip()
    level = _LEVEL.match(line)
    if level:
        line = line[level.end():]
    tag = _TAG.match(line)
    if tag:                                # "[jpeg_parser] Invalid marker" -> "jpeg_parser: ..."
        line = f"{tag.group(1)}: {line[tag.end():]}"
    return line.strip()


def clean(text: str | bytes, limit: int = LIMIT) -> str:
    """Console text -> one short line: distinct messages in order, joined by '; '."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    seen: dict[str, None] = {}
    for raw in text.splitlines():
        line = clean_line(raw)
        if not line or any(n in line for n in _NOISE) or line.startswith(("File \"", "^")):
            continue
        seen.setdefault(line, None)
    out = "; ".join(seen)
    if len(out) > limit:
        out = out[:limit - 3].rstrip() + "..."
    return out
