// cuda/runtime/search_results.hpp — where a GPU search writes its (distances, labels).
//
// A search's kernels always write device memory: the caller's arrays when they are device
// memory, otherwise scratch buffers that finish() copies back to the caller's host arrays in
// stream order (the caller synchronises afterwards).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"

namespace knnx::cuda {

class SearchResults {
 public:
  // count = nq * k; distances and labels are the caller's arrays, both host or both device
  // memory (InvalidArgument otherwise).
  SearchResults(float* distances, std::int64_t* labels, std::size_t count, cudaStream_t stream)
      : host_distances_(distances),
        host_labels_(labels),
        count_(count),
        on_device_(is_device_pointer(distances)) {
    detail::require(on_device_ == is_device_pointer(labels),
                    "distances and labels must both be host or both be device memory");
    if (on_device_) {
      distances_ = distances;
      labels_ = labels;
    } else {
      scratch_distances_ = DeviceBuffer<float>(count, stream);
      scratch_labels_ = DeviceBuffer<std::int64_t>(count, stream);
      distances_ = scratch_distances_.data();
      labels_ = scratch_labels_.data();
    }
  }

  // The device arrays the kernels write.
  float* distances() const { return distances_; }
  std::int64_t* labels() const { return labels_; }

  // Queues the copy to the caller's host arrays (nothing to do for device results).
  void finish(cudaStream_t stream) const {
    if (on_device_) return;
    KNNX_CUDA_CHECK(cudaMemcpyAsync(host_distances_, distances_, sizeof(float) * count_,
                                    cudaMemcpyDeviceToHost, stream));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(host_labels_, labels_, sizeof(std::int64_t) * count_,
                                    cudaMemcpyDeviceToHost, stream));
  }

 private:
  float* host_distances_;
  std::int64_t* host_labels_;
  std::size_t count_;
  bool on_device_;
  DeviceBuffer<float> scratch_distances_;
  DeviceBuffer<std::int64_t> scratch_labels_;
  float* distances_ = nullptr;
  std::int64_t* labels_ = nullptr;
};

}  // namespace knnx::cuda
