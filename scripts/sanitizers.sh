#!/usr/bin/env bash
# Sanitizer stages (docs/reliability.md), CPU only, GCC, each in its own build directory:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover=all): the library and
#      every C++ test suite, run through CTest (build-asan/).
#   2. ThreadSanitizer: the library and the index suite, running the concurrency tests
#      (Concurrency*) with OMP_NUM_THREADS=1 (build-tsan/). libgomp and OpenBLAS are not built
#      with TSan, so the synchronisation inside them (OpenMP barriers, OpenBLAS's buffer locks)
#      is invisible to it and OpenMP teams of more than one thread produce false reports; with one
#      OpenMP thread per call the threads TSan checks are the test's own, sharing one index.
# KNNX_SANITIZERS selects stages (default "asan tsan").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STAGES=${KNNX_SANITIZERS:-asan tsan}
JOBS=$(nproc)
common=(-G Ninja -DCMAKE_BUILD_TYPE=Debug -DKNNX_ENABLE_CUDA=OFF -DKNNX_BUILD_PYTHON=OFF
        -DKNNX_BUILD_CLI=OFF)

for stage in $STAGES; do
  start=$SECONDS
  case $stage in
    asan)
      cmake -S . -B build-asan "${common[@]}" \
        "-DCMAKE_CXX_FLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
      cmake --build build-asan -j "$JOBS"
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure -j "$JOBS"
      ;;
    tsan)
      cmake -S . -B build-tsan "${common[@]}" \
        "-DCMAKE_CXX_FLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=thread" \
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" >/dev/null
      cmake --build build-tsan -j "$JOBS" --target test_index
      OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
        build-tsan/tests/cpp/test_index --gtest_filter='Concurrency*'
      ;;
    *)
      echo "sanitizers.sh: unknown stage '$stage' (known: asan tsan)" >&2
      exit 2
      ;;
  esac
  echo "sanitizers.sh: $stage passed in $((SECONDS - start)) s"
done
