// cuda/runtime/launch.hpp — small helpers for kernel launch configuration.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "cuda/runtime/check.hpp"

namespace knnx::cuda {

// Raises a kernel's dynamic shared-memory limit when it needs more than the default 48 KiB.
inline void set_smem(const void* kernel, std::size_t bytes) {
  if (bytes > 48 * 1024) {
    KNNX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
  }
}

// A grid dimension for a grid-stride loop over n rows (at most 65535 blocks).
inline unsigned grid_rows(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(n, 65535)));
}

}  // namespace knnx::cuda
