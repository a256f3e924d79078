// cuda/ivf/ivf_search.hpp — the GPU IVF-Flat search, as stages on one stream: coarse
// quantisation, scan of the probed lists, merge of partial results.
#pragma once

#include <cstdint>
#include <span>

#include "core/flat_backend.hpp"
#include "core/search_knobs.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

class StreamContext;

// What a search reads of an IVF index (cuda/ivf/ivf_cuda.cpp): its centroids (a CUDA flat
// backend) and its lists, stored in one arena of padded rows (list l at rows
// [offset[l], offset[l] + size[l]), dp floats a row). Device pointers but host_sizes; all stay
// valid and unchanged for the search's duration.
struct IvfLists {
  int dim;
  int dp;  // dim rounded up to a multiple of 4
  int n_lists;
  Metric metric;
  int device;
  const detail::FlatBackend* coarse;
  const float* data;                  // arena rows x dp
  const std::int64_t* ids;            // the stored id of each arena row
  const std::int64_t* sizes;          // [n_lists]
  const std::int64_t* offsets;        // [n_lists]
  std::span<const idx_t> host_sizes;  // the sizes, on the host
  // The arena rows a filtered search may return (core/admitted_bitmap.hpp), or null.
  const std::uint32_t* allowed = nullptr;
};

// IvfBackend::search on `lists`, queued on ctx's stream: queries and results may be host or
// device memory. Batches of queries keep their scratch within knobs.workspace_bytes. The host
// waits once, at the end (ctx.synchronize()), and then throws InvalidArgument if a host query
// holds NaN/Inf.
void search_ivf(const IvfLists& lists, StreamContext& ctx, idx_t nq, const float* queries, int k,
                float* distances, idx_t* labels, const detail::SearchKnobs& knobs);

// IvfBackend::range_search on `lists`, host queries: in chunks of queries (their staged copies
// and probes within an eighth of knobs.workspace_bytes), stage 1 picks each query's lists, then
// the count and fill passes of the range kernel scan them (cuda/common/range_collect.hpp),
// gathering a chunk's hits within half the workspace at a time. Throws InvalidArgument if a
// query holds NaN/Inf.
RangeSearchResult range_search_ivf(const IvfLists& lists, StreamContext& ctx, idx_t nq,
                                   const float* queries, float radius,
                                   const detail::SearchKnobs& knobs);

}  // namespace knnx::cuda
