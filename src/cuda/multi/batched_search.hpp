// cuda/multi/batched_search.hpp — chunked search of host queries, double-buffered through the
// device (the CUDA backend's search_in_chunks; contract in core/backend.hpp).
#pragma once

#include "core/backend.hpp"

namespace knnx::cuda {

void search_in_chunks(int device, idx_t nq, idx_t d, int k, idx_t chunk, const float* queries,
                      float* distances, idx_t* labels, const detail::Backend::ChunkSearch& search,
                      const detail::Backend::ChunkDelivered& delivered);

}  // namespace knnx::cuda
