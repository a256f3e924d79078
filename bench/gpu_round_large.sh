#!/usr/bin/env bash
# One device call, stages in this order, each under a time limit and each skipped when the call's
# budget (BUDGET seconds, default 565) has too little left:
#   TESTS=1      the GPU gtests named by GTEST (test_cuda is built only then; GTEST_S seconds at
#                most), then the pytest files of PYTESTS (PYTEST_S seconds at most)
#   FUSED=1      the fused fast-mode kernel (KNNX_FLAT_FAST_KERNEL=fused): with TESTS=1, the
#                existing fast-mode gtests under it and compute-sanitizer memcheck / racecheck of
#                its own tests; then bench/gpu_sweep.py timing exact, the tile fast path and the
#                fused one side by side (k of FUSED_K at nq 10000; nq 16, 10000, 100000 at k 10)
#   LARGE=1      the 100M x 96 IVF-PQ build from a file (bench/gpu_build_large.py)
#   CROSSOVER=1  fast against exact GPU flat search with the fast mode allowed at every k
#   RADIXWS=1    GPU flat at k 2048-16384 under each workspace of RADIX_WS (MiB; 0: default)
#   SWEEP=1      bench/gpu_sweep.py
#   PQ=1         bench/gpu_ivf_pq.py at 10M with refine
# Logs and JSON under $OUT; the summary is $OUT/summary.txt. Set KNNX_COMMIT to the commit of the
# tree that runs where the checkout's git metadata is not that tree's.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-round}; mkdir -p "$out"
t0=$SECONDS
budget=${BUDGET:-565}
stamp() { echo "== [$((SECONDS - t0)) s] $*" | tee -a "$out/summary.txt"; }
left() { echo $((budget - (SECONDS - t0))); }
# stage NAME MIN_SECONDS: whether the stage is on and at least MIN_SECONDS remain.
stage() {
  [[ ${!1:-0} == 1 ]] || return 1
  (($(left) >= $2)) && return 0
  stamp "$1 skipped: $(left) s left"; return 1
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/summary.txt"
df -h /tmp | tail -1 | tee -a "$out/summary.txt"
export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
targets=(_knnx knnx_cli)
[[ ${TESTS:-0} == 1 ]] && targets+=(test_cuda)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKNNX_BUILD_CLI=ON -DKNNX_BUILD_BENCH=OFF -DKNNX_BUILD_PYTHON=ON \
  -DKNNX_BUILD_TESTS=$([[ ${TESTS:-0} == 1 ]] && echo ON || echo OFF) \
  -DPython_EXECUTABLE="$(command -v python3)" >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build build-gpu --target "${targets[@]}" >"$out/build.log" 2>&1 \
  || { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp built
export PYTHONPATH=build-gpu/python
if stage TESTS 30; then
  gs=${GTEST_S:-120}
  timeout $(($(left) < gs ? $(left) : gs)) ./build-gpu/tests/cpp/test_cuda --gtest_brief=1 \
    --gtest_filter="${GTEST:-*}" >"$out/gtest.log" 2>&1
  stamp "gtest rc=$?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/gtest.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED|Failure|error" "$out/gtest.log" | head -20 | tee -a "$out/summary.txt"
  if [[ -n ${PYTESTS:-} ]]; then
    timeout ${PYTEST_S:-90} python3 -m pytest -q -p no:cacheprovider $PYTESTS >"$out/pytest.log" 2>&1
    stamp "pytest rc=$?: $(tail -1 "$out/pytest.log")"
    grep -E "^FAILED|^ERROR" "$out/pytest.log" | head -10 | tee -a "$out/summary.txt"
  fi
fi
if stage FUSED 90; then
  if [[ ${TESTS:-0} == 1 ]]; then
    KNNX_FLAT_FAST_KERNEL=fused timeout 60 ./build-gpu/tests/cpp/test_cuda --gtest_brief=1 \
      --gtest_filter='FlatCuda.Fast*' >"$out/gtest_fused_default.log" 2>&1
    stamp "fast-mode gtests, fused kernel rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gtest_fused_default.log" | tr '\n' ' ')"
    if command -v compute-sanitizer >/dev/null; then
      timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./build-gpu/tests/cpp/test_cuda \
        --gtest_brief=1 --gtest_filter='FlatFusedCudaEdge.OverflowFallsBackToExact:*RecallAgainstExact/l2_d100_k10' \
        >"$out/memcheck_fused.log" 2>&1
      stamp "memcheck rc=$?"; tail -3 "$out/memcheck_fused.log" >>"$out/summary.txt"
      timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 ./build-gpu/tests/cpp/test_cuda \
        --gtest_brief=1 --gtest_filter='*RecallAgainstExact/ip_d3_k10' >"$out/racecheck_fused.log" 2>&1
      stamp "racecheck rc=$?"; tail -3 "$out/racecheck_fused.log" >>"$out/summary.txt"
    fi
  fi
  # shellcheck disable=SC2086
  timeout $(($(left) < 240 ? $(left) : 240)) python3 bench/gpu_sweep.py --indexes flat \
    --modes exact fast fast-fused --k ${FUSED_K:-10 32 100 256 512} --nq 16 10000 100000 \
    --out "$out/gpu_sweep_fused.json" >"$out/fused_sweep.log" 2>&1
  stamp "fused sweep rc=$?"; tail -14 "$out/fused_sweep.log" >>"$out/summary.txt"
fi
if stage LARGE 200; then
  timeout $(($(left) < ${LARGE_S:-330} ? $(left) : ${LARGE_S:-330})) python3 bench/gpu_build_large.py \
    --n ${LARGE_N:-100000000} --knnx build-gpu/cli/knnx --out "$out/gpu_build_large.json" \
    >"$out/large.log" 2>&1
  stamp "large build rc=$?"; grep -v "written" "$out/large.log" | tail -15 >>"$out/summary.txt"
  rm -rf /tmp/knnx_large
fi
if stage CROSSOVER 60; then
  KNNX_FLAT_FAST_MAX_K=2048 timeout 90 python3 bench/gpu_sweep.py --sweeps k --indexes flat \
    --modes exact fast --no-torch --k 10 32 64 128 256 512 1024 --out "$out/fast_crossover.json" \
    >"$out/crossover.log" 2>&1
  stamp "crossover rc=$?"; tail -16 "$out/crossover.log" >>"$out/summary.txt"
fi
if stage RADIXWS 60; then
  # The radix path's chunk of queries is bounded by the workspace (4 bytes a stored row a query):
  # large k under the 1.5 GiB default and under 16 GiB.
  for mb in ${RADIX_WS:-1536 16384}; do
    timeout 60 python3 bench/gpu_sweep.py --sweeps k --indexes flat --modes exact --no-torch \
      --k 2048 4096 16384 --workspace-mb $mb --out "$out/radix_ws_$mb.json" >"$out/radix_ws_$mb.log" 2>&1
    stamp "radix workspace $mb MiB rc=$?"; grep -E '"k"' "$out/radix_ws_$mb.log" | cut -c1-200 >>"$out/summary.txt"
  done
fi
if stage SWEEP 120; then
  timeout $(($(left) < 200 ? $(left) : 200)) python3 bench/gpu_sweep.py \
    --k 10 64 256 1024 2048 4096 8192 16384 --out "$out/gpu_sweep.json" >"$out/sweep.log" 2>&1
  stamp "sweep rc=$?"; tail -45 "$out/sweep.log" >>"$out/summary.txt"
fi
if stage PQ 120; then
  timeout $(left) python3 bench/gpu_ivf_pq.py --n ${PQ_N:-10000000} --nq 10000 --M 48 --reps 2 \
    --nprobe 1 2 4 8 16 32 64 --refine 2 4 8 --refine-nprobe 8 16 32 \
    --out "$out/gpu_ivf_pq.json" >"$out/pq_bench.log" 2>&1
  stamp "pq bench rc=$?"; tail -40 "$out/pq_bench.log" >>"$out/summary.txt"
fi
stamp done
