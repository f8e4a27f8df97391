#!/usr/bin/env bash
# Build Triton's DALI backend (libtriton_dali.so) once and cache it, for the tests that run a
# user's repository in Triton's own DALI backend (tests/dali_backend_server.py) and for anyone
# who wants the backend beside the pytriton tritonserver (Triton 2.51) without NVIDIA's container.
#
#   bash deploy/dali_backend/build.sh      # prints the cache folder on its last line
#
# Sources: third_party/ (dali_backend, Triton common/core/backend r24.10, RapidJSON headers;
# commits in deploy/dali_backend/VERSIONS), nothing fetched from git. Downloads: the CUDA runtime
# wheels from PyPI (about 100 MB unpacked, only headers and libcudart.so.12 are used). DALI: the
# one importable by $DSW_DALI_PYTHON (default: the repository's .venv), i.e. the worker's own, so
# the backend and the worker run the same libdali.so. No GPU, nvcc or CUDA toolkit needed:
# TRITON_ENABLE_GPU=OFF, and cmake/cuda_runtime_from_wheels.cmake supplies CUDA::cudart.
#
# Needs: cmake >= 3.18, a C++17 compiler (g++ 12 here), make. About 1-2 minutes on
# 2 busy cores (nice -n 10, -j2). Result, file-locked and keyed by every input:
#   ~/.cache/dali-stream-worker/dali-backend-<key>/
#       backends/dali/libtriton_dali.so    --backend-directory=<this folder>/backends
#       cuda/nvidia/cuda_runtime/lib/      libcudart.so.12 (on LD_LIBRARY_PATH at run time)
#       runtime.env                        DALI_LIB_DIR, CUDA_LIB_DIR, PYTHON_BIN_DIR, versions
#       build.log, .complete (written last; a folder without it is built again)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TP="$ROOT/third_party"
# shellcheck source=VERSIONS
. "$HERE/VERSIONS"
PYTHON="${DSW_DALI_PYTHON:-$ROOT/.venv/bin/python}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/dali-stream-worker"
JOBS="${DSW_BUILD_JOBS:-2}"

fail() { echo "dali_backend build: $*" >&2; exit 1; }

for tool in cmake c++ make; do
  command -v "$tool" >/dev/null || fail "'$tool' is not installed (Debian: apt-get install cmake g++ make)"
done
[ -x "$PYTHON" ] || fail "no Python at $PYTHON (set DSW_DALI_PYTHON to one that imports nvidia.dali)"
read -r DALI_VERSION DALI_LIB_DIR DALI_INCLUDE_DIR < <("$PYTHON" -c '
import nvidia.dali as d, nvidia.dali.sysconfig as s
print(d.__version__, s.get_lib_dir(), s.get_include_dir())') \
  || fail "$PYTHON cannot import nvidia.dali"
[ -f "$DALI_INCLUDE_DIR/dali/c_api.h" ] || fail "DALI $DALI_VERSION has no C API headers in $DALI_INCLUDE_DIR"

# the key: every input of the build (sources, shims, this script, versions, DALI's version,
# compiler); not the DALI folder: libdali.so is found at run time (LD_LIBRARY_PATH), so every
# clone's venv with the same DALI reuses one build
INPUTS_HASH="$( (cd "$ROOT" && find third_party deploy/dali_backend -type f -print0 | sort -z \
  | xargs -0 sha256sum; echo "$DALI_VERSION"; c++ --version | head -1) \
  | sha256sum | cut -c1-12)"
OUT="$CACHE_ROOT/dali-backend-${DALI_BACKEND_COMMIT:0:8}-dali${DALI_VERSION}-$INPUTS_HASH"
mkdir -p "$CACHE_ROOT"
exec 9>"$OUT.lock"
flock 9
if [ -f "$OUT/.complete" ]; then
  echo "$OUT"
  exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
LOG="$OUT/build.log"
step() { echo "== $*" >>"$LOG"; }
run() { "$@" >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; fail "failed: $* (full log: $LOG)"; }; }

