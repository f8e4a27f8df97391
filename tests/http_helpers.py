"""HTTP for the tests of the metrics and health endpoints."""
from __future__ import annotations

import urllib.error
import urllib.request


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    """(status, body), for error statuses too (a 503 from /readyz is an answer, not a failure)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
