#!/usr/bin/env bash
# Where the time of a GPU IVF search goes: builds gpu_ivf_bench (build-gpu-stages) and runs its
# `stages` suite (whole search with host and device-resident queries, copies alone, coarse search
# alone, exact flat), then, with `ncu` on PATH, the per-kernel times of one device-resident search.
# usage: bench/run_gpu_ivf_stages.sh [build|run|all] [stages args...]   (JSON and logs: ${OUT:-bench/out})
# `build` and `run` split the two so that builds of two trees can run side by side and their
# measurements one after the other.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step=${1:-all}; shift || true
out=${OUT:-bench/out}
mkdir -p "$out"
if [[ $step == build || $step == all ]]; then
  cmake -S . -B build-gpu-stages -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
    -DKNNX_BUILD_TESTS=OFF -DKNNX_BUILD_CLI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
    >"$out/stages_configure.log" 2>&1 || { tail -30 "$out/stages_configure.log"; exit 1; }
  cmake --build build-gpu-stages -j"$(nproc)" --target gpu_ivf_bench >"$out/stages_build.log" 2>&1 \
    || { grep -E "error" "$out/stages_build.log" | head -30; exit 1; }
fi
if [[ $step == run || $step == all ]]; then
  bench=build-gpu-stages/bench/gpu_ivf_bench
  "$bench" --suite stages --lists 1024 --probes 1 2 4 --repeats 9 "$@" >"$out/stages.json" \
    2>"$out/stages.log" || { tail "$out/stages.log"; exit 1; }
  cat "$out/stages.log"
  if command -v ncu >/dev/null; then
    ncu --profile-from-start off --metrics gpu__time_duration.sum --csv "$bench" --suite stages \
      --lists 1024 --probes 1 --repeats 1 --profile "$@" >"$out/stages_ncu.csv" \
      2>"$out/stages_ncu.log" || tail "$out/stages_ncu.log"
  fi
fi
