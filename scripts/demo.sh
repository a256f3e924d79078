#!/usr/bin/env bash
# The main job on built-in data: builds the knnx tool if needed, prints `knnx info`, then runs an
# exact k-NN search over 200,000 generated 128-d vectors with 1,000 queries on the CPU (and on
# the GPU when one is present) with timings and recall@10, and over the shared SIFT sample when
# ../shared/data holds it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=build
KNNX="$BUILD_DIR/cli/knnx"

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
if "$KNNX" info --json | grep -q '"ordinal"'; then
  # A first search warms the device up (context creation, kernel loading); report the median
  # of repeated runs.
  run search "${GENERATED[@]}" --device cuda --repeat 5
fi

SIFT_BASE=../shared/data/sift5k_base.fvecs
SIFT_QUERIES=../shared/data/sift5k_query3.fvecs
if [[ -f $SIFT_BASE && -f $SIFT_QUERIES ]]; then
  run search --base "$SIFT_BASE" --queries "$SIFT_QUERIES" --compute-gt
else
  echo
  echo "demo.sh: $SIFT_BASE not found; skipping the SIFT search"
fi
