#!/usr/bin/env bash
# One gpu_ivf_bench suite timed for several trees side by side, to find which change moved a
# search: builds gpu_ivf_bench for each tree (in parallel), then runs the suite ROUNDS times per
# tree, trees alternating, and prints each timing's median over rounds per tree, relative to the
# first tree. SUITE=playbook (default: launch-bound searches, 32,768 x 64, 64 lists, 16 queries,
# 200 searches a case) or SUITE=curve (1M clustered x 128, 1,024 lists, n_probe 1/4/16/64,
# nq 10,000, 15 searches a point).
# usage: [SUITE=curve] bench/ab_playbook.sh ROUNDS TREE...
#   TREE: a tarball made by `git archive` (the name says which commit), or . for this tree.
# JSON of every run: ${OUT:-bench/out}/<suite>/<tree>/round<r>.json; the medians in
# ab_<suite>.json and the table in table.md there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:?usage: bench/ab_playbook.sh ROUNDS TREE...}
shift
suite=${SUITE:-playbook}
case $suite in
  playbook) args=(--suite playbook --repeats 200) ;;
  curve) args=(--suite curve --n 1000000 --lists 1024 --probes 1 4 16 64 --repeats 15) ;;
  *) echo "ab_playbook.sh: SUITE is playbook or curve" >&2; exit 2 ;;
esac
out=$(realpath -m "${OUT:-bench/out}/$suite")
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
    "${dirs[$i]}/build-ab/bench/gpu_ivf_bench" "${args[@]}" >"$out/${names[$i]}/round$r.json" \
      2>/dev/null
  done
done
device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
python3 - "$out" "$rounds" "$device" "$suite" "${args[*]}" "${names[@]}" <<'PY'
import json, statistics, sys
out, rounds, device, suite, args, names = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                           sys.argv[4], sys.argv[5], sys.argv[6:])

sys.path.insert(0, "bench")
from ab_timings import timings  # noqa: E402

med = {}
for name in names:
    runs = [timings(json.load(open(f"{out}/{name}/round{r}.json"))["result"], "", {})
            for r in range(1, rounds + 1)]
    for key in runs[0]:
        med.setdefault(key, {})[name] = statistics.median(run[key] for run in runs if key in run)
lines = ["| case | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
for key, per in med.items():
    first = per[names[0]]
    cells = [f"{first:.4f} ms"] + [f"{per[n] / first:.3f}" for n in names[1:] if n in per]
    lines.append(f"| {key} | " + " | ".join(cells) + " |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
json.dump({"device": device, "suite": suite, "bench_args": args, "trees": names,
           "rounds": rounds,
           "command": f"SUITE={suite} bench/ab_playbook.sh {rounds} " + " ".join(names),
           "statistic": "median over rounds of each run's median", "median_ms": med},
          open(f"{out}/ab_{suite}.json", "w"), indent=1)
print("\n".join(lines))
PY
