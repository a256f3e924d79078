#!/usr/bin/env bash
# Side-by-side IVF stage timings of two source trees in one run: the working tree ("new") and
# the same tree with PATCH reversed ("base"), built at once, measured alternately (ROUNDS
# times each) with bench/run_gpu_ivf_stages.sh. Logs and JSON under ${OUT:-bench/out}/{base,new}.
# usage: bench/ab_gpu_ivf_stages.sh PATCH [ROUNDS]      (PATCH: `git diff` output, -p1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
patch_file=$(realpath "$1")
rounds=${2:-2}
out=${OUT:-bench/out}
base_tree=$(mktemp -d)
mkdir -p "$out/base" "$out/new"
tar --exclude='./build*' -cf - . | tar -xf - -C "$base_tree"
(cd "$base_tree" && patch -s -R -p1 <"$patch_file")
start=$SECONDS
OUT="$out/base" bash "$base_tree/bench/run_gpu_ivf_stages.sh" build &
OUT="$out/new" bash bench/run_gpu_ivf_stages.sh build &
wait
echo "ab: builds took $((SECONDS - start)) s"
for ((r = 1; r <= rounds; ++r)); do
  echo "== base, round $r"
  OUT="$out/base" bash "$base_tree/bench/run_gpu_ivf_stages.sh" run
  echo "== new, round $r"
  OUT="$out/new" bash bench/run_gpu_ivf_stages.sh run
done
for v in base new; do
  echo "$v, per-kernel times of one search (ns):"
  awk -F'","' '/gpu__time_duration/ {print "  " $NF, substr($5, 1, 70)}' "$out/$v/stages_ncu.csv"
done
