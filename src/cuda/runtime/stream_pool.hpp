// cuda/runtime/stream_pool.hpp — explicit streams, each paired with a cuBLAS handle, lent to
// one operation at a time so concurrent searches on one index never share a stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace knnx::cuda {

// What one operation needs to run on its own: a main stream with a cuBLAS handle bound to it,
// an auxiliary stream for work that overlaps with the main one, events to order the two, and a
// few bytes of pinned memory for flags read back at the end.
class StreamContext {
 public:
  static constexpr int kEvents = 6;

  explicit StreamContext(int device);
  ~StreamContext();
  StreamContext(const StreamContext&) = delete;
  StreamContext& operator=(const StreamContext&) = delete;
  cudaStream_t stream() const { return stream_; }
  cudaStream_t aux_stream() const { return aux_; }
  cudaEvent_t event(int i) const { return events_[i]; }
  cublasHandle_t cublas() const { return cublas_; }
  unsigned long long* pinned_flag() const { return pinned_; }
  // kBlockCounters device ints, zero between kernels: a kernel that folds its blocks' partial
  // results in the last block of each query to finish (cuda/select/last_block_merge.cuh) counts
  // them here and leaves them zero again.
  static constexpr int kBlockCounters = 1024;
  int* block_counters() const { return counters_; }
  // kPinnedResultBytes of pinned host memory through which SearchResults copies small host
  // results back (one asynchronous copy each, instead of pageable copies that wait).
  static constexpr std::size_t kPinnedResultBytes = 64 << 10;
  unsigned char* pinned_results() const { return pinned_results_; }
  int device() const { return device_; }
  // Blocks until everything queued on the main stream is done (throws CudaError on a fault).
  // Counted in host_syncs_on_this_thread().
  void synchronize() const;

 private:
  void release() noexcept;

  int device_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t aux_ = nullptr;
  cudaEvent_t events_[kEvents] = {};
  cublasHandle_t cublas_ = nullptr;
  unsigned long long* pinned_ = nullptr;
  int* counters_ = nullptr;
  unsigned char* pinned_results_ = nullptr;
};

// How many times the calling thread has waited in StreamContext::synchronize(): a search's
// host waits are the difference across the call (tests bound them per search).
std::uint64_t host_syncs_on_this_thread();

// Runs `callback` on the host once all work queued on `stream` so far has completed, without
// blocking the caller or other streams (cudaLaunchHostFunc). The callback must not call CUDA.
void on_stream_complete(cudaStream_t stream, std::function<void()> callback);

class StreamPool {
 public:
  explicit StreamPool(int device) : device_(device) {}

  // A lease returns its context to the pool when destroyed.
  class Lease {
   public:
    Lease(StreamPool* pool, std::unique_ptr<StreamContext> ctx)
        : pool_(pool), ctx_(std::move(ctx)) {}
    ~Lease() {
      if (ctx_) pool_->give_back(std::move(ctx_));
    }
    Lease(Lease&&) = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    StreamContext& operator*() const { return *ctx_; }
    StreamContext* operator->() const { return ctx_.get(); }

   private:
    StreamPool* pool_;
    std::unique_ptr<StreamContext> ctx_;
  };

  Lease acquire();

 private:
  void give_back(std::unique_ptr<StreamContext> ctx);

  int device_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<StreamContext>> free_;
};

}  // namespace knnx::cuda
