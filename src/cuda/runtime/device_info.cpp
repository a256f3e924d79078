#include "cuda/runtime/device_info.hpp"

#include <array>
#include <memory>
#include <mutex>

#include "cuda/runtime/check.hpp"

namespace knnx::cuda {

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

std::string device_name(int ordinal) {
  if (ordinal < 0 || ordinal >= device_count()) return {};
  return device_properties(ordinal).name;
}

const cudaDeviceProp& device_properties(int ordinal) {
  static std::mutex mutex;
  static std::array<std::unique_ptr<cudaDeviceProp>, 64> cache;
  if (ordinal < 0 || ordinal >= device_count() || ordinal >= 64) {
    throw_cuda_error(cudaErrorInvalidDevice, "device_properties", __FILE__, __LINE__);
  }
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[static_cast<std::size_t>(ordinal)];
  if (!slot) {
    auto prop = std::make_unique<cudaDeviceProp>();
    KNNX_CUDA_CHECK(cudaGetDeviceProperties(prop.get(), ordinal));
    slot = std::move(prop);
  }
  return *slot;
}

DeviceGuard::DeviceGuard(int ordinal) {
  KNNX_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != ordinal) {
    KNNX_CUDA_CHECK(cudaSetDevice(ordinal));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

}  // namespace knnx::cuda
