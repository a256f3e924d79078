#!/usr/bin/env bash
# Builds knnx on the GPU machine, runs the GPU test suite, then the GPU IVF-Flat benchmarks
# (playbook suite and the recall/throughput curve). Writes logs and JSON under ${OUT:-bench/out}.
# usage: bench/run_gpu_ivf.sh [tests|notests] [curve args...]
set -euo pipefail
tests=${1:-tests}; shift || true
out=${OUT:-bench/out}
mkdir -p "$out"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
  -DKNNX_BUILD_CLI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-gpu -j16 --target test_cuda gpu_flat_bench gpu_ivf_bench >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
if [ "$tests" = tests ]; then
  ./build-gpu/tests/cpp/test_cuda --gtest_output=json:"$out/test_cuda.json" >"$out/test_cuda.log" 2>&1 \
    && echo "GPU tests: PASSED" || { echo "GPU tests: FAILED"; grep -E "FAILED|Failure|error" "$out/test_cuda.log" | head -40; }
  tail -3 "$out/test_cuda.log"
fi
./build-gpu/bench/gpu_ivf_bench --suite playbook >"$out/ivf_playbook.json" 2>"$out/ivf_playbook.log" || tail "$out/ivf_playbook.log"
cat "$out/ivf_playbook.log"
./build-gpu/bench/gpu_ivf_bench --suite curve "$@" >"$out/ivf_curve.json" 2>"$out/ivf_curve.log" || tail "$out/ivf_curve.log"
cat "$out/ivf_curve.log"
