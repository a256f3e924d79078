// knnx/range_search.hpp — the result of Index::range_search, as FAISS's RangeSearchResult.
#pragma once

#include <vector>

#include "knnx/types.hpp"

namespace knnx {

// Results of nq queries, concatenated: those of query i are at [lims[i], lims[i + 1]) of
// distances and labels. Unlike FAISS, each query's results are sorted best first (ascending
// L2 distance, descending inner product; equal distances by ascending label).
struct RangeSearchResult {
  std::vector<idx_t> lims;  // nq + 1 offsets, lims[0] = 0
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

}  // namespace knnx
