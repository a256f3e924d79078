// The one place that chooses a backend for a device: every index, transform and linear-algebra
// entry point reaches CPU or CUDA code through detail::backend_for (core/backend.hpp), and this
// file alone knows whether the build holds the CUDA backend.
#include <fmt/format.h>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "cpu/cpu_backend.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/cuda_backend.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#endif

namespace knnx {

bool cuda_backend_compiled() {
#ifdef KNNX_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef KNNX_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

std::string cuda_device_name(int ordinal) {
#ifdef KNNX_WITH_CUDA
  return cuda::device_name(ordinal);
#else
  (void)ordinal;
  return {};
#endif
}

namespace detail {

const Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu::backend();
#ifdef KNNX_WITH_CUDA
  const int count = cuda::device_count();
  require_cuda_device_exists(device, count);
  return cuda::backend();
#else
  throw no_cuda_backend_error(device);
#endif
}

bool is_device_pointer(const void* p) {
#ifdef KNNX_WITH_CUDA
  return cuda::is_device_pointer(p);
#else
  (void)p;
  return false;
#endif
}

}  // namespace detail
}  // namespace knnx
