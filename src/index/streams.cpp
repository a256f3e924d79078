// StreamSet and search_batched_async (knnx/streams.hpp): explicit streams with host callbacks,
// and a chunked search that overlaps copies with the search of the neighbouring chunks.
#include "knnx/streams.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <vector>

#include "core/check.hpp"
#include "index/transform_internal.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#endif

namespace knnx {

using detail::require;

// ---- StreamSet ----------------------------------------------------------------------------------

#ifdef KNNX_WITH_CUDA
struct StreamSet::Impl {
  std::vector<cudaStream_t> streams;
};
#else
struct StreamSet::Impl {};
#endif

StreamSet::StreamSet(int n_streams, Device device) : device_(device) {
  require(n_streams >= 1 && n_streams <= 64, "n_streams must be in [1, 64], got {}", n_streams);
  require(device.is_cuda(), "StreamSet needs a CUDA device, got {}", device.to_string());
  detail::require_linalg_device(device);
#ifdef KNNX_WITH_CUDA
  impl_ = std::make_unique<Impl>();
  cuda::DeviceGuard guard(device.ordinal);
  try {
    for (int i = 0; i < n_streams; ++i) {
      cudaStream_t s = nullptr;
      KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      impl_->streams.push_back(s);
    }
  } catch (...) {
    for (cudaStream_t s : impl_->streams) cudaStreamDestroy(s);
    throw;
  }
#endif
}

StreamSet::~StreamSet() {
#ifdef KNNX_WITH_CUDA
  if (!impl_) return;
  cuda::DeviceGuard guard(device_.ordinal);
  for (cudaStream_t s : impl_->streams) {
    cudaStreamSynchronize(s);
    cudaStreamDestroy(s);
  }
#endif
}

int StreamSet::size() const {
#ifdef KNNX_WITH_CUDA
  return static_cast<int>(impl_->streams.size());
#else
  return 0;
#endif
}

void* StreamSet::native(int i) const {
  require(i >= 0 && i < size(), "stream index must be in [0, {}), got {}", size(), i);
#ifdef KNNX_WITH_CUDA
  return impl_->streams[static_cast<std::size_t>(i)];
#else
  return nullptr;
#endif
}

void StreamSet::on_complete(int i, std::function<void()> callback) {
  require(i >= 0 && i < size(), "stream index must be in [0, {}), got {}", size(), i);
  require(static_cast<bool>(callback), "callback must not be empty");
#ifdef KNNX_WITH_CUDA
  cuda::on_stream_complete(impl_->streams[static_cast<std::size_t>(i)], [cb = std::move(callback)] {
    try {
      cb();
    } catch (...) {  // nothing may unwind into the CUDA runtime's thread
    }
  });
#endif
}

void StreamSet::synchronize() {
#ifdef KNNX_WITH_CUDA
  cuda::DeviceGuard guard(device_.ordinal);
  for (cudaStream_t s : impl_->streams) KNNX_CUDA_CHECK(cudaStreamSynchronize(s));
#endif
}

// ---- search_batched_async -----------------------------------------------------------------------

struct BatchedSearch::State {
  std::thread worker;
  std::atomic<bool> finished{false};
  std::mutex mutex;
  std::exception_ptr error;

  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!error) error = e;
  }
};

BatchedSearch::BatchedSearch(std::shared_ptr<State> state) : state_(std::move(state)) {}
BatchedSearch::BatchedSearch(BatchedSearch&&) noexcept = default;
BatchedSearch& BatchedSearch::operator=(BatchedSearch&& o) noexcept {
  if (this != &o) {
    if (state_ && state_->worker.joinable()) state_->worker.join();
    state_ = std::move(o.state_);
  }
  return *this;
}

BatchedSearch::~BatchedSearch() {
  if (state_ && state_->worker.joinable()) state_->worker.join();
}

void BatchedSearch::wait() {
  if (!state_) return;
  if (state_->worker.joinable()) state_->worker.join();
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->error) std::rethrow_exception(state_->error);
}

bool BatchedSearch::done() const { return !state_ || state_->finished.load(); }

