#!/usr/bin/env bash
# Times each kernel of the searches in bench/gpu_profile_driver.py with Nsight Compute (ncu, with
# the clocks left alone), then reads the hardware counters of the two kernels whose share of the
# time is in question: the fused fast mode's candidate kernel (nq 10000) and the streaming scan
# of one query. Needs a CUDA build of the Python module in build-gpu (bench/gpu_round_verify.sh
# makes one) and PyTorch (the driver's marker kernels); OUT (default gpu-profile) receives:
#   gpu_profile_kernels.json  each kept search's kernels and the counters (bench/kernel_profile.py;
#                             copy it to bench/results/gpu_profile_kernels_<gpu>.json)
#   kernel_times.csv, driver.log, kernel_detail.txt  ncu's and the driver's output behind it
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-profile}; mkdir -p "$out"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[[ -n $ncu ]] || { echo "no ncu on this machine"; exit 1; }
export PYTHONPATH=${PYTHONPATH:-build-gpu/python}
driver="python3 bench/gpu_profile_driver.py ${DRIVER_ARGS:-}"
cases="nq1 fused exact ivfpq"
timeout "${TIMES_S:-240}" "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv \
  --log-file "$out/kernel_times.csv" $driver --cases $cases >"$out/driver.log" 2>&1
echo "ncu times rc=$?"
sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
  --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats"
: >"$out/kernel_detail.txt"
for spec in "regex:fused_candidates 1" "regex:flat_stream 2"; do
  set -- $spec
  timeout "${DETAIL_S:-120}" "$ncu" --clock-control none --kernel-name "$1" --launch-skip "$2" \
    --launch-count 1 $sections $driver --cases nq1 fused >>"$out/kernel_detail.txt" 2>&1
  echo "ncu detail $1 rc=$?"
done
commit=${KNNX_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
python3 bench/kernel_profile.py --times "$out/kernel_times.csv" --labels "$out/driver.log" \
  --detail "$out/kernel_detail.txt" \
  --device "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" --commit "$commit" \
  --command "bench/gpu_profile.sh (ncu --clock-control none --metrics gpu__time_duration.sum over \
bench/gpu_profile_driver.py --cases $cases; sections of one fused_candidates_kernel and one \
flat_stream_kernel launch)" --out "$out/gpu_profile_kernels.json"
echo "kernel_profile rc=$?"
