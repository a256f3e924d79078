#!/usr/bin/env bash
# Times each kernel of the searches in bench/gpu_profile_driver.py with Nsight Compute (ncu, with
# the clocks left alone), then reads the hardware counters of the two kernels whose share of the
# time is in question: the fused fast mode's candidate kernel (nq 10000) and the streaming scan
# of one query. Needs a CUDA build of the Python module in build-gpu (bench/gpu_round_verify.sh
# makes one); OUT (default gpu-profile) receives:
#   kernel_times.txt  every kernel of the searches (and of IVF-PQ ones), in launch order, with grid and microseconds
#   kernel_detail.txt the counters' sections (speed of light, memory, compute, occupancy, stalls)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-profile}; mkdir -p "$out"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[[ -n $ncu ]] || { echo "no ncu on this machine"; exit 1; }
export PYTHONPATH=${PYTHONPATH:-build-gpu/python}
driver="python3 bench/gpu_profile_driver.py ${DRIVER_ARGS:-}"
timeout "${TIMES_S:-240}" "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv \
  --log-file "$out/kernel_times.csv" $driver --cases nq1 fused exact ivfpq >"$out/driver.log" 2>&1
echo "ncu times rc=$?"
python3 - "$out/kernel_times.csv" >"$out/kernel_times.txt" <<'PY'
import csv, re, sys
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))
        if r.get("Metric Name") == "gpu__time_duration.sum"]
total = 0.0
for r in rows:
    unit = r["Metric Unit"]
    v = float(r["Metric Value"].replace(",", ""))
    us = v / 1e3 if unit in ("nsecond", "ns") else v * 1e3 if unit in ("msecond", "ms") else v
    name = re.sub(r"\(.*", "", r["Kernel Name"])[:70]
    print(f'{r["ID"]:>5} {name:<70} {r["Grid Size"]:>16} {us:12.1f} us')
PY
tail -60 "$out/kernel_times.txt"
sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
  --section Occupancy --section LaunchStats --section WarpStateStats --section SchedulerStats"
: >"$out/kernel_detail.txt"
for spec in "regex:fused_candidates 1" "regex:flat_stream 2"; do
  set -- $spec
  timeout "${DETAIL_S:-120}" "$ncu" --clock-control none --kernel-name "$1" --launch-skip "$2" \
    --launch-count 1 $sections $driver >>"$out/kernel_detail.txt" 2>&1
  echo "ncu detail $1 rc=$?"
done
grep -E "^  [a-z_]+.*kernel|Duration|DRAM Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per Thread|Issue Slots Busy|No Eligible|Warp Cycles Per Issued" \
  "$out/kernel_detail.txt" | head -60
