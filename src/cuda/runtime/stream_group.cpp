#include "cuda/runtime/stream_group.hpp"

#include <vector>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"

namespace knnx::cuda {
namespace {

class CudaStreamGroup final : public detail::StreamGroup {
 public:
  CudaStreamGroup(int device, int n) : device_(device) {
    DeviceGuard guard(device_);
    try {
      for (int i = 0; i < n; ++i) {
        cudaStream_t s = nullptr;
        KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        streams_.push_back(s);
      }
    } catch (...) {
      for (cudaStream_t s : streams_) cudaStreamDestroy(s);
      throw;
    }
  }

  ~CudaStreamGroup() override {
    DeviceGuard guard(device_);
    for (cudaStream_t s : streams_) {
      cudaStreamSynchronize(s);
      cudaStreamDestroy(s);
    }
  }

  int size() const override { return static_cast<int>(streams_.size()); }

  void* native(int i) const override { return streams_[static_cast<std::size_t>(i)]; }

  void on_complete(int i, std::function<void()> callback) override {
    on_stream_complete(streams_[static_cast<std::size_t>(i)], [cb = std::move(callback)] {
      try {
        cb();
      } catch (...) {  // nothing may unwind into the CUDA runtime's thread
      }
    });
  }

  void synchronize() override {
    DeviceGuard guard(device_);
    for (cudaStream_t s : streams_) KNNX_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  int device_;
  std::vector<cudaStream_t> streams_;
};

}  // namespace

std::unique_ptr<detail::StreamGroup> make_stream_group(int device, int n) {
  return std::make_unique<CudaStreamGroup>(device, n);
}

}  // namespace knnx::cuda