namespace {

using ChunkCallback = std::function<void(idx_t, idx_t)>;

void run_cpu(const Index& index, idx_t nq, const float* queries, int k, float* distances,
             idx_t* labels, const SearchParams* params, const ChunkCallback& on_chunk,
             idx_t chunk) {
  const idx_t d = index.dim();
  for (idx_t first = 0; first < nq; first += chunk) {
    const idx_t count = std::min(chunk, nq - first);
    index.search(count, queries + first * d, k, distances + first * k, labels + first * k, params);
    if (on_chunk) on_chunk(first, count);
  }
}

#ifdef KNNX_WITH_CUDA
// Double-buffered pipeline: chunk c uses buffer c % 2. The copy stream carries, in order,
// H2D(c+1), D2H(c-1) and its host callback, all running while chunk c is searched on the
// index's own stream; events tell the worker when a buffer may be reused.
void run_gpu(const Index& index, idx_t nq, const float* queries, int k, float* distances,
             idx_t* labels, const SearchParams* params, const ChunkCallback& on_chunk, idx_t chunk,
             const std::shared_ptr<BatchedSearch::State>& state) {
  const int device = index.device().ordinal;
  cuda::DeviceGuard guard(device);
  cuda::init_device_pool(device);
  cuda::StreamContext ctx(device);
  const cudaStream_t copy = ctx.stream();
  const idx_t d = index.dim();
  const std::size_t qn = static_cast<std::size_t>(chunk * d);
  const std::size_t rn = static_cast<std::size_t>(chunk * k);
  cuda::PinnedBuffer<float> pq[2] = {cuda::PinnedBuffer<float>(qn), cuda::PinnedBuffer<float>(qn)};
  cuda::PinnedBuffer<float> pd[2] = {cuda::PinnedBuffer<float>(rn), cuda::PinnedBuffer<float>(rn)};
  cuda::PinnedBuffer<idx_t> pl[2] = {cuda::PinnedBuffer<idx_t>(rn), cuda::PinnedBuffer<idx_t>(rn)};
  cuda::DeviceBuffer<float> dq[2] = {{qn, copy}, {qn, copy}};
  cuda::DeviceBuffer<float> dd[2] = {{rn, copy}, {rn, copy}};
  cuda::DeviceBuffer<idx_t> dl[2] = {{rn, copy}, {rn, copy}};
  const cudaEvent_t q_ready[2] = {ctx.event(0), ctx.event(1)};
  const cudaEvent_t results_read[2] = {ctx.event(2), ctx.event(3)};
  const idx_t chunks = (nq + chunk - 1) / chunk;

  auto upload = [&](idx_t c) {
    cuda::DeviceGuard upload_guard(device);  // the current device is per host thread
    const int b = static_cast<int>(c % 2);
    const idx_t first = c * chunk;
    const idx_t count = std::min(chunk, nq - first);
    std::memcpy(pq[b].data(), queries + first * d, static_cast<std::size_t>(count * d) * sizeof(float));
    KNNX_CUDA_CHECK(cudaMemcpyAsync(dq[b].data(), pq[b].data(),
                                    static_cast<std::size_t>(count * d) * sizeof(float),
                                    cudaMemcpyHostToDevice, copy));
    KNNX_CUDA_CHECK(cudaEventRecord(q_ready[b], copy));
  };

  try {
    upload(0);
    for (idx_t c = 0; c < chunks; ++c) {
      const int b = static_cast<int>(c % 2);
      const idx_t first = c * chunk;
      const idx_t count = std::min(chunk, nq - first);
      KNNX_CUDA_CHECK(cudaEventSynchronize(q_ready[b]));
      if (c >= 2) KNNX_CUDA_CHECK(cudaEventSynchronize(results_read[b]));
      // Chunk c+1 is staged (host copy into pinned memory, then H2D) by a helper thread while
      // this one searches chunk c; buffer 1-b was last read by the finished search c-1.
      std::future<void> next;
      if (c + 1 < chunks) next = std::async(std::launch::async, upload, c + 1);
      try {
        index.search(count, dq[b].data(), k, dd[b].data(), dl[b].data(), params);
      } catch (...) {
        if (next.valid()) next.wait();
        throw;
      }
      if (next.valid()) next.get();
      const std::size_t bytes_d = static_cast<std::size_t>(count * k) * sizeof(float);
      const std::size_t bytes_l = static_cast<std::size_t>(count * k) * sizeof(idx_t);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(pd[b].data(), dd[b].data(), bytes_d, cudaMemcpyDeviceToHost, copy));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(pl[b].data(), dl[b].data(), bytes_l, cudaMemcpyDeviceToHost, copy));
      KNNX_CUDA_CHECK(cudaEventRecord(results_read[b], copy));
      float* out_d = distances + first * k;
      idx_t* out_l = labels + first * k;
      const float* src_d = pd[b].data();
      const idx_t* src_l = pl[b].data();
      cuda::on_stream_complete(copy, [=, &on_chunk] {
        std::memcpy(out_d, src_d, bytes_d);
        std::memcpy(out_l, src_l, bytes_l);
        if (!on_chunk) return;
        try {
          on_chunk(first, count);
        } catch (...) {
          state->fail(std::current_exception());
        }
      });
    }
    ctx.synchronize();  // the last copies and callbacks
  } catch (...) {
    cudaStreamSynchronize(copy);  // no callback may outlive the staging buffers
    throw;
  }
}
#endif

}  // namespace

BatchedSearch search_batched_async(const Index& index, idx_t nq, const float* queries, int k,
                                   float* distances, idx_t* labels,
                                   std::function<void(idx_t first, idx_t count)> on_chunk,
                                   BatchedSearchOptions options) {
  detail::check_count(nq, "nq");
  detail::check_k(k);
  detail::check_not_null(queries, "queries");
  detail::check_not_null(distances, "distances");
  detail::check_not_null(labels, "labels");
  detail::checked_elements(nq, index.dim(), "queries");
  detail::checked_elements(nq, k, "labels");
  require(index.is_trained(), "the index must be trained before search");
  require(options.chunk_queries >= 0, "BatchedSearchOptions.chunk_queries must be >= 0, got {}",
          options.chunk_queries);
  if (options.params) index.validate_search_params(*options.params);
  detail::check_finite_host(nq, index.dim(), queries, "queries");
  const SearchParams* params = options.params;
  constexpr idx_t kDefaultChunk = 16384;
  const idx_t chunk = std::min(nq, options.chunk_queries > 0 ? options.chunk_queries : kDefaultChunk);

  auto state = std::make_shared<BatchedSearch::State>();
  const bool gpu = index.device().is_cuda();
  state->worker = std::thread([=, &index, on_chunk = std::move(on_chunk)] {
    try {
      if (gpu) {
#ifdef KNNX_WITH_CUDA
        run_gpu(index, nq, queries, k, distances, labels, params, on_chunk, chunk, state);
#endif
      } else {
        run_cpu(index, nq, queries, k, distances, labels, params, on_chunk, chunk);
      }
    } catch (...) {
      state->fail(std::current_exception());
    }
    state->finished = true;
  });
  return BatchedSearch(state);
}

}  // namespace knnx
