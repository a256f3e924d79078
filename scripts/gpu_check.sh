#!/usr/bin/env bash
# Verifies knnx on a machine with an NVIDIA GPU, in stages:
#   build      configure and build everything in build-gpu (CUDA, Python extension, CLI, benches)
#   cpu        the CPU suites and CLI checks (their GPU cases included), in parallel
#   gpu        the GPU suite (test_cuda), one test at a time: its out-of-memory cases fill the card
#   python     the Python suite with its GPU tests
#   sanitizer  compute-sanitizer memcheck and racecheck over small GPU cases
#   shards     the one-GPU smoke run of gpu_shards_bench
#   harness    the benchmark harness's GPU sweeps (JSON in $OUT/results)
#   filters    bench/filter_cost.py --device cuda: IDSelector cost at 1/10/90% (JSON in $OUT/results)
#   pq         the GPU IndexPQ / IndexIVFPQ tests (gtest, memcheck and racecheck over small
#              cases, pytest)
#   pq_bench   bench/gpu_ivf_pq.py at 1M and 10M x 96, nq 10k (JSON in $OUT/results)
#   sq         the GPU IndexScalarQuantizer / IndexIVFScalarQuantizer tests (gtest, memcheck over
#              small cases, pytest)
#   refine     IndexRefineFlat with its exact vectors on the device or mapped from a file (gtest,
#              memcheck and racecheck over the device re-ranking, pytest)
#   ksweep     bench/k_sweep.py: Flat and IVF for k = 10 ... 16384 at nq = 10000, 1M x 128, beside
#              PyTorch matmul + topk (JSON in $OUT/results); not in the default list
# usage: scripts/gpu_check.sh [STAGE ...]      (default: all stages but ksweep, in this order)
# Each stage after `build` uses build-gpu as an earlier call left it, so a run can be split over
# several calls on a machine that stays up. Logs go to ${OUT:-gpu-check}; every stage prints one
# summary line as it ends ("== ..."), and the summary is printed again last. Keep the output in
# a file too (`... 2>&1 | tee "$OUT/gpu_check.log"`): a call cut off at its time limit then
# still leaves the lines of the stages that ended.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
stages=("$@")
((${#stages[@]})) || stages=(build cpu gpu python sanitizer shards harness filters pq pq_bench sq refine)
jobs=$(nproc)
commit=${KNNX_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export NCCL_NVLS_ENABLE=0
declare -a summary
note() { summary+=("$1"); echo "== $1"; }

stage_build() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DKNNX_BUILD_BENCH=ON -DKNNX_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" \
    >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; return 1; }
  cmake --build build-gpu -j "$jobs" >"$out/build.log" 2>&1 \
    || { grep -E "error" "$out/build.log" | head -40; return 1; }
}

stage_cpu() {
  # Two OpenMP threads a test: the tests run $jobs at a time.
  OMP_NUM_THREADS=2 ctest --test-dir build-gpu -E '^test_cuda\.' -j "$jobs" --output-on-failure \
    --timeout 600 >"$out/ctest_cpu.log" 2>&1
  local rc=$?
  grep -E "tests passed|tests failed" "$out/ctest_cpu.log" | tail -1
  grep -E "\*\*\*Failed|Timeout|Not Run" "$out/ctest_cpu.log" | head -20
  return $rc
}

stage_gpu() {
  ctest --test-dir build-gpu -R '^test_cuda\.' -j 1 --output-on-failure --timeout 600 \
    >"$out/ctest_gpu.log" 2>&1
  local rc=$?
  grep -E "tests passed|tests failed" "$out/ctest_gpu.log" | tail -1
  grep -E "\*\*\*Failed|Timeout|Not Run" "$out/ctest_gpu.log" | head -20
  return $rc
}

stage_python() {
  PYTHONPATH="$PWD/build-gpu/python" python3 -m pytest -q -rs --durations=12 -p no:cacheprovider tests/python \
    >"$out/pytest.log" 2>&1
  local rc=$?
  tail -1 "$out/pytest.log"
  grep -E "^FAILED|^ERROR" "$out/pytest.log" | head -20
  return $rc
}

stage_sanitizer() {
  # Small cases that reach every kernel family: both flat search paths with the warp (k <= 32...)
  # and block (k up to 2048) selections, every IVF kernel variant, k-means, GEMM/QR/SVD pieces,
  # transforms, streams and the shard merge.
  local small="FlatCuda.SmallTilesAndBatchesStillExact:FlatCuda.KLargerThanNPadsResults:"
  small+="FlatCuda.EmptyIndexReturnsNoResults:FlatCuda.DevicePointersInAndOut:"
  small+="FlatCuda.EqualsCpuIndexWithIdsAndRemovals:IvfCuda.AllListsProbedIsExact:"
  small+="IvfCuda.IdsRemovalResetAndGrowth:IvfCuda.KMeansSplitsEmptyClusters:"
  small+="IvfCuda.UnalignedDimensionProbesLikeCpu:"
  small+="DimsAndK/FlatCudaSweep.MatchesFloat64BruteForce/l2_d129_k10:"
  small+="DimsAndK/FlatCudaSweep.MatchesFloat64BruteForce/ip_d64_k2048:"
  small+="MetricKProbe/IvfCudaSweep.EqualsCpuWithIdenticalCentroids/l2_k10_p5:"
  small+="MetricKProbe/IvfCudaSweep.EqualsCpuWithIdenticalCentroids/ip_k1000_p37:"
  small+="LinalgCuda.ProjectionKernelsMatchFloat64:LinalgCuda.GramSchmidtQrIsOrthonormalAndReconstructs:"
  small+="FlatCuda.Split3xTf32GemmMatchesFloat64:StreamsCuda.*:TransformCuda.*:"
  small+="Metrics/FiltersCudaFlat.IdentityIdsAndRemoval/l2:Metrics/RangeCuda.FlatEqualsCpu/ip:"
  small+="Metrics/RangeCuda.IvfEqualsCpu/l2:Metrics/IvfCudaSharedPieces.FoldedPiecesGiveTheExactNeighbours/ip:"
  small+="LargeKCudaTies.AllEqualScoresGiveTheSmallestRows:LargeKCudaEdges.IdsPaddingAndEmptyIndex:"
  small+="MetricsAndK/LargeKCuda.SelectorsAreHonoured/ip_k4096:"
  small+="ShardsCuda.TwoShardsOnOneGpu${KNNX_SANITIZER_EXTRA:-}"
  # Under racecheck these take minutes (OPQ's many k-means runs, a large batched search, the
  # 3xTF32 cases: cuBLAS and a kernel without shared memory, two shards on worker threads: over
  # 100 s); their kernels are covered by the other cases, and memcheck runs them too.
  local slow="-TransformCuda.RotationNormalizeAndOpq:StreamsCuda.BatchedGpuSearchMatchesOneSearch"
  slow+=":FlatCuda.Split3xTf32GemmMatchesFloat64:ShardsCuda.TwoShardsOnOneGpu"
  # The shared scan's folded pieces (a lock per group of queries) under memcheck; racecheck
  # reaches that kernel through IvfCuda.AllListsProbedIsExact.
  slow+=":Metrics/IvfCudaSharedPieces.*"
  local rc=0 tool t0 filter
  for tool in ${KNNX_SANITIZER_TOOLS:-memcheck racecheck}; do
    t0=$SECONDS
    filter=$small
    [[ $tool == racecheck ]] && filter+=$slow
    timeout "${KNNX_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --error-exitcode 99 \
      ./build-gpu/tests/cpp/test_cuda --gtest_filter="$filter" \
      >"$out/sanitizer_$tool.log" 2>&1 || rc=$?
    echo "$tool: $((SECONDS - t0)) s, $(grep -cE '^\[       OK \]' "$out/sanitizer_$tool.log") tests ok," \
      "$(grep -c 'Race reported' "$out/sanitizer_$tool.log") races reported," \
      "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer_$tool.log" | tail -1)"
    # racecheck reports shared-memory hazards as warnings, which do not set the exit code.
    grep -q 'Race reported' "$out/sanitizer_$tool.log" && rc=98
  done
  return $rc
}

stage_shards() {
  ./build-gpu/bench/gpu_shards_bench --flat-n 200000 --ivf-n 500000 --lists 256 --nq 1000 \
    --repeats 3 --commit "$commit" >"$out/shards_smoke.json" 2>"$out/shards_smoke.log"
}

stage_harness() {
  mkdir -p "$out/results"
  OUT="$out/results" KNNX_BUILD_DIR=build-gpu KNNX_HARNESS_CPU=0 KNNX_COMMIT="$commit" \
    bash bench/run_harness_gpu.sh "${KNNX_HARNESS_N:-1000000}" 10000 >"$out/harness.log" 2>&1
}

stage_filters() {
  mkdir -p "$out/results"
  PYTHONPATH="$PWD/build-gpu/python" python3 bench/filter_cost.py --device cuda --nb 1000000 \
    --nq 10 1000 --out "$out/results/filter_cost_cuda.json" >"$out/filter_cost.log" 2>&1
  local rc=$?
  tail -30 "$out/filter_cost.log"
  return $rc
}

stage_pq() {
  local rc=0
  ./build-gpu/tests/cpp/test_cuda --gtest_filter='*PqCuda*' >"$out/pq_gtest.log" 2>&1 || rc=1
  grep -E "^\[  (PASSED|FAILED) |tests ran" "$out/pq_gtest.log" | head -20
  timeout "${KNNX_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool memcheck --error-exitcode 99 \
    ./build-gpu/tests/cpp/test_cuda \
    --gtest_filter='PqCuda.TablesInGlobalMemoryEqualCpu:PqCuda.DeviceArrays:MetricsAndM/PqCudaSweep.EqualsCpu/1:MetricsMAndTables/IvfPqCudaSweep.EqualsCpu/1:MetricsMAndTables/IvfPqCudaGrouped.EqualsCpu/1:MetricsMAndTables/IvfPqCudaGrouped.EqualsCpu/5' \
    >"$out/pq_memcheck.log" 2>&1 || rc=1
  grep -E "ERROR SUMMARY" "$out/pq_memcheck.log" | tail -1
  # The shared-memory table written, then read by the whole block; with several lists a block,
  # L2's per-list tables rewritten between lists (Grouped/1: M 16) and each round's rows staged
  # (Grouped/5: M 48, row terms).
  timeout "${KNNX_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool racecheck --error-exitcode 99 \
    ./build-gpu/tests/cpp/test_cuda \
    --gtest_filter='MetricsAndM/PqCudaSweep.EqualsCpu/0:MetricsMAndTables/IvfPqCudaGrouped.EqualsCpu/1:MetricsMAndTables/IvfPqCudaGrouped.EqualsCpu/5' \
    >"$out/pq_racecheck.log" 2>&1 || rc=1
  grep -q 'Race reported' "$out/pq_racecheck.log" && rc=1
  grep -E "RACECHECK SUMMARY" "$out/pq_racecheck.log" | tail -1
  PYTHONPATH="$PWD/build-gpu/python" python3 -m pytest -q -rs -p no:cacheprovider \
    tests/python/test_pq_gpu.py tests/python/test_pq.py >"$out/pq_pytest.log" 2>&1 || rc=1
  tail -1 "$out/pq_pytest.log"
  return $rc
}

stage_sq() {
  local rc=0
  ./build-gpu/tests/cpp/test_cuda --gtest_filter='*SqCuda*' >"$out/sq_gtest.log" 2>&1 || rc=1
  grep -E "^\[  (PASSED|FAILED) |tests ran" "$out/sq_gtest.log" | head -20
  timeout "${KNNX_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool memcheck --error-exitcode 99 \
    ./build-gpu/tests/cpp/test_cuda \
    --gtest_filter='SqCuda.DeviceArrays:SqCuda.OddDimensionEqualsCpu:TypesAndMetrics/SqCudaSweep.*/1' \
    >"$out/sq_memcheck.log" 2>&1 || rc=1
  grep -E "ERROR SUMMARY" "$out/sq_memcheck.log" | tail -1
  PYTHONPATH="$PWD/build-gpu/python" python3 -m pytest -q -rs -p no:cacheprovider \
    tests/python/test_sq_gpu.py tests/python/test_faiss_sq.py >"$out/sq_pytest.log" 2>&1 || rc=1
  tail -1 "$out/sq_pytest.log"
  return $rc
}

stage_refine() {
  local rc=0
  ./build-gpu/tests/cpp/test_cuda --gtest_filter='RefineCuda.*' >"$out/refine_gtest.log" 2>&1 || rc=1
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran" "$out/refine_gtest.log" | head -20
  local tool
  for tool in memcheck racecheck; do
    timeout "${KNNX_SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --error-exitcode 99 \
      ./build-gpu/tests/cpp/test_cuda \
      --gtest_filter='RefineCuda.DeviceArraysInAndOut:RefineCuda.KPastTheBlockSelectionIsRefused' \
      >"$out/refine_$tool.log" 2>&1 || rc=1
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$out/refine_$tool.log" | tail -1
  done
  PYTHONPATH="$PWD/build-gpu/python" python3 -m pytest -q -rs -p no:cacheprovider \
    tests/python/test_refine_storage.py tests/python/test_index_io_refine.py \
    >"$out/refine_pytest.log" 2>&1 || rc=1
  tail -1 "$out/refine_pytest.log"
  return $rc
}

stage_pq_bench() {
  mkdir -p "$out/results"
  PYTHONPATH="$PWD/build-gpu/python" python3 bench/gpu_ivf_pq.py --n 1000000 10000000 \
    --nq 10000 --out "$out/results/gpu_ivf_pq.json" >"$out/gpu_ivf_pq.log" 2>&1
  local rc=$?
  tail -30 "$out/gpu_ivf_pq.log"
  return $rc
}

stage_ksweep() {
  mkdir -p "$out/results"
  PYTHONPATH="$PWD/build-gpu/python" python3 bench/k_sweep.py \
    --out "$out/results/k_sweep.json" >"$out/k_sweep.log" 2>&1
  local rc=$?
  tail -12 "$out/k_sweep.log"
  return $rc
}

for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "gpu_check.sh: unknown stage '$stage'" >&2
    exit 2
  fi
  t0=$SECONDS
  detail=$("stage_$stage" 2>&1)
  rc=$?
  [[ -n $detail ]] && echo "$detail" >"$out/stage_$stage.txt"
  note "$stage: rc=$rc, $((SECONDS - t0)) s; $(echo "$detail" | tr '\n' ' ' | cut -c1-300)"
  if [[ $stage == build && $rc != 0 ]]; then
    echo "$detail"
    break
  fi
done

echo
echo "summary:"
printf '  %s\n' "${summary[@]}" | tee "$out/summary.txt"
