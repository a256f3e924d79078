// cuda/select/merge_kernels.hpp — launchers of the merge kernels: per-query lists of partial
// (key, row) results — keys are order-preserving encodings (radix_key.cuh) of scores to
// minimise, -1 rows are empty — folded into final (distance, id) results or into fewer lists.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "knnx/metric.hpp"

namespace knnx::cuda {

// Merges, per query, n_in partial (key, row) pairs ([nq][n_in]) into the final top-k:
// sorted, converted to distances (L2: max(0, value + qnorm) when qnorms is given;
// IP: -value), rows mapped to ids through `ids` (identity when null), -1 / pad beyond the
// available results. Writes [nq][k] distances and labels.
void launch_merge(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq, int n_in,
                  Metric metric, int k, const float* qnorms, const std::int64_t* ids,
                  float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check);

// One level of a merge tree: per query, splits n_in partial results into `groups` slices and
// reduces each to its best k, written to out ([nq][groups][k]).
void launch_merge_partial(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq,
                          int n_in, int groups, int k, std::uint32_t* out_keys,
                          std::int32_t* out_rows, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
