// cuda/runtime/launch.hpp — small helpers for kernel launch configuration.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "cuda/runtime/check.hpp"

namespace knnx::cuda {

// Raises a kernel's dynamic shared-memory limit on the current device when it needs more than
// the default 48 KiB. The largest limit set is kept per device and kernel, so that a launch
// that needs no more does not call the driver (a one-query search feels each call).
inline void set_smem(const void* kernel, std::size_t bytes) {
  if (bytes <= 48 * 1024) return;
  int device = 0;
  KNNX_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::map<std::pair<int, const void*>, std::size_t> raised;
  const std::lock_guard<std::mutex> lock(mutex);
  std::size_t& limit = raised[{device, kernel}];
  if (bytes <= limit) return;
  KNNX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
  limit = bytes;
}

// A grid dimension for a grid-stride loop over n rows (at most 65535 blocks).
inline unsigned grid_rows(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(n, 65535)));
}

}  // namespace knnx::cuda