step "CUDA wheels: $CUDA_RUNTIME_WHEEL $CUDA_NVCC_WHEEL $NVTX_WHEEL"
run "$PYTHON" -m pip install -q --no-deps --target "$OUT/cuda" "$CUDA_RUNTIME_WHEEL" "$CUDA_NVCC_WHEEL" \
  "$NVTX_WHEEL"

# a copy: the build writes into its source tree (src/utils/cmake_config.h), and extern/Catch2
# (a git submodule upstream, only for dali_backend's C++ unit tests) gets its stand-in
step "sources"
mkdir -p "$OUT/src"
cp -r "$TP/dali_backend" "$TP/triton_common" "$TP/triton_core" "$TP/triton_backend" "$OUT/src/"
# our patches (deploy/dali_backend/patches/*.patch, each says why), applied to the copy
for patch_file in "$HERE"/patches/*.patch; do
  [ -e "$patch_file" ] || continue
  run patch -p1 -d "$OUT/src/dali_backend" -i "$patch_file"
done
mkdir -p "$OUT/src/dali_backend/extern/Catch2"
cp "$HERE/catch2-stub/CMakeLists.txt" "$OUT/src/dali_backend/extern/Catch2/"
# common's src/CMakeLists.txt always adds its test/ folder (GoogleTest, fetched from git); the
# vendored copy leaves the tests out, so that folder is an empty CMake list here
mkdir -p "$OUT/src/triton_common/src/test"
echo "# trimmed: Triton common's unit tests are not vendored" >"$OUT/src/triton_common/src/test/CMakeLists.txt"

# Unix Makefiles, not Ninja: the backend's link flags name its linker script relative to the
# target's own build folder (-Wl,--version-script libtriton_dali.ldscript), where make runs
step "configure"
# dali.cmake asks `python3` for DALI's paths: put the chosen Python first on PATH
PY_BIN_DIR="$(dirname "$PYTHON")"
# -Wno-deprecated-declarations: Triton's backend utils build with -Werror, and RapidJSON
# 1.1.0 (the newest release, Debian's) derives from std::iterator, deprecated in C++17 (g++ 12)
run env PATH="$PY_BIN_DIR:$PATH" cmake -S "$OUT/src/dali_backend" -B "$OUT/build" -G "Unix Makefiles" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="-Wno-deprecated-declarations" \
  -DCMAKE_INSTALL_PREFIX="$OUT" \
  -DTRITON_DALI_SKIP_DOWNLOAD=ON \
  -DTRITON_ENABLE_GPU=OFF \
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
  -DFETCHCONTENT_SOURCE_DIR_REPO-COMMON="$OUT/src/triton_common" \
  -DFETCHCONTENT_SOURCE_DIR_REPO-CORE="$OUT/src/triton_core" \
  -DFETCHCONTENT_SOURCE_DIR_REPO-BACKEND="$OUT/src/triton_backend" \
  -DRapidJSON_DIR="$HERE/cmake" \
  -DCMAKE_PROJECT_INCLUDE="$HERE/cmake/cuda_runtime_from_wheels.cmake" \
  -DDSW_CUDA_ROOT="$OUT/cuda"
step "build"
run env PATH="$PY_BIN_DIR:$PATH" nice -n 10 cmake --build "$OUT/build" --target triton-dali-backend -j "$JOBS"

mkdir -p "$OUT/backends/dali"
cp "$OUT/build/src/libtriton_dali.so" "$OUT/backends/dali/"
cat >"$OUT/runtime.env" <<ENV
DALI_VERSION=$DALI_VERSION
DALI_LIB_DIR=$DALI_LIB_DIR
CUDA_LIB_DIR=$OUT/cuda/nvidia/cuda_runtime/lib
PYTHON_BIN_DIR=$PY_BIN_DIR
DALI_BACKEND_COMMIT=$DALI_BACKEND_COMMIT
ENV
rm -rf "$OUT/build" "$OUT/src" "$OUT/cuda/nvidia/cuda_nvcc"
touch "$OUT/.complete"
echo "$OUT"
