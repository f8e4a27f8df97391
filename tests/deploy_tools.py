"""The command-line tools the deployment tests drive: ``helm`` (render and lint the chart) and
``composecheck`` (tests/composecheck: Compose v2's own loader, compose-go). ``.ci/run`` builds
both from the Go module proxy into ``~/.cache/dali-stream-worker/tools/bin``; elsewhere a test
that needs one skips with the command that installs it. In CI (``CI=true``) a missing tool
fails instead: a validation that silently skips validates nothing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS_BIN = Path(os.environ.get("DSW_TOOLS_BIN",
                                Path.home() / ".cache" / "dali-stream-worker" / "tools" / "bin"))
INSTALL = {
    "helm": "GOBIN=~/.cache/dali-stream-worker/tools/bin go install helm.sh/helm/v3/cmd/helm@v3.22.0",
    "composecheck": "cd tests/composecheck && go build -o ~/.cache/dali-stream-worker/tools/bin/composecheck .",
}


def tool(name: str) -> str:
    """The path of ``name`` (the tools folder first, then PATH), or skip/fail the test."""
    candidate = TOOLS_BIN / name
    found = str(candidate) if os.access(candidate, os.X_OK) else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; install it with: {INSTALL.get(name, name)} (as .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 180), **kw)
