#include "cuda/runtime/workspace.hpp"

#include <cuda_runtime.h>

#include <chrono>
#include <map>
#include <mutex>

#include "core/workspace.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"

namespace knnx::cuda {
namespace {

// Free bytes of the current device `ordinal`: cudaMemGetInfo's, plus what its memory pool keeps
// reserved without using (init_device_pool keeps freed blocks for reuse).
std::int64_t measure_free_bytes(int ordinal) {
  std::size_t free_bytes = 0, total_bytes = 0;
  KNNX_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  cudaMemPool_t pool;
  std::uint64_t reserved = 0, used = 0;
  KNNX_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, ordinal));
  KNNX_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  KNNX_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  return static_cast<std::int64_t>(free_bytes + (reserved > used ? reserved - used : 0));
}

}  // namespace

std::int64_t device_default_workspace_bytes(int ordinal) {
  // A measurement serves the calls of the next 50 ms: the driver queries cost microseconds,
  // which a one-query search would feel, and free memory does not move faster than that.
  using Clock = std::chrono::steady_clock;
  constexpr auto kValidFor = std::chrono::milliseconds(50);
  struct Measured {
    std::int64_t free_bytes = 0;
    Clock::time_point at;
  };
  static std::mutex mutex;
  static std::map<int, Measured> measured;
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = measured.find(ordinal);
  if (it == measured.end() || now - it->second.at > kValidFor) {
    const DeviceGuard guard(ordinal);
    it = measured.insert_or_assign(ordinal, Measured{measure_free_bytes(ordinal), now}).first;
  }
  return detail::default_workspace_bytes(it->second.free_bytes);
}

detail::SearchKnobs with_workspace(const detail::SearchKnobs& knobs, int ordinal) {
  if (knobs.workspace_bytes > 0) return knobs;
  detail::SearchKnobs resolved = knobs;
  resolved.workspace_bytes = device_default_workspace_bytes(ordinal);
  resolved.workspace_explicit = false;
  return resolved;
}

std::int64_t workspace_or_default(std::int64_t bytes, int ordinal) {
  return bytes > 0 ? bytes : device_default_workspace_bytes(ordinal);
}

}  // namespace knnx::cuda
