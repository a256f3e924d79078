#!/usr/bin/env bash
# Builds the knnx Python module and CLI with CUDA on a GPU machine, then runs the recall /
# throughput harness on the GPU (knnx-gpu IndexFlat and IndexIVFFlat, PyTorch x @ y.T + topk)
# next to the CPU systems, and `knnx bench --device cuda`. JSON goes to $OUT when it is set
# (else bench/results/), logs to ${OUT:-bench/out}.
#
# usage: bench/run_harness_gpu.sh [N] [NQ]        (defaults: 1000000 10000)
# KNNX_BUILD_DIR names an existing CUDA build with the Python module and the CLI to use instead
# of building one; KNNX_HARNESS_CPU=0 leaves out the sweep beside the CPU systems.
# Needs: nvcc, PyTorch with CUDA, faiss-cpu and numpy in python3; hnswlib is used when installed.
set -euo pipefail
n=${1:-1000000}
nq=${2:-10000}
logs=${OUT:-bench/out}
mkdir -p "$logs"
results=${OUT:-bench/results}
arch=${CUDA_ARCHITECTURES:-90}
build=${KNNX_BUILD_DIR:-}
if [[ -z $build ]]; then
  build=build-gpu-harness
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_PYTHON=ON \
    -DKNNX_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DPython_EXECUTABLE="$(command -v python3)" >"$logs/harness_configure.log" 2>&1 \
    || { tail -30 "$logs/harness_configure.log"; exit 1; }
  cmake --build "$build" -j"$(nproc)" --target _knnx knnx_cli >"$logs/harness_build.log" 2>&1 \
    || { grep -E "error" "$logs/harness_build.log" | head -30; exit 1; }
fi
py=$build/python
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true

# 1. GPU systems at full size: exact flat (knnx-gpu, PyTorch) and knnx-gpu IVF-Flat sweeps.
python3 -m bench.harness --knnx-python "$py" --dataset mixture --n "$n" --nq "$nq" --k 10 \
  --clusters 1024 --noise-stddev 0.6 --seed 2 --systems knnx-gpu,torch-gpu --indexes flat,ivf \
  --n-lists 1024,4096 --n-probe 1,2,4,8,16,32,64,128 --repeats 5 \
  --out "$results/ann_gpu_mixture_${n}.json" 2>&1 | tee "$logs/harness_gpu.log"

# 2. The same data at 100k rows with the CPU systems beside the GPU ones.
if [[ ${KNNX_HARNESS_CPU:-1} != 0 ]]; then
  python3 -m bench.harness --knnx-python "$py" --dataset mixture --n 100000 --nq 1000 --k 10 \
    --systems knnx-gpu,torch-gpu,knnx-cpu,faiss-cpu,hnswlib --indexes flat,ivf,hnsw \
    --n-lists 1024 --threads "$(nproc)" --repeats 5 \
    --out "$results/ann_gpu_cpu_mixture_100k.json" 2>&1 | tee "$logs/harness_gpu_cpu.log"
fi

# 3. The C++ CLI's sweep on the device.
"./$build/cli/knnx" bench --device cuda --generate "$n" --nq "$nq" --clusters 1024 \
  --noise-stddev 0.6 --seed 2 --n-lists 1024 --out "$results/knnx_bench_gpu_${n}.json" \
  2>&1 | tee "$logs/knnx_bench_gpu.log"
echo "results in $results; render with: python3 bench/render_benchmarks.py"
