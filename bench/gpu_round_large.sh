#!/usr/bin/env bash
# One device call: bench/gpu_sweep.py, the 100M x 96 IVF-PQ build from a file
# (bench/gpu_build_large.py), and with PQ=1 bench/gpu_ivf_pq.py at 10M with refine, each under a
# time limit.
# Logs and JSON under $OUT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-gpu-round}; mkdir -p "$out"
t0=$SECONDS
stamp() { echo "== [$((SECONDS - t0)) s] $*" | tee -a "$out/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/summary.txt"
df -h /tmp | tail -1 | tee -a "$out/summary.txt"
export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DKNNX_BUILD_CLI=ON -DKNNX_BUILD_BENCH=OFF -DKNNX_BUILD_PYTHON=ON -DKNNX_BUILD_TESTS=OFF \
  -DPython_EXECUTABLE="$(command -v python3)" >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
cmake --build build-gpu --target _knnx knnx_cli >"$out/build.log" 2>&1 \
  || { grep -E "error" "$out/build.log" | head -30; exit 1; }
stamp built
export PYTHONPATH=build-gpu/python
if [[ ${CROSSOVER:-1} == 1 ]]; then
  # Fast against exact with the fast mode allowed at every k: where it stops gaining.
  KNNX_FLAT_FAST_MAX_K=2048 timeout 90 python3 bench/gpu_sweep.py --sweeps k --indexes flat \
    --modes exact fast --no-torch --k 10 32 64 128 256 512 1024 --out "$out/fast_crossover.json" \
    >"$out/crossover.log" 2>&1
  stamp "crossover rc=$?"; tail -16 "$out/crossover.log" >>"$out/summary.txt"
fi
if [[ ${SWEEP:-1} == 1 ]]; then
  timeout ${SWEEP_S:-170} python3 bench/gpu_sweep.py --k 10 64 256 1024 2048 4096 8192 16384 \
    --out "$out/gpu_sweep.json" >"$out/sweep.log" 2>&1
  stamp "sweep rc=$?"; tail -45 "$out/sweep.log" >>"$out/summary.txt"
fi
if [[ ${LARGE:-1} == 1 ]]; then
  timeout ${LARGE_S:-330} python3 bench/gpu_build_large.py --n ${LARGE_N:-100000000} \
    --knnx build-gpu/cli/knnx --out "$out/gpu_build_large.json" >"$out/large.log" 2>&1
  stamp "large build rc=$?"; grep -v "written" "$out/large.log" | tail -15 >>"$out/summary.txt"
  rm -rf /tmp/knnx_large
fi
if [[ ${PQ:-0} == 1 ]]; then
  left=$((${BUDGET:-565} - (SECONDS - t0)))
  timeout $left python3 bench/gpu_ivf_pq.py --n ${PQ_N:-10000000} --nq 10000 --M 48 --reps 2 \
    --nprobe 1 2 4 8 16 32 64 --refine 2 4 8 --refine-nprobe 8 16 32 \
    --out "$out/gpu_ivf_pq.json" >"$out/pq_bench.log" 2>&1
  stamp "pq bench rc=$?"; tail -40 "$out/pq_bench.log" >>"$out/summary.txt"
fi
stamp done
