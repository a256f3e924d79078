// cpu/flat_search.hpp — blocked exact k-NN over a row-major base, BLAS sgemm + fused selection.
//
// Distances are computed one (query block x base block) tile at a time with cblas_sgemm and
// fed straight into per-query TopK collectors, so the nq x n distance matrix never exists.
// L2 uses ||q||^2 + ||x||^2 - 2 q.x with the base norms precomputed, completed inside the SIMD
// threshold screen rather than in a separate pass. A few queries skip sgemm (whose packing
// would dominate) for a kernel that reads the base unpacked at memory speed. OpenMP
// parallelises over query blocks when every thread gets at least one of a useful size,
// otherwise over base blocks with per-thread collectors merged at the end.
#pragma once

#include "core/search_knobs.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

struct FlatSearchParams {
  int query_block = 1024;  // defaults as in knnx::Config
  int base_block = 1024;
  int num_threads = 0;         // 0: OpenMP default
  int direct_max_queries = 0;  // 0: the crossover for the scan kernels' instruction set
};

// FlatSearchParams from the knobs in force (knnx::config()), with num_threads threads.
FlatSearchParams flat_search_params(int num_threads);
// FlatSearchParams of one search's knobs.
FlatSearchParams flat_search_params(const detail::SearchKnobs& knobs);

// Squared norms of n rows of x (n x d) into out[0..n).
void row_norms_sq(idx_t n, int d, const float* x, float* out);

// labels are row numbers in [0, n) or -1; distances as in the Index conventions.
// base_norms may be null for inner product. With a selector, only rows whose id
// (row_ids[row]) it admits are returned; they are skipped inside the selection.
void flat_search(const float* base, const float* base_norms, idx_t n, int d, Metric metric,
                 const float* queries, idx_t nq, int k, float* distances, idx_t* labels,
                 const FlatSearchParams& params, const IDSelector* sel = nullptr,
                 const idx_t* row_ids = nullptr);

}  // namespace knnx::cpu
