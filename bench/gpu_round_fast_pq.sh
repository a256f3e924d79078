#!/usr/bin/env bash
# One device call: build, the GPU PQ/SQ tests, the fast-mode tile sweep, forced radix selection at
# k 1024/2048/4096, and bench/gpu_ivf_pq.py at 1M and 10M (each stage under its own time limit).
# Logs and JSON under $OUT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-round}; mkdir -p "$out"
t0=$SECONDS
stamp() { echo "== [$((SECONDS - t0)) s] $*" | tee -a "$out/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/summary.txt"
export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKNNX_BUILD_CLI=OFF -DKNNX_BUILD_BENCH=ON -DKNNX_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$(command -v python3)" >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build build-gpu --target test_cuda _knnx gpu_flat_bench >"$out/build.log" 2>&1 \
  || { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp built
timeout 90 ./build-gpu/tests/cpp/test_cuda --gtest_brief=1 --gtest_filter="${GTEST:-*PqCuda*:*SqCuda*}" \
  >"$out/gtest.log" 2>&1; stamp "gtest rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gtest.log" | tr '\n' ' ')"
grep -E "^\[  FAILED" "$out/gtest.log" | head -10 | tee -a "$out/summary.txt"
if [[ ${TILES:-1} == 1 ]]; then
  ROWS="${ROWS:-1024 2048 4096 8192 65536}" QUERIES="${QUERIES:-1024 2048 4096}" FAST=1 K=10 \
    timeout 150 bash bench/sweep_flat_tiles.sh >"$out/tiles.log" 2>&1
  stamp "tile sweep rc=$?"; cat "$out/tiles.log" >>"$out/summary.txt"
fi
if [[ ${RADIX:-1} == 1 ]]; then
  for mk in 2049 1; do
    KNNX_GPU_RADIX_MIN_K=$mk timeout 60 ./build-gpu/bench/gpu_flat_bench --n 1000000 --d 128 \
      --nq 10000 --k 1024 2048 4096 --repeats 3 2>&1 >/dev/null | grep " ms" | sed "s/^/radix_min_k=$mk /" \
      >>"$out/radix.log"
  done
  stamp radix; cat "$out/radix.log" >>"$out/summary.txt"
fi
if [[ ${PQ:-1} == 1 ]]; then
  left=$((${BUDGET:-560} - (SECONDS - t0)))
  PYTHONPATH=build-gpu/python timeout $left python3 bench/gpu_ivf_pq.py --n ${PQ_N:-1000000 10000000} --nq 10000 \
    --M 48 --out "$out/gpu_ivf_pq.json" >"$out/pq_bench.log" 2>&1
  stamp "pq bench rc=$?"; grep -E "recall|copy|build|wrote" "$out/pq_bench.log" | tail -40 >>"$out/summary.txt"
fi
stamp done
