#!/usr/bin/env bash
# A short GPU check for a device session with little time: builds only the library, the GPU
# test suite and the Python extension (no CLI, benchmarks or CPU suites) in build-smoke, then
# runs the GPU C++ tests (four at a time, the out-of-memory cases alone afterwards), the Python
# GPU tests of the FAISS-facing suites and bench/filter_cost.py on a small index. Every step has
# a time limit and logs to ${OUT:-gpu-smoke}; a summary line per step is printed as it ends, so
# a call cut off at its limit still shows what ran. scripts/gpu_check.sh is the full check.
#
#   OUT=/tmp/smoke bash scripts/gpu_smoke.sh
# Time limits (s) and sizes: SMOKE_BUILD_S, SMOKE_TEST_S, SMOKE_PYTEST_S, SMOKE_BENCH_S,
# SMOKE_BENCH_NB; SMOKE_FILTER picks GPU tests (a gtest filter), SMOKE_OOM=0 skips those cases.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-smoke}
mkdir -p "$out"
jobs=$(nproc)
t0=$SECONDS
step() { echo "== $1: rc=$2, $((SECONDS - t0)) s"; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
cmake -S . -B build-smoke -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKNNX_BUILD_CLI=OFF -DKNNX_BUILD_BENCH=OFF -DKNNX_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$(command -v python3)" >"$out/configure.log" 2>&1
timeout "${SMOKE_BUILD_S:-150}" cmake --build build-smoke -j "$jobs" --target test_cuda _knnx >"$out/build.log" 2>&1
rc=$?
step build $rc
if ((rc != 0)); then
  grep -E "error" "$out/build.log" | head -30
  exit 1
fi

oom='OutOfMemory'
timeout "${SMOKE_TEST_S:-100}" ./build-smoke/tests/cpp/test_cuda --gtest_filter="${SMOKE_FILTER:-*}:-*${oom}*" \
  --gtest_brief=1 >"$out/test_cuda.log" 2>&1
step "test_cuda (no out-of-memory cases)" $?
grep -E "^\[  (PASSED|FAILED)|FAILED  \]|tests ran" "$out/test_cuda.log" | head -30

if [[ ${SMOKE_OOM:-1} != 0 ]]; then
  timeout 40 ./build-smoke/tests/cpp/test_cuda --gtest_filter="*${oom}*" --gtest_brief=1 \
    >"$out/test_cuda_oom.log" 2>&1
  step "test_cuda out-of-memory cases" $?
  grep -E "^\[  (PASSED|FAILED)|FAILED  \]" "$out/test_cuda_oom.log" | head -10
fi

PYTHONPATH="$PWD/build-smoke/python${PYTHONPATH:+:$PYTHONPATH}" timeout "${SMOKE_PYTEST_S:-60}" python3 -m pytest -q -m gpu -p no:cacheprovider \
  tests/python/test_faiss_filters.py tests/python/test_faiss_parity.py \
  tests/python/test_faiss_gpu_api.py >"$out/pytest_gpu.log" 2>&1
step "pytest -m gpu (FAISS suites)" $?
tail -1 "$out/pytest_gpu.log"
grep -E "^FAILED|^ERROR" "$out/pytest_gpu.log" | head -10

PYTHONPATH="$PWD/build-smoke/python${PYTHONPATH:+:$PYTHONPATH}" timeout "${SMOKE_BENCH_S:-45}" python3 bench/filter_cost.py \
  --device cuda --nb "${SMOKE_BENCH_NB:-1000000}" --nq 10 1000 --out "$out/filter_cost_cuda.json" >"$out/filter_cost.log" 2>&1
step "filter_cost --device cuda" $?
tail -20 "$out/filter_cost.log"
