// cuda/multi/shard_merge_kernels.hpp — the kernel that merges per-shard top-k lists.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "knnx/metric.hpp"

namespace knnx::cuda {

// Per query, merges n_shards sorted lists of k (distance, label) results laid out
// [n_shards][nq][k] (label -1 ends a list) into the best k by (distance, label): ascending
// distances for L2, descending for inner product, equal distances by the smaller label. Writes
// [nq][k] distances and labels, padded with -1 / +inf (L2) or -inf (IP). n_shards <=
// kMaxDeviceMergeShards.
void launch_shard_merge(const float* distances, const std::int64_t* labels, int n_shards, int nq,
                        int k, Metric metric, float* out_distances, std::int64_t* out_labels,
                        cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
