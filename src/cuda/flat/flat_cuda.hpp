// cuda/flat/flat_cuda.hpp — the CUDA implementation of the flat backend.
#pragma once

#include <cstdint>
#include <memory>

#include "core/flat_backend.hpp"

namespace knnx::cuda {

class StreamContext;

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric, int device);

// Queues, on ctx's streams, the search of `flat` (made by make_flat_backend) for nq device
// queries stored padded (rows of round_up(dim, 4) floats, as the other CUDA backends stage
// them), writing [nq][k] device results labelled by row number, with the settings (workspace
// bound included) of knobs. Nothing is synchronised and the queries are not checked for
// NaN/Inf: the caller does both.
void search_padded_async(const detail::FlatBackend& flat, StreamContext& ctx, idx_t nq,
                         const float* queries, int k, const detail::SearchKnobs& knobs,
                         float* distances, std::int64_t* labels);

}  // namespace knnx::cuda
