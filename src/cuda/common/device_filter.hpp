// cuda/common/device_filter.hpp — a search's IDSelector on the device: the bitmap of admitted
// storage positions (core/admitted_bitmap.hpp) that the scan kernels test (admitted.cuh).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"

namespace knnx::cuda {

class DeviceFilter {
 public:
  DeviceFilter() = default;  // no filter: bits() is null
  // Copies words to the device on `stream`; the host words are kept until destruction, so the
  // copy may still be in flight when the constructor returns.
  DeviceFilter(std::vector<std::uint32_t> words, cudaStream_t stream)
      : host_(std::move(words)), device_(std::max<std::size_t>(host_.size(), 1), stream) {
    if (!host_.empty()) {
      KNNX_CUDA_CHECK(cudaMemcpyAsync(device_.data(), host_.data(),
                                      sizeof(std::uint32_t) * host_.size(), cudaMemcpyHostToDevice,
                                      stream));
    }
  }
  // The device bitmap, or null when the search is unfiltered.
  const std::uint32_t* bits() const { return device_.data(); }

 private:
  std::vector<std::uint32_t> host_;
  DeviceBuffer<std::uint32_t> device_;
};

}  // namespace knnx::cuda
