#include "cuda/runtime/memory.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <mutex>
#include <set>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {

void init_device_pool(int ordinal) {
  static std::mutex mutex;
  static std::set<int> done;
  std::lock_guard<std::mutex> lock(mutex);
  if (done.count(ordinal)) return;
  cudaMemPool_t pool;
  KNNX_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, ordinal));
  std::uint64_t threshold = UINT64_MAX;  // keep freed blocks for reuse
  KNNX_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  done.insert(ordinal);
}

void* device_alloc(std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) bytes = 1;
  void* p = nullptr;
  cudaError_t status = cudaMallocAsync(&p, bytes, stream);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    // The pool may hold cached blocks: give them back and try once more.
    int device = 0;
    cudaMemPool_t pool;
    if (cudaGetDevice(&device) == cudaSuccess &&
        cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      cudaStreamSynchronize(stream);
      cudaMemPoolTrimTo(pool, 0);
      status = cudaMallocAsync(&p, bytes, stream);
    }
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory(fmt::format("cannot allocate {} bytes of device memory", bytes));
  }
  KNNX_CUDA_CHECK(status);
  return p;
}

void device_free(void* p, cudaStream_t stream) noexcept {
  if (p) cudaFreeAsync(p, stream);
}

void* pinned_alloc(std::size_t bytes) {
  void* p = nullptr;
  const cudaError_t status = cudaMallocHost(&p, bytes == 0 ? 1 : bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory(fmt::format("cannot allocate {} bytes of pinned host memory", bytes));
  }
  KNNX_CUDA_CHECK(status);
  return p;
}

void pinned_free(void* p) noexcept {
  if (p) cudaFreeHost(p);
}

bool is_device_pointer(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

int pointer_device(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return attr.device;
  return -1;
}

void* user_alloc(int ordinal, std::size_t bytes) {
  DeviceGuard device(ordinal);
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory(fmt::format("cannot allocate {} bytes on cuda:{}", bytes, ordinal));
  }
  KNNX_CUDA_CHECK(status);
  return p;
}

void user_free(void* p) noexcept { cudaFree(p); }

void copy_to_host(void* dst, const void* src, std::size_t bytes, int ordinal) {
  DeviceGuard device(ordinal);
  KNNX_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_to_device(void* dst, const void* src, std::size_t bytes, int ordinal) {
  DeviceGuard device(ordinal);
  KNNX_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void synchronize_stream(int ordinal, std::uintptr_t stream) {
  DeviceGuard device(ordinal);
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  if (stream == 0 || stream == 1) s = cudaStreamLegacy;
  if (stream == 2) s = cudaStreamPerThread;
  KNNX_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_rows_padded(float* dst, int dp, const float* src, int dim, std::int64_t n,
                      cudaStream_t stream) {
  if (n == 0) return;
  const std::size_t rows = static_cast<std::size_t>(n);
  if (dp == dim) {
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, sizeof(float) * dim * rows, cudaMemcpyDefault, stream));
    return;
  }
  KNNX_CUDA_CHECK(cudaMemsetAsync(dst, 0, sizeof(float) * dp * rows, stream));
  KNNX_CUDA_CHECK(cudaMemcpy2DAsync(dst, sizeof(float) * dp, src, sizeof(float) * dim,
                                    sizeof(float) * dim, rows, cudaMemcpyDefault, stream));
}

}  // namespace knnx::cuda
