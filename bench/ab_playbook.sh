#!/usr/bin/env bash
# The IVF playbook suite (launch-bound searches: 32,768 x 64, 64 lists, 16 queries) timed for
# several trees side by side, to find which change moved a search of tens of microseconds:
# builds gpu_ivf_bench for each tree (in parallel), then runs the suite ROUNDS times per tree,
# trees alternating, and prints each case's median over rounds per tree, relative to the first.
# usage: bench/ab_playbook.sh ROUNDS TREE...
#   TREE: a tarball made by `git archive` (the name says which commit), or . for this tree.
# JSON of every run: ${OUT:-bench/out}/playbook/<tree>/round<r>.json; the medians in
# ab_playbook.json and the table in table.md there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:?usage: bench/ab_playbook.sh ROUNDS TREE...}
shift
out=$(realpath -m "${OUT:-bench/out}/playbook")
mkdir -p "$out"
jobs=$(($(nproc) / $# > 0 ? $(nproc) / $# : 1))
declare -a dirs names
for tree in "$@"; do
  if [[ $tree == . ]]; then
    dirs+=("$PWD")
    names+=("${KNNX_COMMIT:-working-tree}")
  else
    d=$(mktemp -d)
    tar -xf "$tree" -C "$d"
    dirs+=("$d")
    names+=("$(basename "$tree" .tar)")
  fi
done
for i in "${!dirs[@]}"; do
  (cd "${dirs[$i]}" && cmake -S . -B build-ab -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DKNNX_BUILD_BENCH=ON -DKNNX_BUILD_TESTS=OFF -DKNNX_BUILD_CLI=OFF -DKNNX_BUILD_PYTHON=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/build_$i.log" 2>&1 &&
    cmake --build build-ab -j"$jobs" --target gpu_ivf_bench >>"$out/build_$i.log" 2>&1) &
done
wait
for ((r = 1; r <= rounds; ++r)); do
  for i in "${!dirs[@]}"; do
    mkdir -p "$out/${names[$i]}"
    "${dirs[$i]}/build-ab/bench/gpu_ivf_bench" --suite playbook --repeats 200 \
      >"$out/${names[$i]}/round$r.json" 2>/dev/null
  done
done
device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
python3 - "$out" "$rounds" "$device" "${names[@]}" <<'PY'
import json, statistics, sys
out, rounds, device, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
med = {}
for name in names:
    runs = [json.load(open(f"{out}/{name}/round{r}.json"))["result"]["results"]
            for r in range(1, rounds + 1)]
    for row in runs[0]:
        key = f"n_probe={row['n_probe']} {row['variant']}"
        vals = [x["median_ms"] for run in runs for x in run
                if x["n_probe"] == row["n_probe"] and x["variant"] == row["variant"]]
        med.setdefault(key, {})[name] = statistics.median(vals)
lines = ["| case | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
for key, per in med.items():
    first = per[names[0]]
    cells = [f"{per[names[0]] * 1000:.1f} us"] + [f"{per[n] / first:.3f}" for n in names[1:]]
    lines.append(f"| {key} | " + " | ".join(cells) + " |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
json.dump({"device": device, "trees": names, "rounds": rounds,
           "command": "bench/ab_playbook.sh " + str(rounds) + " " + " ".join(names),
           "statistic": "median over rounds of each run's median of 200 searches",
           "median_ms": med}, open(f"{out}/ab_playbook.json", "w"), indent=1)
print("\n".join(lines))
PY
