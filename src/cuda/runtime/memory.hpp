// cuda/runtime/memory.hpp — the only place knnx allocates device and pinned memory.
//
// Device memory comes from the device's stream-ordered pool (cudaMallocAsync) with a release
// threshold that keeps freed blocks cached, so repeated searches do not pay for cudaMalloc.
// Allocation failure throws OutOfMemory; nothing else is touched.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace knnx::cuda {

void* device_alloc(std::size_t bytes, cudaStream_t stream);
void device_free(void* p, cudaStream_t stream) noexcept;
void* pinned_alloc(std::size_t bytes);
void pinned_free(void* p) noexcept;
// Configures the caching pool of a device once (idempotent).
void init_device_pool(int ordinal);
// Whether p is device (or managed) memory; host pointers, registered or not, give false.
bool is_device_pointer(const void* p);
// The ordinal of the device whose (device or managed) memory p points into; -1 for host memory.
int pointer_device(const void* p);

// Memory handed to code outside knnx (a Python array another framework may read on any stream):
// cudaMalloc on device `ordinal`, complete on return; freed by user_free, from any thread.
void* user_alloc(int ordinal, std::size_t bytes);
void user_free(void* p) noexcept;
// Copies bytes of device memory src (of device `ordinal`) to host memory dst; returns when done.
void copy_to_host(void* dst, const void* src, std::size_t bytes, int ordinal);
// Copies bytes of host memory src to device memory dst (of device `ordinal`); returns when done.
void copy_to_device(void* dst, const void* src, std::size_t bytes, int ordinal);
// Waits until the work queued on `stream` of device `ordinal` is done; stream 0 or 1 is the
// legacy default stream and 2 the per-thread default stream (as in __cuda_array_interface__
// and DLPack), anything else a cudaStream_t.
void synchronize_stream(int ordinal, std::uintptr_t stream);

// Queues the copy of n contiguous rows of dim floats (host or device memory) into the device
// buffer dst of n rows of dp >= dim floats, the padding columns zeroed. When dp == dim it is
// one linear copy rather than a pitched one.
void copy_rows_padded(float* dst, int dp, const float* src, int dim, std::int64_t n,
                      cudaStream_t stream);

// RAII device array of T, allocated and freed in stream order on `stream`.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t count, cudaStream_t stream)
      : ptr_(static_cast<T*>(device_alloc(count * sizeof(T), stream))), count_(count),
        stream_(stream) {}
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  std::size_t size() const { return count_; }
  void swap(DeviceBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
    std::swap(stream_, o.stream_);
  }
  void release() noexcept {
    if (ptr_) device_free(ptr_, stream_);
    ptr_ = nullptr;
    count_ = 0;
  }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
  cudaStream_t stream_ = nullptr;
};

// RAII page-locked host array of T (for staging copies that overlap with kernels).
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count)
      : ptr_(static_cast<T*>(pinned_alloc(count * sizeof(T)))), count_(count) {}
  ~PinnedBuffer() { pinned_free(ptr_); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  T* data() { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace knnx::cuda
