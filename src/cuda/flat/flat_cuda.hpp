// cuda/flat/flat_cuda.hpp — the CUDA implementation of the flat backend.
#pragma once

#include <memory>

#include "core/flat_backend.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric, int device);

}  // namespace knnx::cuda
