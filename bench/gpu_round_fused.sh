#!/usr/bin/env bash
# One device call for the fused fast-mode kernel (KNNX_FLAT_FAST_KERNEL=fused): build, its GPU
# tests and the existing flat fast-mode tests (optionally under compute-sanitizer), then
# bench/gpu_sweep.py timing exact, the old fast path and the fused one side by side on the 1M x
# 128 mixture (k sweep at nq 10000, nq sweep at k 10). Logs and JSON under $OUT.
#   GTEST=<filter>  SANITIZE=0|1  SWEEP=0|1  K="10 32 ..."  BUDGET=<s>
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
cmake --build build-gpu --target test_cuda _knnx >"$out/build.log" 2>&1 \
  || { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp built
filter=${GTEST:-*FlatFused*:FlatCuda.Fast*:FlatCuda.SmallTilesAndBatchesStillExact}
timeout 120 ./build-gpu/tests/cpp/test_cuda --gtest_brief=1 --gtest_filter="$filter" \
  >"$out/gtest.log" 2>&1; stamp "gtest rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gtest.log" | tr '\n' ' ')"
grep -E "^\[  FAILED|Failure|Expected|Which is" "$out/gtest.log" | head -30 | tee -a "$out/summary.txt"
# The existing fast-mode tests with the fused kernel as the process default.
KNNX_FLAT_FAST_KERNEL=fused timeout 60 ./build-gpu/tests/cpp/test_cuda --gtest_brief=1 \
  --gtest_filter='FlatCuda.Fast*' >"$out/gtest_fused_default.log" 2>&1
stamp "gtest (KNNX_FLAT_FAST_KERNEL=fused) rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gtest_fused_default.log" | tr '\n' ' ')"
if [[ ${SANITIZE:-1} == 1 ]] && command -v compute-sanitizer >/dev/null; then
  # Out-of-bounds and race checks of the fused kernel on small shapes (odd n, d, nq).
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./build-gpu/tests/cpp/test_cuda \
    --gtest_brief=1 --gtest_filter='FlatFusedCudaEdge.OverflowFallsBackToExact:MetricsDimsK/FlatFusedCuda.RecallAgainstExact/l2_d100_k10' \
    >"$out/memcheck.log" 2>&1; stamp "memcheck rc=$?"; tail -5 "$out/memcheck.log" >>"$out/summary.txt"
  timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 ./build-gpu/tests/cpp/test_cuda \
    --gtest_brief=1 --gtest_filter='MetricsDimsK/FlatFusedCuda.RecallAgainstExact/ip_d3_k10' \
    >"$out/racecheck.log" 2>&1; stamp "racecheck rc=$?"; tail -5 "$out/racecheck.log" >>"$out/summary.txt"
fi
if [[ ${SWEEP:-1} == 1 ]]; then
  left=$((${BUDGET:-560} - (SECONDS - t0)))
  # shellcheck disable=SC2086
  PYTHONPATH=build-gpu/python timeout $left python3 bench/gpu_sweep.py --indexes flat \
    --modes exact fast fast-fused --k ${K:-10 32 100 256 512} --nq 16 10000 100000 \
    --out "$out/gpu_sweep_fused.json" >"$out/sweep.log" 2>&1
  stamp "sweep rc=$?"; tail -25 "$out/sweep.log" >>"$out/summary.txt"
fi
stamp done
