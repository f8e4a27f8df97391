#!/usr/bin/env bash
# The README's two commands on a fresh machine: a container from a bare Debian 12 image (made
# locally, deploy/ci/images.sh) with nothing but python3 and its venv module (the README's one
# prerequisite), as root, with a copy of this checkout's committed tree. It runs
#   1. python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/dali-worker demo
#   2. DSW_CI_NO_DOCKER=1 bash .ci/run --install-only   (every install step of CI; no Docker
#      inside a container without privileges), then the unit tests and integration tests
#      against the embedded broker (DSW_FRESH_TESTS, default: the unit tests and test_devkafka)
# and exits with the first failure. pip's and Go's download caches are shared with this machine
# (downloads only, nothing installed), and its CA bundle is passed in: where CI runs, HTTPS to the
# package registries goes through a proxy that only that bundle trusts.
#   bash deploy/ci/fresh-machine.sh            (needs Docker; about 15 min the first time)
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/matrix.sh
SUITE="$(matrix base.debian_suite)"
BASE="local/debian:$SUITE"
IMAGE="dsw-ci/fresh-python3:$SUITE"
TESTS="${DSW_FRESH_TESTS:-tests/unit tests/integration/test_devkafka.py}"
docker image inspect "$BASE" >/dev/null 2>&1 || bash deploy/ci/images.sh
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates && rm -rf /var/lib/apt/lists/*\n' "$BASE" \
    | docker build -q -t "$IMAGE" - >/dev/null
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
git archive --format=tar HEAD | tar -C "$work" -x
ca="${PIP_CERT:-${SSL_CERT_FILE:-}}"
ca_args=()
if [ -n "$ca" ] && [ -f "$ca" ]; then
  ca_args=(-v "$ca:/etc/ssl/host-ca.pem:ro" -e PIP_CERT=/etc/ssl/host-ca.pem -e SSL_CERT_FILE=/etc/ssl/host-ca.pem)
fi
mkdir -p "$HOME/.cache/pip" "$HOME/.cache/go-mod"
docker run --rm -i "${ca_args[@]}" -v "$work:/src" -w /src \
  -v "$HOME/.cache/pip:/root/.cache/pip" -v "$HOME/.cache/go-mod:/root/.cache/go-mod" \
  -e CI=true -e DSW_CI_NO_DOCKER=1 -e TESTS="$TESTS" "$IMAGE" bash -euo pipefail -c '
    say() { printf "\n==== %s\n" "$*"; }
    say "$(. /etc/os-release; echo "$PRETTY_NAME"), $(python3 -V); java: $(command -v java || echo none), mvn: $(command -v mvn || echo none), go: $(command -v go || echo none), docker: $(command -v docker || echo none)"
    say "README, first command: python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/dali-worker demo"
    python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/dali-worker demo
    say "README, second command (install steps): bash .ci/run --install-only"
    rm -rf .venv
    bash .ci/run --install-only
    say "tests: $TESTS"
    .venv/bin/python -m pytest -q -p no:cacheprovider $TESTS
  '
