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

#include "core/backend.hpp"
#include "core/check.hpp"
#include "knnx/error.hpp"

namespace knnx {

using detail::require;

// ---- StreamSet ----------------------------------------------------------------------------------

struct StreamSet::Impl {
  std::unique_ptr<detail::StreamGroup> group;
};

StreamSet::StreamSet(int n_streams, Device device) : device_(device) {
  require(n_streams >= 1 && n_streams <= 64, "n_streams must be in [1, 64], got {}", n_streams);
  require(device.is_cuda(), "StreamSet needs a CUDA device, got {}", device.to_string());
  const detail::Backend& backend = detail::backend_for(device);
  impl_ = std::make_unique<Impl>();
  impl_->group = backend.make_streams(device.ordinal, n_streams);
}

StreamSet::~StreamSet() = default;

int StreamSet::size() const { return impl_->group->size(); }

void* StreamSet::native(int i) const {
  require(i >= 0 && i < size(), "stream index must be in [0, {}), got {}", size(), i);
  return impl_->group->native(i);
}

void StreamSet::on_complete(int i, std::function<void()> callback) {
  require(i >= 0 && i < size(), "stream index must be in [0, {}), got {}", size(), i);
  require(static_cast<bool>(callback), "callback must not be empty");
  impl_->group->on_complete(i, std::move(callback));
}

void StreamSet::synchronize() { impl_->group->synchronize(); }

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
  detail::check_vectors_host(nq, index.dim(), queries, "queries");
  const SearchParams* params = options.params;
  constexpr idx_t kDefaultChunk = 16384;
  const idx_t chunk =
      std::min(nq, options.chunk_queries > 0 ? options.chunk_queries : kDefaultChunk);

  const detail::Backend& backend = detail::backend_for(index.device());

  auto state = std::make_shared<BatchedSearch::State>();
  state->worker = std::thread([=, &index, &backend, on_chunk = std::move(on_chunk)] {
    try {
      backend.search_in_chunks(
          index.device().ordinal, nq, index.dim(), k, chunk, queries, distances, labels,
          [&](idx_t count, const float* q, float* d, idx_t* l) {
            index.search(count, q, k, d, l, params);
          },
          [&](idx_t first, idx_t count) {
            if (!on_chunk) return;
            try {
              on_chunk(first, count);
            } catch (...) {
              state->fail(std::current_exception());
            }
          });
    } catch (...) {
      state->fail(std::current_exception());
    }
    state->finished = true;
  });
  return BatchedSearch(state);
}

}  // namespace knnx
