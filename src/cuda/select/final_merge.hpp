// cuda/select/final_merge.hpp — where a scan kernel that merges its own partial results in the
// last block of each query (last_block_merge.cuh) writes them.
#pragma once

#include <cstdint>

namespace knnx::cuda {

// Partial entries (parts x k a query) a last-block merge folds at most: past it, merge_partials'
// tree (many blocks a query) is faster than one block.
inline constexpr int kLastBlockMergeMaxEntries = 8192;

// counters: StreamContext::block_counters() (one a query, zero before and after the kernel), or
// null for a scan that only writes partial lists. distances / labels: the [nq][k] final results,
// labels mapped through ids when not null.
struct FinalMerge {
  int* counters = nullptr;
  const std::int64_t* ids = nullptr;
  float* distances = nullptr;
  std::int64_t* labels = nullptr;
};

}  // namespace knnx::cuda
