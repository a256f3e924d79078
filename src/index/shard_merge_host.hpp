// index/shard_merge_host.hpp — merging per-shard top-k lists on the host.
#pragma once

#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// Per query, merges n_shards sorted lists of k results laid out [n_shards][nq][k] (label -1 ends
// a list) into the best k by (distance, label) — the order the CPU indexes produce — padded with
// -1 / empty_distance(metric). The same rule as the device merge (cuda/multi/).
void merge_shard_results(int n_shards, idx_t nq, int k, Metric metric, const float* distances,
                         const idx_t* labels, float* out_distances, idx_t* out_labels);

}  // namespace knnx::detail
