#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; Clang, AddressSanitizer + UndefinedBehaviorSanitizer,
# CPU only) in build-fuzz/ and runs each for KNNX_FUZZ_SECONDS seconds (default 30), all at
# once. Each starts from its seed corpus (tests/fuzz/corpus/<target>/), the saved crash inputs
# (tests/fuzz/regressions/<target>/) and what earlier runs here found (build-fuzz/corpus/).
# A crash leaves its input in build-fuzz/artifacts/<target>/ and fails the script; copy the
# file to tests/fuzz/regressions/<target>/, add a GoogleTest case for it and fix the loader.
#
# The mutations follow a fixed seed (KNNX_FUZZ_SEED, default 1), so a run explores the same
# inputs each time and a clean checkout's result does not depend on luck; a longer search for new
# crashes uses another seed (0 = libFuzzer picks one).
#
#   KNNX_FUZZ_SECONDS=600 KNNX_FUZZ_SEED=0 bash scripts/fuzz.sh   # a longer local search
#   KNNX_FUZZ_SECONDS=0 bash scripts/fuzz.sh      # build only, and replay the saved inputs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${KNNX_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${KNNX_FUZZ_SECONDS:-30}
SEED=${KNNX_FUZZ_SEED:-1}
TARGETS=(index_file vector_file faiss_index config)
CC_FUZZ=${KNNX_FUZZ_CC:-clang}
CXX_FUZZ=${KNNX_FUZZ_CXX:-clang++}

if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
  echo "fuzz.sh: error: $CXX_FUZZ not found (run scripts/install-deps.sh)" >&2
  exit 1
fi

CC=$CC_FUZZ CXX=$CXX_FUZZ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DKNNX_ENABLE_CUDA=OFF -DKNNX_BUILD_PYTHON=OFF -DKNNX_BUILD_CLI=OFF -DKNNX_BUILD_TESTS=OFF \
  -DKNNX_BUILD_FUZZERS=ON \
  "-DCMAKE_CXX_FLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
  >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]/#/fuzz_}"

# The loaders are single-threaded; OpenMP threads would only add noise.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

pids=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD_DIR/corpus/$t" "$BUILD_DIR/artifacts/$t"
  if ((SECONDS_EACH > 0)); then
    args=(-seed="$SEED" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=20 -rss_limit_mb=2048
          -print_final_stats=1 "$BUILD_DIR/corpus/$t")
  else
    args=(-runs=0)  # executes every input of the directories once, mutates nothing
  fi
  inputs=("tests/fuzz/corpus/$t")
  # libFuzzer stops at a directory that does not exist: a target may have no saved crash yet.
  [[ -d tests/fuzz/regressions/$t ]] && inputs+=("tests/fuzz/regressions/$t")
  "$BUILD_DIR/tests/fuzz/fuzz_$t" "${args[@]}" -artifact_prefix="$BUILD_DIR/artifacts/$t/" \
    "${inputs[@]}" >"$BUILD_DIR/fuzz_$t.log" 2>&1 &
  pids+=($!)
done
rc=0
for i in "${!TARGETS[@]}"; do
  t=${TARGETS[$i]}
  if wait "${pids[$i]}"; then
    echo "fuzz.sh: fuzz_$t: $(grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::number_of_executed_units)' \
      "$BUILD_DIR/fuzz_$t.log" | tail -n 1)"
  else
    rc=1
    echo "fuzz.sh: fuzz_$t FAILED (log: $BUILD_DIR/fuzz_$t.log; input: $BUILD_DIR/artifacts/$t/)" >&2
    tail -n 40 "$BUILD_DIR/fuzz_$t.log" >&2
  fi
done
exit "$rc"
