#!/usr/bin/env bash
# One device call that checks a tree before it lands and measures it against a base tree, each
# stage under a time limit and skipped when the call's budget (BUDGET seconds, default 565) has
# too little left:
#   1. builds this tree (test_cuda, test_index, the Python module, the CLI) and, beside it, the base tree's
#      Python module (BASE: a directory holding the base sources, e.g. the device copy of main;
#      without BASE, no base build and the latency of this tree alone);
#   2. the whole GPU gtest suite, then the GPU pytest files;
#   3. bench/gpu_ivf_pq.py at PQ_N (default 10M) x 96 with this tree;
#   4. bench/gpu_latency.py at 1M x 128 with the base's module, then this tree's, then the base's
#      again (nq 1 and 16, Flat and IVF);
#   5. with what is left, the 100M x 96 IVF-PQ build from a file (bench/gpu_build_large.py),
#      cut off by the budget if need be (its progress lines give the add rate as it grows).
# OVERHEAD=1 adds bench/gpu_search_overhead.py (a one-query search's fixed cost; off by default),
# with BASE also with the base tree's module.
# FUSED_S bounds the fused sweep (seconds); FUSED_NCU=1 adds Nsight Compute sections of one fused
# candidate kernel launch (FUSED_NCU_MMA: its KNNX_FLAT_FUSED_MMA, default auto).
# TESTS, FUSED (FUSED_MODES, default exact, fast and the fused fast kernel, at k FUSED_K, nq 10000,
# beside PyTorch), PQ,
# LAT and LARGE (each 1 by default) turn the stages after the build on or off, so that a warm device
# can run the later stages in a second call on the same build; GTEST_S bounds the gtest run,
# GTEST_FILTER and PYTEST_FILES narrow the tests, LAT_ARGS replaces the latency grid, LARGE_N sizes
# the build from a file.
# Logs and JSON under $OUT; the summary is $OUT/summary.txt. KNNX_COMMIT names this tree's commit.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-round}; mkdir -p "$out"
t0=$SECONDS
budget=${BUDGET:-565}
base=${BASE:-}  # empty: no base tree, no latency comparison
stamp() { echo "== [$((SECONDS - t0)) s] $*" | tee -a "$out/summary.txt"; }
left() { echo $((budget - (SECONDS - t0))); }
limit() { local l; l=$(left); echo $((l < $1 ? l : $1)); }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/summary.txt"
jobs=$(nproc)
configure() {  # tree, build dir, tests ON/OFF, cli ON/OFF
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DKNNX_BUILD_PYTHON=ON -DKNNX_BUILD_BENCH=OFF -DKNNX_BUILD_TESTS="$3" -DKNNX_BUILD_CLI="$4" \
    -DPython_EXECUTABLE="$(command -v python3)"
}
base_pid=
if [[ -n $base ]]; then
  (configure "$base" "$base/build-base" OFF OFF && cmake --build "$base/build-base" \
    -j$((jobs / 4)) --target _knnx) >"$out/build_base.log" 2>&1 &
  base_pid=$!
fi
(configure . build-gpu ON ON && cmake --build build-gpu -j"$jobs" --target _knnx knnx_cli test_cuda test_index) \
  >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp "built"
export PYTHONPATH=build-gpu/python
if [[ ${TESTS:-1} == 1 ]]; then
timeout "$(limit "${GTEST_S:-250}")" stdbuf -oL ./build-gpu/tests/cpp/test_cuda --gtest_filter="${GTEST_FILTER:-*}" >"$out/gtest.log" 2>&1
stamp "gtest rc=$?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/gtest.log" | tr '\n' ' ')"
grep -E "^\[  FAILED|Failure" "$out/gtest.log" | head -20 | tee -a "$out/summary.txt"
# The index layer's tests that use a GPU (loading files onto it, device memory, GPU chains).
timeout "$(limit 60)" ./build-gpu/tests/cpp/test_index --gtest_brief=1 \
  --gtest_filter="${INDEX_GTEST_FILTER:-ChainIo.Gpu*:DeviceMemory.*:IndexIo.*}" \
  >"$out/gtest_index.log" 2>&1
stamp "test_index (GPU cases) rc=$?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/gtest_index.log" | tr '\n' ' ')"
timeout "$(limit "${PYTEST_S:-90}")" python3 -m pytest -q -p no:cacheprovider \
  ${PYTEST_FILES:-$(grep -lE "cuda|gpu" tests/python/test_*.py)} >"$out/pytest.log" 2>&1
