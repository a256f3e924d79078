#!/usr/bin/env bash
# Before/after GPU latency of one query and small batches in one run: builds the Python module
# for a base tree and for the working tree ("new") side by side, then runs bench/gpu_latency.py
# with each, alternately (ROUNDS rounds), and compares every point (median over rounds,
# new / base). Raw JSON: ${OUT:-bench/out}/latency/{base,new}/round<r>/*.json; the comparison:
# $OUT/latency/ab_latency.json (and gpu_ab_latency_<gpu>.json), a table ab_latency.md.
# usage: bench/ab_latency.sh BASE [ROUNDS] [-- gpu_latency.py arguments, one run each]
#   BASE: a commit of this repository (needs .git), or a tarball made by `git archive BASE`.
#   Without arguments after --, three runs: 1M x 128 (Flat and IVF 1024 / 4096 lists, nq 1 and
#   16), 10M x 96 (IVF 4096, nprobe 1-8, nq 1 and 16), and 10M x 96 at nq 10,000 (nprobe 1 and 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base=${1:?usage: bench/ab_latency.sh BASE [ROUNDS] [-- gpu_latency.py arguments]}
shift
rounds=1
if [[ $# -gt 0 && $1 != -- ]]; then rounds=$1; shift; fi
[[ $# -gt 0 && $1 == -- ]] && shift
runs=()
if [[ $# -gt 0 ]]; then
  runs=("$*")
else
  runs=("--nb 1000000 --d 128 --nlist 1024 4096 --nprobe 1 2 4 8 16 32"
        "--nb 10000000 --d 96 --nlist 4096 --nprobe 1 2 4 8 --skip-flat"
        "--nb 10000000 --d 96 --nlist 4096 --nprobe 1 2 --nq 10000 --reps 20 --skip-flat")
fi
out=$(realpath -m "${OUT:-bench/out}/latency")
mkdir -p "$out/base" "$out/new"
# shellcheck source=bench/ab_base_tree.sh
source bench/ab_base_tree.sh
ab_base_tree ab_latency "$base"
new_name=${KNNX_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo working-tree)}
jobs=$(( $(nproc) / 2 ))

build() {  # tree, log
  (cd "$1" && cmake -S . -B build-ab-py -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DKNNX_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" -DKNNX_BUILD_TESTS=OFF \
    -DKNNX_BUILD_CLI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >"$2" 2>&1 &&
    cmake --build build-ab-py -j"$jobs" --target _knnx >>"$2" 2>&1) ||
    { grep -E "error|Error" "$2" | head -30; return 1; }
}
start=$SECONDS
build "$base_tree" "$out/base/build.log" &
base_pid=$!
build "$PWD" "$out/new/build.log" &
new_pid=$!
wait "$base_pid"
wait "$new_pid"
echo "ab_latency: base $base_name and new $new_name built in $((SECONDS - start)) s"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

for ((r = 1; r <= rounds; ++r)); do
  for side in base new; do
    tree=$PWD
    [[ $side == base ]] && tree=$base_tree
    mkdir -p "$out/$side/round$r"
    for i in "${!runs[@]}"; do
      # shellcheck disable=SC2086  # each run's arguments are split on purpose
      PYTHONPATH="$tree/build-ab-py/python" python3 bench/gpu_latency.py ${runs[$i]} \
        --out "$out/$side/round$r/run$i.json" >>"$out/$side/log" 2>&1
    done
  done
  echo "ab_latency: round $r of $rounds done at $((SECONDS - start)) s"
done

python3 - "$out" "$rounds" "$base_name" "$new_name" "${#runs[@]}" <<'PY'
import json, re, statistics, sys
out, rounds, base_name, new_name, n_runs = sys.argv[1], int(sys.argv[2]), *sys.argv[3:5], int(sys.argv[5])

def key(doc, p):
    ivf = f" nlist {p['nlist']} nprobe {p['nprobe']} shared {p['shared_scan']}" if p["index"] == "ivf" else ""
    return f"{doc['data']['n']}x{doc['data']['d']} {p['index']} nq {p['nq']}{ivf}"

per = {}
for side in ("base", "new"):
    times = {}
    for r in range(1, rounds + 1):
        for i in range(n_runs):
            doc = json.load(open(f"{out}/{side}/round{r}/run{i}.json"))
            for p in doc["points"]:
                if "median_ms" in p:
                    times.setdefault(key(doc, p), []).append((p["median_ms"], p["floor_ms"]))
    per[side] = {k: (statistics.median(t for t, _ in v), v[0][1]) for k, v in times.items()}
rows = [{"case": k, "base_ms": b, "new_ms": per["new"][k][0], "floor_ms": f,
         "new_over_base": per["new"][k][0] / b}
        for k, (b, f) in per["base"].items() if k in per["new"]]
device = open(f"{out}/gpu.txt").read().split(",")[0].strip()
result = {"device": device, "base": base_name, "new": new_name, "rounds": rounds,
          "statistic": "median over rounds of gpu_latency.py's medians", "cases": rows}
slug = re.sub(r"[^a-z0-9]+", "_", device.lower()).strip("_")
for path in (f"{out}/ab_latency.json", f"{out}/gpu_ab_latency_{slug}.json"):
    json.dump(result, open(path, "w"), indent=1)
with open(f"{out}/ab_latency.md", "w") as md:
    md.write(f"{device}: base {base_name} vs new {new_name}, {rounds} rounds\n\n")
    md.write("| case | base ms | new ms | floor ms | new/base |\n|---|---|---|---|---|\n")
    for r in rows:
        md.write(f"| {r['case']} | {r['base_ms']:.4f} | {r['new_ms']:.4f} | {r['floor_ms']:.4f} "
                 f"| {r['new_over_base']:.3f} |\n")
print(open(f"{out}/ab_latency.md").read())
PY
