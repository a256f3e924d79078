#!/usr/bin/env bash
# Builds knnx on the GPU machine, runs the GPU test suite, then the GPU Flat benchmark beside
# the PyTorch baseline. Writes logs and JSON under ${OUT:-bench/out}; prints a table last.
# usage: bench/run_gpu_flat.sh [quick|full] [tests|notests]
# KNNX_BUILD_DIR names an existing CUDA build (with benches) to use instead of building one;
# SIZES="N D[;N D...]" replaces the sizes of the mode.
set -euo pipefail
mode=${1:-full}
tests=${2:-tests}
out=${OUT:-bench/out}
mkdir -p "$out"
build=${KNNX_BUILD_DIR:-}
if [[ -z $build ]]; then
  build=build-gpu
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
    -DKNNX_BUILD_CLI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  cmake --build "$build" -j16 --target test_cuda gpu_flat_bench >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"
if [ "$tests" = tests ]; then
  ./$build/tests/cpp/test_cuda --gtest_output=json:"$out/test_cuda.json" >"$out/test_cuda.log" 2>&1 \
    && echo "GPU tests: PASSED" || { echo "GPU tests: FAILED"; grep -E "FAILED|Failure|error" "$out/test_cuda.log" | head -40; }
  tail -3 "$out/test_cuda.log"
fi
commit=${KNNX_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [[ -n ${SIZES:-} ]]; then
  IFS=';' read -r -a sizes <<<"$SIZES"
elif [ "$mode" = quick ]; then
  sizes=("1000000 128")
else
  sizes=("1000000 128" "1000000 768" "10000000 96")
fi
knnx_files=(); torch_files=()
for s in "${sizes[@]}"; do
  set -- $s; n=$1; d=$2
  ks="10 100 1024"; [ "$n" -ge 10000000 ] && ks="10 100"
  ./$build/bench/gpu_flat_bench --n "$n" --d "$d" --k $ks --repeats ${REPEATS:-5} >"$out/knnx_${n}_${d}.json" 2>>"$out/bench.log"
  python3 bench/torch_flat_baseline.py --n "$n" --d "$d" --k $ks --repeats ${REPEATS:-5} >"$out/torch_${n}_${d}.json" 2>>"$out/bench.log"
  knnx_files+=("$out/knnx_${n}_${d}.json"); torch_files+=("$out/torch_${n}_${d}.json")
done
python3 bench/combine_gpu_flat.py "$out/gpu_flat.json" --knnx "${knnx_files[@]}" --torch "${torch_files[@]}" \
  --commit "$commit" --command "bench/run_gpu_flat.sh $mode" | tee "$out/table.md"
