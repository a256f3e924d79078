#!/usr/bin/env bash
# Sweeps the GPU flat many-query tile shape (KNNX_FLAT_TILE_ROWS x KNNX_FLAT_TILE_QUERIES) at
# N = 1M, d = 128, nq = 10000 and prints one line per point. Needs build-gpu/bench/gpu_flat_bench.
set -euo pipefail
for rows in ${ROWS:-8192 16384 32768 65536}; do
  for queries in ${QUERIES:-1024 2048 4096}; do
    echo "rows=$rows queries=$queries"
    KNNX_GPU_WORKSPACE_MB=2048 KNNX_FLAT_TILE_ROWS=$rows KNNX_FLAT_TILE_QUERIES=$queries \
      ./build-gpu/bench/gpu_flat_bench --n 1000000 --d 128 --nq 10000 --k ${K:-10 1024} \
      --repeats 3 --fast ${FAST:-0} 2>&1 >/dev/null | grep " ms"
  done
done
