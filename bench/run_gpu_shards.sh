#!/usr/bin/env bash
# Builds knnx with NCCL on a GPU machine, runs the shard / replica GPU tests, then
# gpu_shards_bench over 1, 2 and 4 GPUs (as many as present). Writes logs and the JSON under
# ${OUT:-bench/out}; copy the JSON to bench/results/gpu_shards_<machine>.json.
# usage: bench/run_gpu_shards.sh [tests|notests] [gpu_shards_bench args...]
#   full run:   bench/run_gpu_shards.sh
#   smoke test: bench/run_gpu_shards.sh tests --flat-n 200000 --ivf-n 500000 --lists 256 \
#                 --nq 1000 --repeats 3
set -euo pipefail
tests=${1:-tests}; shift || true
out=${OUT:-bench/out}
mkdir -p "$out"
# knnx only sends point-to-point; NVLink SHARP (multicast) is kept off.
export NCCL_NVLS_ENABLE=0
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
  -DKNNX_BUILD_CLI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
grep -E "knnx: (CUDA|NCCL)" "$out/configure.log" || true
cmake --build build-gpu -j"$(nproc)" --target test_cuda test_index gpu_shards_bench >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv >"$out/gpus.csv" 2>&1 || true
cat "$out/gpus.csv"
nvidia-smi topo -m >"$out/topology.txt" 2>&1 || true
if [ "$tests" = tests ]; then
  ./build-gpu/tests/cpp/test_cuda --gtest_filter='ShardsCuda.*' --gtest_output=json:"$out/test_shards_cuda.json" \
    >"$out/test_shards_cuda.log" 2>&1 && echo "GPU shard tests: PASSED" \
    || { echo "GPU shard tests: FAILED"; grep -E "FAILED|Failure|error" "$out/test_shards_cuda.log" | head -40; }
  grep -E "SKIPPED|PASSED|FAILED" "$out/test_shards_cuda.log" | tail -10
  ./build-gpu/tests/cpp/test_index --gtest_filter='*Shards*' >"$out/test_shards_cpu.log" 2>&1 \
    && echo "CPU shard tests: PASSED" || { echo "CPU shard tests: FAILED"; grep -E "FAILED|Failure" "$out/test_shards_cpu.log" | head -20; }
fi
./build-gpu/bench/gpu_shards_bench --commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)" "$@" \
  >"$out/gpu_shards.json" 2>"$out/gpu_shards.log" || { tail -20 "$out/gpu_shards.log"; exit 1; }
cat "$out/gpu_shards.log"
