#!/usr/bin/env bash
# Verifies knnx on a machine with an NVIDIA GPU: builds everything (CUDA, Python extension, CLI,
# benchmarks), runs the whole C++ suite (the GPU tests included), the Python suite (the GPU tests
# included), compute-sanitizer memcheck and racecheck over small GPU cases, and the one-GPU
# smoke run of the sharded-index benchmark, and the benchmark harness's GPU sweeps (results in
# $OUT/results). Logs and JSON go to ${OUT:-gpu-check}; a summary
# table is printed last.
# usage: scripts/gpu_check.sh [--no-sanitizer]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
sanitizer=1
[[ ${1:-} == --no-sanitizer ]] && sanitizer=0
jobs=$(nproc)
declare -a summary
note() { summary+=("$1"); echo "== $1"; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
export NCCL_NVLS_ENABLE=0
t0=$SECONDS
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKNNX_BUILD_BENCH=ON -DKNNX_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" \
  >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
if ! cmake --build build-gpu -j "$jobs" >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
note "build: $((SECONDS - t0)) s"

t0=$SECONDS
# CPU suites in parallel; the GPU suite one test at a time (its out-of-memory case fills the card).
ctest --test-dir build-gpu -E '^test_cuda\.' -j "$jobs" --output-on-failure --timeout 900 \
  >"$out/ctest_cpu.log" 2>&1
rc=$?
note "ctest (CPU suites, CLI): rc=$rc, $(grep -E 'tests passed|tests failed' "$out/ctest_cpu.log" | tail -1), $((SECONDS - t0)) s"
t0=$SECONDS
ctest --test-dir build-gpu -R '^test_cuda\.' -j 1 --output-on-failure --timeout 900 \
  >"$out/ctest.log" 2>&1
rc=$?
note "ctest (GPU suite): rc=$rc, $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1), $((SECONDS - t0)) s"
grep -hE "\*\*\*Failed|Not Run|Timeout" "$out/ctest.log" "$out/ctest_cpu.log" | head -30
n_cuda=$(grep -c "test_cuda\..*Passed" "$out/ctest.log")
n_cuda_skip=$(grep -c "test_cuda\..*Skipped" "$out/ctest.log")
note "GPU C++ tests passed: $n_cuda, skipped: $n_cuda_skip"

t0=$SECONDS
PYTHONPATH="$PWD/build-gpu/python" python3 -m pytest -q -rs tests/python >"$out/pytest.log" 2>&1
rc=$?
note "pytest (GPU included): rc=$rc, $(tail -1 "$out/pytest.log"), $((SECONDS - t0)) s"
grep -E "FAILED|Error" "$out/pytest.log" | head -20

if ((sanitizer)); then
  small="FlatCuda.SmallTilesAndBatchesStillExact:FlatCuda.KLargerThanNPadsResults:"
  small+="FlatCuda.EmptyIndexReturnsNoResults:FlatCuda.DevicePointersInAndOut:"
  small+="FlatCuda.EqualsCpuIndexWithIdsAndRemovals:IvfCuda.AllListsProbedIsExact:"
  small+="IvfCuda.IdsRemovalResetAndGrowth:StreamsCuda.*:TransformCuda.*"
  for tool in memcheck racecheck; do
    t0=$SECONDS
    timeout 900 compute-sanitizer --tool "$tool" --error-exitcode 99 \
      ./build-gpu/tests/cpp/test_cuda --gtest_filter="$small${KNNX_SANITIZER_EXTRA:-}" \
      >"$out/sanitizer_$tool.log" 2>&1
    rc=$?
    note "compute-sanitizer $tool: rc=$rc, $(grep -E 'ERROR SUMMARY' "$out/sanitizer_$tool.log" | tail -1), $((SECONDS - t0)) s"
  done
fi

if [[ -x build-gpu/bench/gpu_shards_bench ]]; then
  t0=$SECONDS
  ./build-gpu/bench/gpu_shards_bench --flat-n 200000 --ivf-n 500000 --lists 256 --nq 1000 \
    --repeats 3 --commit "${KNNX_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}" \
    >"$out/shards_smoke.json" 2>"$out/shards_smoke.log"
  note "gpu_shards_bench (one-GPU smoke sizes): rc=$?, $((SECONDS - t0)) s"
fi

if [[ ${KNNX_GPU_HARNESS:-1} != 0 ]]; then
  t0=$SECONDS
  mkdir -p "$out/results"
  OUT="$out/results" KNNX_BUILD_DIR=build-gpu KNNX_HARNESS_CPU=0 \
    bash bench/run_harness_gpu.sh "${KNNX_HARNESS_N:-1000000}" 10000 >"$out/harness.log" 2>&1
  note "bench harness on the GPU: rc=$?, $((SECONDS - t0)) s"
fi

echo
echo "summary:"
printf '  %s\n' "${summary[@]}" | tee "$out/summary.txt"
