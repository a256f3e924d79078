#!/usr/bin/env bash
# Installs what knnx needs to build and test on Debian 12: compilers, CMake, Ninja, OpenBLAS,
# LAPACKE, GoogleTest/GoogleMock, Google Benchmark, CLI11, nlohmann-json and fmt from apt, Clang
# with its runtime libraries (libFuzzer, sanitizers) and OpenMP for the fuzzing stage, and
# pinned Python packages (numpy, nanobind, scikit-build-core, pytest, faiss-cpu) for the
# python3 on PATH. Safe to run again: it installs only what is missing. The CUDA toolkit is not
# installed here; where nvcc is present the build picks it up.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build
  libopenblas-openmp-dev liblapacke-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  clang libclang-rt-dev libomp-dev
)
# The versions the project is developed and tested with.
PIP_PACKAGES=(
  numpy==2.4.6
  nanobind==3.1.0
  scikit-build-core==1.1.2
  pytest==9.2.0
  faiss-cpu==1.15.1
)

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  SUDO=(sudo)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: apt packages present"
fi

PYTHON=${PYTHON:-python3}
echo "install-deps: pip packages for $("$PYTHON" --version 2>&1): ${PIP_PACKAGES[*]}"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "${PIP_PACKAGES[@]}"
if command -v pyenv >/dev/null 2>&1; then
  pyenv rehash || true  # expose console scripts of newly installed packages
fi
echo "install-deps: done"
