// cuda/runtime/stream_pool.hpp — explicit streams, each paired with a cuBLAS handle, lent to
// one operation at a time so concurrent searches on one index never share a stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace knnx::cuda {

// An owned non-blocking stream and a cuBLAS handle bound to it.
class StreamContext {
 public:
  explicit StreamContext(int device);
  ~StreamContext();
  StreamContext(const StreamContext&) = delete;
  StreamContext& operator=(const StreamContext&) = delete;
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  int device() const { return device_; }
  // Blocks until everything queued on the stream is done (throws CudaError on a fault).
  void synchronize() const;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
};

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
