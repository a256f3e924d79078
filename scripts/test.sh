#!/usr/bin/env bash
# Configures (Release, Ninja, build directory `build`), builds and runs every test: the C++
# suites and CLI checks through CTest, then the Python tests, then the sanitizer and fuzzing
# stages (scripts/sanitizers.sh, scripts/fuzz.sh). The CUDA backend is built wherever
# nvcc is found; the Python extension wherever nanobind can be imported.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=build
JOBS=$(nproc)
PYTHON=${PYTHON:-python3}

# Wall time of each stage, printed as it ends, so a slow machine shows where its time went.
stage_start=$SECONDS
stage_done() {
  echo "test.sh: $1 took $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
}

cmake_args=(-S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release)
have_python_ext=0
if "$PYTHON" -c "import nanobind" >/dev/null 2>&1; then
  cmake_args+=(-DKNNX_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$(command -v "$PYTHON")")
  have_python_ext=1
fi

cmake "${cmake_args[@]}"
cmake --build "$BUILD_DIR" -j "$JOBS"
stage_done "configure + build"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
stage_done "ctest"

# Python tests, when there are any.
if [[ -d tests/python ]] &&
   [[ -n $(find tests/python -name 'test_*.py' -o -name '*_test.py' | head -n 1) ]]; then
  if ((have_python_ext == 0)); then
    echo "test.sh: error: tests/python needs the extension, but nanobind is not importable" \
         "(run scripts/install-deps.sh)" >&2
    exit 1
  fi
  rc=0
  PYTHONPATH="$PWD/$BUILD_DIR/python${PYTHONPATH:+:$PYTHONPATH}" \
    "$PYTHON" -m pytest -q tests/python bench/test_bench_scripts.py || rc=$?
  if ((rc == 5)); then
    echo "test.sh: no Python tests were collected"
  elif ((rc != 0)); then
    exit "$rc"
  fi
  stage_done "pytest"
fi
# Reliability stages (docs/reliability.md), CPU only, each in its own build directory:
# AddressSanitizer + UndefinedBehaviorSanitizer over the C++ suites and ThreadSanitizer over the
# concurrency tests (KNNX_TEST_SANITIZERS=0 skips them), then the libFuzzer targets for
# KNNX_FUZZ_SECONDS seconds each (default 30; 0 only replays the saved inputs; KNNX_TEST_FUZZ=0
# skips them).
if [[ ${KNNX_TEST_SANITIZERS:-1} != 0 ]]; then
  bash scripts/sanitizers.sh
  stage_done "sanitizers"
fi
if [[ ${KNNX_TEST_FUZZ:-1} != 0 ]]; then
  bash scripts/fuzz.sh
  stage_done "fuzzing"
fi
echo "test.sh: all tests passed in $SECONDS s"
