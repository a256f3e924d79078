// cpu/range_scan.hpp — range search on the CPU: rows within a radius of a query, query chunk by
// query chunk, gathered into a RangeSearchResult sorted best first within each query.
#pragma once

#include <functional>
#include <vector>

#include "knnx/id_selector.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

struct RangeHit {
  float distance;
  idx_t label;
};

// Appends to hits every row j of rows[0..n) (n x d, row-major) within radius of query (L2:
// squared distance < radius; inner product: score > radius) whose id row_ids[j] sel admits
// (sel may be null); the hit's label is row_ids[j].
void range_scan_rows(const float* query, const float* rows, const idx_t* row_ids, idx_t n, int d,
                     Metric metric, float radius, const IDSelector* sel,
                     std::vector<RangeHit>& hits);

// Appends to hits every j in [0, n) whose score passes radius and whose id ids[j] sel admits
// (sel may be null), labelled ids[j]. Scores are minimised, as the compressed indexes' scans
// produce them: L2 squared distances, or negated inner products (the hit holds the product).
void append_scores_within(const float* scores, idx_t n, const idx_t* ids, Metric metric,
                          float radius, const IDSelector* sel, std::vector<RangeHit>& hits);

// Runs scan_query(q, hits) for every query q in [0, nq), num_threads at a time (0: OpenMP's
// default), over chunks of queries so that only one chunk's hits are held besides the result;
// each query's hits are sorted best first (ties by label) and appended.
RangeSearchResult range_search_by_query(
    idx_t nq, Metric metric, int num_threads,
    const std::function<void(idx_t q, std::vector<RangeHit>& hits)>& scan_query);

}  // namespace knnx::cpu
