#!/usr/bin/env bash
# The main job on built-in data: builds the knnx tool if needed (saying what it builds: the
# CUDA backend too where nvcc is found), prints `knnx info`, then runs an
# exact k-NN search over 200,000 generated 128-d vectors with 1,000 queries on the CPU (and on
# the GPU when one is present) with timings and recall@10, and over the shared SIFT sample when
# ../shared/data holds it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=build
KNNX="$BUILD_DIR/cli/knnx"

if [[ -x $KNNX && -f $BUILD_DIR/CMakeCache.txt ]]; then
  echo "demo.sh: bringing $KNNX up to date (rebuilds only what changed)"
else
  cuda_note="without the CUDA backend (no nvcc on PATH)"
  if command -v nvcc >/dev/null 2>&1; then
    cuda_note="with the CUDA backend, because nvcc is present (its kernels take most of the time;
          configure $BUILD_DIR with -DKNNX_ENABLE_CUDA=OFF first for a CPU-only build)"
  fi
  echo "demo.sh: building the knnx library and command-line tool in $BUILD_DIR/ (Release),"
  echo "          $cuda_note."
  echo "          A first build compiles the whole library: several minutes on 2 cores."
fi
if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" --target knnx_cli -j "$(nproc)"

run() {
  echo
  echo "\$ knnx $*"
  "$KNNX" "$@"
}

run info

GENERATED=(--generate 200000 --dim 128 --nq 1000 --k 10)
run search "${GENERATED[@]}" --device cpu
# Read the report whole before matching it: `grep -q` stops reading at its first match, and
# knnx treats the closed pipe as a failed write (exit 3), which pipefail would take for "no".
INFO_JSON=$("$KNNX" info --json)
if grep -q '"ordinal"' <<<"$INFO_JSON"; then
  # A first search warms the device up (context creation, kernel loading); report the median
  # of repeated runs.
  echo
  echo "demo.sh: a GPU is visible; the same search on cuda:0"
  run search "${GENERATED[@]}" --device cuda --repeat 5
elif grep -q '"cuda": true' <<<"$INFO_JSON"; then
  echo
  echo "demo.sh: this build has the CUDA backend but no GPU is visible; skipping the GPU search"
else
  echo
  echo "demo.sh: this build has no CUDA backend (built without nvcc); skipping the GPU search"
fi

SIFT_BASE=../shared/data/sift5k_base.fvecs
SIFT_QUERIES=../shared/data/sift5k_query3.fvecs
if [[ -f $SIFT_BASE && -f $SIFT_QUERIES ]]; then
  run search --base "$SIFT_BASE" --queries "$SIFT_QUERIES" --compute-gt
else
  echo
  echo "demo.sh: $SIFT_BASE not found; skipping the SIFT search"
fi
