// cuda/common/range_collect.hpp — the host side of a GPU range search: one chunk of queries
// through the count and fill passes (range_emit.cuh), into a RangeSearchResult.
#pragma once

#include <cstdint>
#include <functional>

#include "cuda/common/range_output.hpp"
#include "cuda/runtime/stream_pool.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/types.hpp"

namespace knnx::cuda {

// count(counters) queues the count pass of the chunk's nq queries on ctx's stream (counters:
// nq zeroed device ints). fill(first, n, cursors, out) queues the fill pass of the chunk's
// queries [first, first + n), indexed from first (cursors: n zeroed device ints; out's arrays
// are for those queries).
using RangeCountPass = std::function<void(int* counters)>;
using RangeFillPass = std::function<void(int first, int n, int* cursors, const RangeOutput& out)>;

// Runs the count pass, waits, calls counted() (where the caller checks what the passes flagged,
// e.g. non-finite queries), then fills the hits in groups of queries whose hits fit
// budget_bytes (at least one query a group), copying each group back, sorting each query's
// hits best first (ties by label) and appending them to result, whose lims must hold
// result_first + nq + 1 entries. ids: device ids of the rows the passes report (null: the row
// is the id).
void collect_range_chunk(StreamContext& ctx, int nq, Metric metric, std::int64_t budget_bytes,
                         const std::int64_t* ids, const RangeCountPass& count,
                         const std::function<void()>& counted, const RangeFillPass& fill,
                         idx_t result_first, RangeSearchResult& result);

}  // namespace knnx::cuda
