// cpu/cpu_backend.hpp — the CPU's detail::Backend (BLAS + OpenMP).
#pragma once

#include "core/backend.hpp"

namespace knnx::cpu {

const detail::Backend& backend();

}  // namespace knnx::cpu