stamp "pytest rc=$?: $(tail -1 "$out/pytest.log")"
grep -E "^FAILED|^ERROR" "$out/pytest.log" | head -10 | tee -a "$out/summary.txt"
fi
if [[ ${FUSED:-1} == 1 ]] && (($(left) > 60)); then
  timeout "$(limit "${FUSED_S:-100}")" python3 bench/gpu_sweep.py --sweeps k --indexes flat \
    --modes ${FUSED_MODES:-exact fast fast-fused} --k ${FUSED_K:-10 100 1024} --k-sweep-nq 10000 \
    --out "$out/gpu_sweep_fused.json" >"$out/fused_sweep.log" 2>&1
  stamp "fused sweep rc=$?"; tail -6 "$out/fused_sweep.log" >>"$out/summary.txt"
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  if [[ ${FUSED_NCU:-0} == 1 && -n $ncu ]] && (($(left) > 90)); then
    # The candidate kernel of the kept search's first chunk (after the warm-up search's three),
    # on FP16 operands by FUSED_NCU_MMA (KNNX_FLAT_FUSED_MMA; default auto: wgmma on sm_90).
    # The report's details (stall reasons) go to fused_ncu.txt, its per-instruction samples (the
    # source page, SASS) to fused_ncu_sass.csv.gz.
    KNNX_FLAT_FUSED_MMA=${FUSED_NCU_MMA:-auto} timeout "$(limit 90)" "$ncu" --clock-control none --kernel-name regex:fused_candidates \
      --launch-skip 3 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
      --section WarpStateStats --section Occupancy --section LaunchStats --section SourceCounters \
      --section InstructionStats -f -o "$out/fused_ncu" \
      python3 bench/gpu_profile_driver.py --cases fused >"$out/fused_ncu.log" 2>&1
    stamp "ncu fused candidate kernel rc=$?"
    "$ncu" -i "$out/fused_ncu.ncu-rep" --print-details all >"$out/fused_ncu.txt" 2>&1
    "$ncu" -i "$out/fused_ncu.ncu-rep" --page source --print-source sass --csv 2>&1 |
      gzip >"$out/fused_ncu_sass.csv.gz"
    rm -f "$out/fused_ncu.ncu-rep"
    # Every kernel's time in the warm-up and the kept search: where the rest of a search goes.
    KNNX_FLAT_FUSED_MMA=${FUSED_NCU_MMA:-auto} timeout "$(limit 60)" "$ncu" --clock-control none \
      --metrics gpu__time_duration.sum --csv python3 bench/gpu_profile_driver.py --cases fused \
      >"$out/fused_kernels.csv" 2>&1
    stamp "ncu fused search kernels rc=$?"
    grep -E "Duration|Issue Slots Busy|Tensor|Registers Per|Achieved Occupancy|Compute \(SM\) Throughput|Stall" \
      "$out/fused_ncu.txt" | head -20 >>"$out/summary.txt"
  fi
fi
if [[ ${OVERHEAD:-0} == 1 ]] && (($(left) > 40)); then
  timeout "$(limit 60)" python3 bench/gpu_search_overhead.py --out "$out/gpu_search_overhead.json" \
    >"$out/overhead.log" 2>&1
  stamp "search overhead rc=$?"; tail -40 "$out/overhead.log" >>"$out/summary.txt"
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  if [[ -n $ncu ]] && (($(left) > 60)); then  # the scan kernel alone, each ring and k in order
    timeout "$(limit 60)" "$ncu" --clock-control none --kernel-name regex:flat_stream_kernel \
      --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active \
      --csv python3 bench/gpu_search_overhead.py --profile --passes 1 >"$out/overhead_ncu.csv" 2>&1
    stamp "ncu scan kernel rc=$?"
  fi
  if [[ -n $base_pid ]]; then
    wait "$base_pid"; base_pid=
    PYTHONPATH=$base/build-base/python timeout "$(limit 60)" python3 bench/gpu_search_overhead.py \
      --passes 1 --out "$out/gpu_search_overhead_base.json" >"$out/overhead_base.log" 2>&1
    stamp "search overhead (base) rc=$?"; tail -12 "$out/overhead_base.log" >>"$out/summary.txt"
  fi
fi
if [[ ${PQ:-1} == 1 ]] && (($(left) > 150)); then
  timeout "$(limit 170)" python3 bench/gpu_ivf_pq.py --n "${PQ_N:-10000000}" --nq 10000 --M 48 \
    --reps 2 --nprobe 1 2 4 8 16 64 --out "$out/gpu_ivf_pq.json" >"$out/pq_bench.log" 2>&1
  stamp "pq bench rc=$?"; grep -E "q/s|added" "$out/pq_bench.log" >>"$out/summary.txt"
fi
[[ -n $base_pid ]] && { wait "$base_pid"; stamp "base built rc=$?"; }
lat=${LAT_ARGS:-"--nb 1000000 --d 128 --nlist 1024 4096 --nprobe 1 4 16 --reps 100"}
run=0
whos="base new base"; [[ -n $base ]] || whos=new; [[ ${LAT:-1} == 1 ]] || whos=
for who in $whos; do
  (($(left) > 60)) || break
  run=$((run + 1))
  [[ $who == base ]] && pp=$base/build-base/python || pp=build-gpu/python
  PYTHONPATH=$pp timeout "$(limit 60)" python3 bench/gpu_latency.py $lat \
    --out "$out/latency_${run}_$who.json" >"$out/latency.log" 2>&1
  stamp "latency $who rc=$?"; tail -14 "$out/latency.log" >>"$out/summary.txt"
done
if [[ ${LARGE:-1} == 1 ]] && (($(left) > 60)); then
  timeout "$(limit 1000)" python3 bench/gpu_build_large.py --n "${LARGE_N:-100000000}" \
    --knnx build-gpu/cli/knnx --out "$out/gpu_build_large.json" >"$out/large.log" 2>&1
  stamp "large build rc=$?"; grep -v "written" "$out/large.log" | tail -12 >>"$out/summary.txt"
  rm -rf /tmp/knnx_large
fi
stamp done
