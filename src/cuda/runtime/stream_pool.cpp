#include "cuda/runtime/stream_pool.hpp"

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"

namespace knnx::cuda {

StreamContext::StreamContext(int device) : device_(device) {
  DeviceGuard guard(device);
  try {
    KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&aux_, cudaStreamNonBlocking));
    for (cudaEvent_t& e : events_) {
      KNNX_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    KNNX_CUDA_CHECK(cudaMallocHost(&pinned_, 64));
    KNNX_CUDA_CHECK(cudaMallocHost(&pinned_results_, kPinnedResultBytes));
    KNNX_CUDA_CHECK(cudaMalloc(&counters_, sizeof(int) * kBlockCounters));
    KNNX_CUDA_CHECK(cudaMemsetAsync(counters_, 0, sizeof(int) * kBlockCounters, stream_));
    KNNX_CUBLAS_CHECK(cublasCreate(&cublas_));
    KNNX_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  } catch (...) {
    release();
    throw;
  }
}

StreamContext::~StreamContext() { release(); }

void StreamContext::release() noexcept {
  DeviceGuard guard(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (aux_) cudaStreamSynchronize(aux_);
  if (cublas_) cublasDestroy(cublas_);
  for (cudaEvent_t e : events_) {
    if (e) cudaEventDestroy(e);
  }
  if (pinned_) cudaFreeHost(pinned_);
  if (pinned_results_) cudaFreeHost(pinned_results_);
  if (counters_) cudaFree(counters_);
  if (aux_) cudaStreamDestroy(aux_);
  if (stream_) cudaStreamDestroy(stream_);
  cublas_ = nullptr;
  pinned_ = nullptr;
  pinned_results_ = nullptr;
  counters_ = nullptr;
  aux_ = stream_ = nullptr;
}

namespace {
thread_local std::uint64_t host_syncs = 0;
}  // namespace

void StreamContext::synchronize() const {
  ++host_syncs;
  KNNX_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

std::uint64_t host_syncs_on_this_thread() { return host_syncs; }

namespace {
void run_host_callback(void* data) {
  std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(data));
  (*fn)();
}
}  // namespace

void on_stream_complete(cudaStream_t stream, std::function<void()> callback) {
  auto* fn = new std::function<void()>(std::move(callback));
  const cudaError_t status = cudaLaunchHostFunc(stream, run_host_callback, fn);
  if (status != cudaSuccess) {
    delete fn;
    throw_cuda_error(status, "cudaLaunchHostFunc", __FILE__, __LINE__);
  }
}

StreamPool::Lease StreamPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      auto ctx = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(ctx));
    }
  }
  return Lease(this, std::make_unique<StreamContext>(device_));
}

void StreamPool::give_back(std::unique_ptr<StreamContext> ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(ctx));
}

}  // namespace knnx::cuda
