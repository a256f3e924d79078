// cuda/select/merge_tree.hpp — reduces per-query lists of partial (key, row) results to the
// final top-k on the device.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/runtime/memory.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Folds nq lists of n_in partial results ([nq][n_in] keys and rows) into sorted final results,
// written like launch_merge (distances per `metric`, rows mapped through `ids`). Long lists
// go through a merge tree first (many blocks per query, each keeping k of a slice), so one block
// never folds hundreds of thousands of candidates alone. Takes ownership of the buffers.
void merge_partials(DeviceBuffer<std::uint32_t> keys, DeviceBuffer<std::int32_t> rows, int nq,
                    int n_in, int k, Metric metric, const float* qnorms, const std::int64_t* ids,
                    float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
