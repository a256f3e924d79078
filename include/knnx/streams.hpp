// knnx/streams.hpp — explicit streams with host completion callbacks, and a batched search that
// pipelines large query sets through a GPU index.
//
// StreamSet owns a few CUDA streams of one device; on_complete() runs a host function once the
// work queued on a stream so far has finished, without blocking the caller. The raw handles
// (cudaStream_t) let callers queue their own work on them.
//
// search_batched_async() splits nq queries into chunks and returns at once. For a GPU index the
// queries of chunk c+1 are staged by a helper thread (pinned memory, a copy stream) while chunk c
// is searched, and chunk c's results travel back on the copy stream while c+1 is searched; the
// callback fires (on a runtime thread) once a chunk's results are in the caller's arrays. For a
// CPU index the chunks run one after another on a worker thread with the same callbacks. The
// only synchronisation is at wait() (and the handle's destructor, which waits).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <thread>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/types.hpp"

namespace knnx {

class StreamSet {
 public:
  // n_streams in [1, 64] non-blocking streams on a CUDA device (InvalidArgument otherwise;
  // NotSupported without the CUDA backend).
  StreamSet(int n_streams, Device device);
  ~StreamSet();  // waits for the streams, then destroys them
  StreamSet(const StreamSet&) = delete;
  StreamSet& operator=(const StreamSet&) = delete;

  int size() const;
  Device device() const { return device_; }
  // The i-th stream as a cudaStream_t (void* keeps CUDA headers out of this header).
  void* native(int i) const;
  // Runs `callback` on a runtime thread once everything queued on stream i so far completes.
  // The callback must not call CUDA. Exceptions it throws are caught and dropped.
  void on_complete(int i, std::function<void()> callback);
  // Blocks until all streams are idle (throws CudaError on a device fault).
  void synchronize();

 private:
  struct Impl;
  Device device_;
  std::unique_ptr<Impl> impl_;
};

struct BatchedSearchOptions {
  // Queries per chunk; 0 picks a size that keeps the pipeline busy (16384, capped at nq).
  idx_t chunk_queries = 0;
  // Parameters of every chunk's search (null: the index's own); validated before anything
  // starts, and read until wait() returns, so they must stay alive until then.
  const SearchParams* params = nullptr;
};

// A batched search in flight. wait() blocks until every chunk is done and rethrows the first
// error; the destructor waits too (errors are then dropped).
class BatchedSearch {
 public:
  BatchedSearch(BatchedSearch&&) noexcept;
  BatchedSearch& operator=(BatchedSearch&&) noexcept;
  ~BatchedSearch();
  void wait();
  // Whether every chunk's results have been delivered (or the search failed).
  bool done() const;

  struct State;  // shared with the worker thread and the completion callbacks

 private:
  friend BatchedSearch search_batched_async(const Index&, idx_t, const float*, int, float*,
                                            idx_t*, std::function<void(idx_t, idx_t)>,
                                            BatchedSearchOptions);
  explicit BatchedSearch(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// Searches nq queries (host memory) against `index` in chunks; distances / labels (host, nq*k)
// receive the results. on_chunk(first, count), if set, runs once the results of queries
// [first, first + count) are written. Arguments are validated before anything starts; the
// index must stay alive and unmodified, and the arrays untouched, until wait() returns.
BatchedSearch search_batched_async(const Index& index, idx_t nq, const float* queries, int k,
                                   float* distances, idx_t* labels,
                                   std::function<void(idx_t first, idx_t count)> on_chunk = {},
                                   BatchedSearchOptions options = {});

}  // namespace knnx
