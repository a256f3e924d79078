#include "index/backends.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "cpu/flat_cpu.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/runtime/device_info.hpp"
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

std::unique_ptr<FlatBackend> make_flat_backend(int dim, Metric metric, Device device) {
  if (device.is_cpu()) return cpu::make_flat_backend(dim, metric);
#ifdef KNNX_WITH_CUDA
  const int count = cuda::device_count();
  require(device.ordinal < count, "device {} does not exist ({} CUDA device(s) present)",
          device.to_string(), count);
  return cuda::make_flat_backend(dim, metric, device.ordinal);
#else
  throw NotSupported(fmt::format("device {} requested, but this build of knnx has no CUDA backend",
                                 device.to_string()));
#endif
}

}  // namespace detail
}  // namespace knnx
