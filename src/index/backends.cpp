// The one place that chooses a backend for a device: every index, transform and linear-algebra
// entry point reaches CPU or CUDA code through detail::backend_for (core/backend.hpp), and this
// file alone knows whether the build holds the CUDA backend.
#include <fmt/format.h>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "cpu/cpu_backend.hpp"
#include "knnx/device.hpp"
#include "knnx/device_memory.hpp"
#include "knnx/error.hpp"
#include "knnx/index_shards.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/cuda_backend.hpp"
#include "cuda/multi/shard_merge.hpp"
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

namespace {

// The ordinal of `device`, a CUDA device that exists, for `what` (InvalidArgument otherwise);
// NotSupported in a build without the CUDA backend.
int existing_cuda_ordinal(Device device, const char* what) {
  detail::require(device.is_cuda(), "{} needs a CUDA device, got {}", what, device.to_string());
#ifdef KNNX_WITH_CUDA
  const int count = cuda::device_count();
  detail::require(device.ordinal < count, "device {} does not exist ({} CUDA device(s) present)",
                  device.to_string(), count);
  return device.ordinal;
#else
  throw NotSupported(
      fmt::format("{} needs CUDA, but this build of knnx has no CUDA backend", what));
#endif
}

}  // namespace

int pointer_device(const void* p) {
#ifdef KNNX_WITH_CUDA
  return cuda::pointer_device(p);
#else
  (void)p;
  return -1;
#endif
}

std::shared_ptr<void> allocate_device_memory(Device device, std::size_t bytes) {
  const int ordinal = existing_cuda_ordinal(device, "allocating device memory");
#ifdef KNNX_WITH_CUDA
  void* p = cuda::user_alloc(ordinal, bytes);
  try {
    return std::shared_ptr<void>(p, cuda::user_free);
  } catch (...) {
    cuda::user_free(p);
    throw;
  }
#else
  (void)ordinal;
  (void)bytes;
  return nullptr;  // not reached: existing_cuda_ordinal throws without the CUDA backend
#endif
}

namespace {

// A synchronous copy between host memory and memory of the CUDA device `device`.
void copy_with_device(void* dst, const void* src, std::size_t bytes, Device device,
                      bool to_device) {
  const int ordinal = existing_cuda_ordinal(
      device, to_device ? "copying to device memory" : "copying device memory");
#ifdef KNNX_WITH_CUDA
  if (to_device) {
    cuda::copy_to_device(dst, src, bytes, ordinal);
  } else {
    cuda::copy_to_host(dst, src, bytes, ordinal);
  }
#else
  (void)ordinal;
  (void)dst;
  (void)src;
  (void)bytes;
#endif
}

}  // namespace

void copy_device_to_host(void* dst, const void* src, std::size_t bytes, Device device) {
  copy_with_device(dst, src, bytes, device, false);
}

void copy_host_to_device(void* dst, const void* src, std::size_t bytes, Device device) {
  copy_with_device(dst, src, bytes, device, true);
}

void synchronize_stream(Device device, std::uintptr_t stream) {
  const int ordinal = existing_cuda_ordinal(device, "synchronising a CUDA stream");
#ifdef KNNX_WITH_CUDA
  cuda::synchronize_stream(ordinal, stream);
#else
  (void)ordinal;
  (void)stream;
#endif
}

bool nccl_compiled() {
#ifdef KNNX_WITH_CUDA
  return cuda::nccl_available();
#else
  return false;
#endif
}

namespace detail {

std::unique_ptr<PqBackend> Backend::make_pq(int, int, Metric, Device device) const {
  throw NotSupported(
      fmt::format("IndexPQ is not supported on {}: this backend has no product-quantizer kernels",
                  device.to_string()));
}

std::unique_ptr<IvfPqBackend> Backend::make_ivf_pq(int, int, int, Metric, Device device) const {
  throw NotSupported(fmt::format(
      "IndexIVFPQ is not supported on {}: this backend has no product-quantizer kernels",
      device.to_string()));
}

std::unique_ptr<PqBackend> Backend::make_pq_fast_scan(int, int, Metric, Device device) const {
  throw NotSupported(fmt::format(
      "IndexPQFastScan is not supported on {}: the 4-bit fast scan runs on the CPU only (build "
      "the index with device cpu)",
      device.to_string()));
}

std::unique_ptr<IvfPqBackend> Backend::make_ivf_pq_fast_scan(int, int, int, bool, Metric,
                                                             Device device) const {
  throw NotSupported(fmt::format(
      "IndexIVFPQFastScan is not supported on {}: the 4-bit fast scan runs on the CPU only "
      "(build the index with device cpu)",
      device.to_string()));
}

std::unique_ptr<SqBackend> Backend::make_sq(const SqLayout&, Device device) const {
  throw NotSupported(fmt::format(
      "IndexScalarQuantizer and IndexIVFScalarQuantizer are not supported on {}: this backend "
      "has no scalar-quantizer kernels",
      device.to_string()));
}

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
