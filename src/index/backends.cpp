#include "index/backends.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "cpu/flat_cpu.hpp"
#include "cpu/ivf_cpu.hpp"
#include "cpu/kmeans_cpu.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/flat/flat_cuda.hpp"
#include "cuda/ivf/ivf_cuda.hpp"
#include "cuda/kmeans/kmeans_cuda.hpp"
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

#ifdef KNNX_WITH_CUDA
namespace {

// Throws InvalidArgument unless the CUDA device of `device` exists.
void require_cuda_device(Device device) {
  const int count = cuda::device_count();
  require(device.ordinal < count, "device {} does not exist ({} CUDA device(s) present)",
          device.to_string(), count);
}

}  // namespace
#endif

std::unique_ptr<IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric, Device device) {
  if (device.is_cpu()) return cpu::make_ivf_backend(dim, n_lists, metric);
#ifdef KNNX_WITH_CUDA
  require_cuda_device(device);
  return cuda::make_ivf_backend(dim, n_lists, metric, device.ordinal);
#else
  throw NotSupported(fmt::format("device {} requested, but this build of knnx has no CUDA backend",
                                 device.to_string()));
#endif
}

std::unique_ptr<KMeansBackend> make_kmeans_backend(Device device) {
  if (device.is_cpu()) return cpu::make_kmeans_backend();
#ifdef KNNX_WITH_CUDA
  require_cuda_device(device);
  return cuda::make_kmeans_backend(device.ordinal);
#else
  throw NotSupported(fmt::format("device {} requested, but this build of knnx has no CUDA backend",
                                 device.to_string()));
#endif
}

}  // namespace detail
}  // namespace knnx
