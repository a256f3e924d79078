// cuda/ivf/ivf_cuda.hpp — the CUDA implementation of the IVF-Flat backend.
#pragma once

#include <memory>

#include "core/ivf_backend.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric,
                                                     int device);

}  // namespace knnx::cuda
