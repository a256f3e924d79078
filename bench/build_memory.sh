#!/usr/bin/env bash
# Peak host memory of `knnx build` from a base file, for one or more knnx binaries side by side
# (e.g. a release that reads the base whole, and this tree, which reads it in batches).
# Writes JSON to $OUT_JSON (default bench/results/build_memory_<host>.json).
#
#   bash bench/build_memory.sh BASE.fvecs SPEC KNNX_BIN [KNNX_BIN ...]
set -euo pipefail
base=$1 spec=$2
shift 2
out_json=${OUT_JSON:-bench/results/build_memory_$(hostname -s).json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=()
for bin in "$@"; do
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" build --base "$base" --index "$spec" \
    --kmeans-iter 4 --out "$tmp/index.knnx" --quiet >/dev/null
  read -r seconds max_rss_kib <"$tmp/time"
  runs+=("{\"knnx\": \"$bin\", \"version\": \"$("$bin" --version)\", \"seconds\": $seconds, \"peak_host_bytes\": $((max_rss_kib * 1024)), \"index_file_bytes\": $(stat -c %s "$tmp/index.knnx")}")
done
{
  echo "{"
  echo "  \"benchmark\": \"build_memory\","
  echo "  \"command\": \"bash bench/build_memory.sh $base $spec $*\","
  echo "  \"commit\": \"$(git rev-parse --short HEAD)\","
  echo "  \"host\": \"$(hostname -s), $(nproc) cores\","
  echo "  \"base\": {\"path\": \"$base\", \"bytes\": $(stat -c %s "$base")},"
  echo "  \"spec\": \"$spec\","
  echo "  \"runs\": ["
  for i in "${!runs[@]}"; do
    sep=,; ((i == ${#runs[@]} - 1)) && sep=
    echo "    ${runs[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} >"$out_json"
cat "$out_json"
