#!/usr/bin/env bash
# Soak test: 16 threads mixing add / search / remove / reconstruct / save / load on one index
# for SOAK_SECONDS (default 600) each, flat and IVF, on the CPU and, where a CUDA device is
# present, on cuda:0; checked against a model of the expected contents (bench/soak.cpp).
# Prints one JSON line per run; fails if any run reports an error.
#
#   bash bench/soak.sh                      # builds build-soak/, 10 minutes per run
#   SOAK_SECONDS=60 SOAK_DEVICES=cuda:0 bash bench/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${SOAK_BUILD_DIR:-build-soak}
SECONDS_EACH=${SOAK_SECONDS:-600}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
  -DKNNX_BUILD_TESTS=OFF -DKNNX_BUILD_PYTHON=OFF >/dev/null
cmake --build "$BUILD_DIR" --target soak
if [[ -z ${SOAK_DEVICES:-} ]]; then
  SOAK_DEVICES=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    SOAK_DEVICES="cpu cuda:0"
  fi
fi
rc=0
for device in $SOAK_DEVICES; do
  for index in ${SOAK_INDEXES:-flat ivf}; do
    "$BUILD_DIR/bench/soak" --seconds "$SECONDS_EACH" --threads 16 --device "$device" \
      --index "$index" || rc=1
  done
done
exit "$rc"
