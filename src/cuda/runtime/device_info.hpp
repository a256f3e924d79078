// cuda/runtime/device_info.hpp — which CUDA devices exist, their properties, and a scoped
// "current device" switch.
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace knnx::cuda {

// Number of usable devices; 0 when there is no driver or no GPU (never throws).
int device_count();
std::string device_name(int ordinal);
// Cached properties of a device (throws CudaError for a bad ordinal).
const cudaDeviceProp& device_properties(int ordinal);

// Makes `ordinal` the current device for the scope, restoring the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int ordinal);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace knnx::cuda
