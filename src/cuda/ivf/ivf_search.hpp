// cuda/ivf/ivf_search.hpp — the GPU IVF-Flat search, as stages on one stream: coarse
// quantisation, scan of the probed lists, merge of partial results.
#pragma once

#include <cstdint>
#include <span>

#include "core/flat_backend.hpp"
#include "core/search_knobs.hpp"
#include "cuda/runtime/memory.hpp"
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

// Stage 1 of the GPU IVF searches (IVF-Flat and IVF-PQ): a batch's queries staged on the
// device (padded to dp) and the lists each probes ([nq][n_probe], in order of closeness) with
// their centroid distances (as the flat search reports them: squared L2, or inner products).
struct ProbedQueries {
  int nq;
  int n_probe;
  DeviceBuffer<float> queries;
  DeviceBuffer<std::int64_t> lists;
  DeviceBuffer<float> distances;
};

// Coarse quantisation, queued on ctx: copies nq queries (host or device, dim floats a row) to
// the device padded to dp, flags NaN/Inf or a row above the norm bound into ctx's pinned flag
// (the caller clears it first and reads it after synchronising; not with flag_queries false,
// for queries the caller has checked on the host), and finds each one's n_probe nearest
// centroids of `coarse` (a CUDA flat backend) with the exact flat search.
ProbedQueries coarse_quantize(const detail::FlatBackend& coarse, int dim, int dp,
                              StreamContext& ctx, const float* queries, int nq, int n_probe,
                              const detail::SearchKnobs& knobs, bool flag_queries = true);

// IvfBackend::search on `lists`, queued on ctx's stream: queries and results may be host or
// device memory. Batches of queries keep their scratch within the workspace bound (knobs'
// explicit one, or the default measured on the device as the call starts: core/workspace.hpp);
// an explicit bound too small for one query throws InvalidArgument before anything runs. The
// host waits once, at the end (ctx.synchronize()), and then throws InvalidArgument if a host
// query holds NaN/Inf (a few host queries, kHostCheckMaxValues, are checked before anything
// runs).
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
