#!/usr/bin/env bash
# Before/after GPU timings of a change in one run: builds gpu_flat_bench and gpu_ivf_bench for a
# base tree and for the working tree ("new") side by side, then times both alternately (ROUNDS
# rounds): the exact flat search (1M x 128, nq 16 / 1,024 / 10,000, k 10 / 100) and the IVF
# search (playbook suite, the 1M mixture curve at 1,024 lists with n_probe 1-64, and the stages
# suite). Raw JSON and logs: ${OUT:-bench/out}/{base,new}/round<r>/; the comparison of every
# timing (median over rounds, new / base ratio): $OUT/ab_seam.json, with copies named like
# bench/results (gpu_ab_seam_<gpu>.json) and a table ab_seam.md.
# usage: bench/ab_seam.sh BASE [ROUNDS]
#   BASE: a commit of this repository (needs .git), or a tarball made by `git archive BASE`
#   (where the tree is copied without .git: `git archive -o base.tar BASE`, then pass base.tar;
#   KNNX_COMMIT names the new tree in the results).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base=${1:?usage: bench/ab_seam.sh BASE [ROUNDS]}
rounds=${ROUNDS:-${2:-2}}
out=$(realpath -m "${OUT:-bench/out}")
mkdir -p "$out/base" "$out/new"
# shellcheck source=bench/ab_base_tree.sh
source bench/ab_base_tree.sh
ab_base_tree ab_seam "$base"
new_name=${KNNX_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo working-tree)}
jobs=$(( $(nproc) / 2 ))

build() {  # tree, log
  (cd "$1" && cmake -S . -B build-ab -G Ninja -DCMAKE_BUILD_TYPE=Release -DKNNX_BUILD_BENCH=ON \
    -DKNNX_BUILD_TESTS=OFF -DKNNX_BUILD_CLI=OFF -DKNNX_BUILD_PYTHON=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 >"$2" 2>&1 &&
    cmake --build build-ab -j"$jobs" --target gpu_flat_bench gpu_ivf_bench >>"$2" 2>&1) ||
    { grep -E "error|Error" "$2" | head -30; return 1; }
}
start=$SECONDS
build "$base_tree" "$out/base/build.log" &
base_pid=$!
build "$PWD" "$out/new/build.log" &
new_pid=$!
wait "$base_pid"
wait "$new_pid"
echo "ab_seam: base $base_name and new $new_name built in $((SECONDS - start)) s"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

measure() {  # tree, dir
  local b=$1/build-ab/bench
  mkdir -p "$2"
  "$b/gpu_flat_bench" --n 1000000 --d 128 --nq 16 1024 10000 --k 10 100 --repeats 5 \
    --check-queries 0 \
    >"$2/flat.json" 2>>"$2/log"
  "$b/gpu_ivf_bench" --suite playbook >"$2/ivf_playbook.json" 2>>"$2/log"
  "$b/gpu_ivf_bench" --suite curve --n 1000000 --lists 1024 --probes 1 4 16 64 --repeats 5 \
    >"$2/ivf_curve.json" 2>>"$2/log"
  "$b/gpu_ivf_bench" --suite stages --lists 1024 --probes 1 2 4 --repeats 9 \
    >"$2/ivf_stages.json" 2>>"$2/log"
}
for ((r = 1; r <= rounds; ++r)); do
  t=$SECONDS
  measure "$base_tree" "$out/base/round$r"
  measure "$PWD" "$out/new/round$r"
  echo "ab_seam: round $r of $rounds took $((SECONDS - t)) s"
done

python3 - "$out" "$rounds" "$base_name" "$new_name" <<'PY'
import json, statistics, sys, re
out, rounds, base_name, new_name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
files = ["flat", "ivf_playbook", "ivf_curve", "ivf_stages"]

sys.path.insert(0, "bench")
from ab_timings import timings  # noqa: E402

rows = []
device = open(f"{out}/gpu.txt").read().split(",")[0].strip()
for f in files:
    per = {}
    for side in ("base", "new"):
        runs = [timings(json.load(open(f"{out}/{side}/round{r}/{f}.json")), f, {})
                for r in range(1, rounds + 1)]
        per[side] = {k: statistics.median(run[k] for run in runs if k in run) for k in runs[0]}
    for key, b in per["base"].items():
        n = per["new"].get(key)
        if n is None or b <= 0:
            continue
        rows.append({"case": key, "base_ms": b, "new_ms": n, "new_over_base": n / b})
result = {"device": device, "base": base_name, "new": new_name, "rounds": rounds,
          "command": f"bench/ab_seam.sh {base_name} {rounds}",
          "statistic": "median over rounds of each program's own median", "cases": rows}
slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
for path in (f"{out}/ab_seam.json", f"{out}/gpu_ab_seam_{slug}.json"):
    json.dump(result, open(path, "w"), indent=1)
with open(f"{out}/ab_seam.md", "w") as md:
    md.write(f"{device}: base {base_name} vs new {new_name}, {rounds} rounds\n\n")
    md.write("| case | base ms | new ms | new/base |\n|---|---|---|---|\n")
    for r in rows:
        md.write(f"| {r['case']} | {r['base_ms']:.3f} | {r['new_ms']:.3f} | {r['new_over_base']:.3f} |\n")
worst = sorted(rows, key=lambda r: -r["new_over_base"])[:8]
print(f"{len(rows)} timings compared; slowest ratios new/base:")
for r in worst:
    print(f"  {r['new_over_base']:.3f}  {r['case']}  ({r['base_ms']:.3f} -> {r['new_ms']:.3f} ms)")
PY
