#!/usr/bin/env bash
# The local images docker-compose.ci.yml needs, made without any image registry (none is reachable
# where CI runs; FIELD-NOTES "Docker on these machines"):
#   local/debian:bookworm          debootstrap of Debian 12 (the shipped Dockerfile's debian:bookworm-slim)
#   dsw-ci/kafka:<kafka>           Kafka's Maven Central jars on a JRE (stand-in for apache/kafka)
#   dsw-ci/tritonserver:<ngc tag>  Triton 2.51 from the nvidia-pytriton wheel (stand-in for NGC's)
# Each is rebuilt only when its inputs change (Docker's layer cache; the Debian root is kept as a
# tarball under ~/.cache). Needs: a running Docker engine, root (debootstrap), the venv (.venv)
# for Kafka's jars and Triton's wheel, which the tests fetch the same way.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${DSW_PYTHON:-.venv/bin/python}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dali-stream-worker/docker"
mkdir -p "$CACHE"
. deploy/matrix.sh
MATRIX_PYTHON="$PY"
KAFKA_VERSION="$(matrix kafka.version)"
TRITON_TAG="$(matrix triton.ngc_tag)-py3"
DEBIAN_SUITE="$(matrix base.debian_suite)"

say() { printf '[images] %s\n' "$*" >&2; }

# 1. Debian base
BASE="local/debian:$DEBIAN_SUITE"
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  tarball="$CACHE/debian-$DEBIAN_SUITE-minbase.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    root="$(mktemp -d)"
    say "debootstrap $DEBIAN_SUITE from $mirror (about 30 s, once)"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  say "importing $BASE"
  docker import "$tarball" "$BASE" >/dev/null
fi

# 2. Kafka: the broker's jars (worker.devkafka, as the tests use them) + kafka-tools for the
# bin/ scripts the compose file calls (kafka-topics.sh, kafka-broker-api-versions.sh)
ctx="$(mktemp -d)"; trap 'rm -rf "$ctx"' EXIT
libs="$("$PY" -c 'from worker.devkafka import kafka_libs; print(kafka_libs())')"
cp -r deploy/ci/kafka/. "$ctx/"
mkdir -p "$ctx/libs"; cp "$libs"/*.jar "$ctx/libs/"
tools="$CACHE/kafka-tools-$KAFKA_VERSION.jar"
tools_sha256="$(matrix kafka.tools_sha256)"
if [ ! -s "$tools" ] || ! echo "$tools_sha256  $tools" | sha256sum -c --quiet 2>/dev/null; then
  curl -fsSL --retry 3 -o "$tools.part" \
    "https://repo1.maven.org/maven2/org/apache/kafka/kafka-tools/$KAFKA_VERSION/kafka-tools-$KAFKA_VERSION.jar"
  echo "$tools_sha256  $tools.part" | sha256sum -c --quiet || { say "kafka-tools jar: checksum mismatch"; exit 1; }
  mv "$tools.part" "$tools"
fi
cp "$tools" "$ctx/libs/"
say "building dsw-ci/kafka:$KAFKA_VERSION"
docker build -q --build-arg "BASE_IMAGE=$BASE" -t "dsw-ci/kafka:$KAFKA_VERSION" "$ctx" >/dev/null
rm -rf "$ctx"; ctx="$(mktemp -d)"

# 3. Triton: the pytriton wheel's server, as tests/triton_server.py installs it
root="$("$PY" -c 'from tests.triton_server import ensure_triton; print(ensure_triton().root)')"
mkdir -p "$ctx/server/lib"
cp -r "$root/server/pytriton/tritonserver/." "$ctx/server/"
cp -r "$root/server/nvidia_pytriton.libs/." "$ctx/server/lib/"
rm -rf "$ctx/server/caches"
find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
cp deploy/ci/triton/Dockerfile "$ctx/"
say "building dsw-ci/tritonserver:$TRITON_TAG"
docker build -q --build-arg "BASE_IMAGE=$BASE" -t "dsw-ci/tritonserver:$TRITON_TAG" "$ctx" >/dev/null
say "ready: $BASE dsw-ci/kafka:$KAFKA_VERSION dsw-ci/tritonserver:$TRITON_TAG"
