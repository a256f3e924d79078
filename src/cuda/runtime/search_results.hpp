// cuda/runtime/search_results.hpp — where a GPU search writes its (distances, labels).
//
// A search's kernels always write device memory: the caller's arrays when they are device
// memory, otherwise a device copy of them that is copied back to the caller's host arrays in
// stream order. The copy holds all nq x k results when they take at most staging_bytes (the
// search's workspace bound), copied back once by finish_and_wait(); larger results are staged
// one batch of queries at a time, each copied back by batch_done() (the host waits for that copy
// when its arrays are pageable memory), so that results of any size need the device memory of a
// batch. Results that fit the context's pinned buffer (a search of one query or a few) are
// copied into it without waiting and from it once the search is done: pageable copies would
// each wait for the search and stage the bytes themselves. When only kernels write a search's
// results (no copies into them), they can write that pinned buffer directly (mapped host
// memory under unified addressing): no device copy and no copy back.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/check.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

class SearchResults {
 public:
  // distances and labels are the caller's [nq][k] arrays, both host or both device memory
  // (InvalidArgument otherwise); batches have at most max_batch queries. kernel_pinned: null,
  // or the search context's pinned_results() when the search's results are written by kernels
  // alone, which then write host results that fit it there directly.
  SearchResults(float* distances, std::int64_t* labels, idx_t nq, int k, idx_t max_batch,
                std::int64_t staging_bytes, cudaStream_t stream,
                unsigned char* kernel_pinned = nullptr)
      : host_distances_(distances),
        host_labels_(labels),
        nq_(nq),
        k_(k),
        on_device_(is_device_pointer(distances)) {
    detail::require(on_device_ == is_device_pointer(labels),
                    "distances and labels must both be host or both be device memory");
    if (on_device_) {
      distances_ = distances;
      labels_ = labels;
      return;
    }
    if (kernel_pinned != nullptr && fits_pinned()) {
      pinned_direct_ = true;
      distances_ = reinterpret_cast<float*>(kernel_pinned);
      labels_ = reinterpret_cast<std::int64_t*>(kernel_pinned + distance_bytes());
      return;
    }
    const std::int64_t all_bytes = static_cast<std::int64_t>(nq) * k * kBytesPerResult;
    per_batch_ = all_bytes > staging_bytes && max_batch < nq;
    const std::size_t rows = static_cast<std::size_t>(per_batch_ ? std::max<idx_t>(max_batch, 1)
                                                                 : std::max<idx_t>(nq, 0));
    scratch_distances_ = DeviceBuffer<float>(rows * k, stream);
    scratch_labels_ = DeviceBuffer<std::int64_t>(rows * k, stream);
    distances_ = scratch_distances_.data();
    labels_ = scratch_labels_.data();
  }

  // The device arrays the kernels write the results of the batch of queries from q0 on into.
  float* distances(idx_t q0) const { return distances_ + offset(q0); }
  std::int64_t* labels(idx_t q0) const { return labels_ + offset(q0); }

  // Queues the copy of the n results rows of the batch from q0 on to the caller's host arrays,
  // when results are staged per batch (nothing to do otherwise).
  void batch_done(idx_t q0, idx_t n, cudaStream_t stream) const {
    if (per_batch_) copy_back(q0, n, stream);
  }

  // Queues the copy of all results to the caller's host arrays when they are staged whole
  // (nothing to do for device results or results staged per batch), and waits for ctx's stream
  // (ctx.synchronize()): the results are in the caller's arrays on return.
  void finish_and_wait(const StreamContext& ctx) const {
    const std::size_t n = count();
    if (pinned_direct_) {
      ctx.synchronize();
      std::memcpy(host_distances_, distances_, sizeof(float) * n);
      std::memcpy(host_labels_, labels_, sizeof(std::int64_t) * n);
      return;
    }
    const std::size_t dist_bytes = distance_bytes();
    const bool through_pinned = !on_device_ && !per_batch_ && fits_pinned();
    if (!through_pinned) {
      if (!on_device_ && !per_batch_) copy_back(0, nq_, ctx.stream());
      ctx.synchronize();
      return;
    }
    unsigned char* pinned = ctx.pinned_results();
    KNNX_CUDA_CHECK(cudaMemcpyAsync(pinned, distances_, sizeof(float) * n, cudaMemcpyDeviceToHost,
                                    ctx.stream()));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(pinned + dist_bytes, labels_, sizeof(std::int64_t) * n,
                                    cudaMemcpyDeviceToHost, ctx.stream()));
    ctx.synchronize();
    std::memcpy(host_distances_, pinned, sizeof(float) * n);
    std::memcpy(host_labels_, pinned + dist_bytes, sizeof(std::int64_t) * n);
  }

 private:
  static constexpr std::int64_t kBytesPerResult = sizeof(float) + sizeof(std::int64_t);

  // The distances' bytes in the pinned buffer, rounded up so that the labels after them are
  // 16-byte aligned; whether both fit it.
  std::size_t count() const { return static_cast<std::size_t>(nq_) * static_cast<std::size_t>(k_); }
  std::size_t distance_bytes() const { return (sizeof(float) * count() + 15) / 16 * 16; }
  bool fits_pinned() const {
    return count() > 0 &&
           distance_bytes() + sizeof(std::int64_t) * count() <= StreamContext::kPinnedResultBytes;
  }

  std::size_t offset(idx_t q0) const {
    return per_batch_ ? 0 : static_cast<std::size_t>(q0) * static_cast<std::size_t>(k_);
  }

  void copy_back(idx_t q0, idx_t n, cudaStream_t stream) const {
    const std::size_t first = static_cast<std::size_t>(q0) * k_;
    const std::size_t values = static_cast<std::size_t>(n) * k_;
    KNNX_CUDA_CHECK(cudaMemcpyAsync(host_distances_ + first, distances(q0), sizeof(float) * values,
                                    cudaMemcpyDeviceToHost, stream));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(host_labels_ + first, labels(q0), sizeof(std::int64_t) * values,
                                    cudaMemcpyDeviceToHost, stream));
  }

  float* host_distances_;
  std::int64_t* host_labels_;
  idx_t nq_;
  int k_;
  bool on_device_;
  bool per_batch_ = false;
  bool pinned_direct_ = false;  // kernels write distances_ / labels_ in the pinned buffer
  DeviceBuffer<float> scratch_distances_;
  DeviceBuffer<std::int64_t> scratch_labels_;
  float* distances_ = nullptr;
  std::int64_t* labels_ = nullptr;
};

}  // namespace knnx::cuda
