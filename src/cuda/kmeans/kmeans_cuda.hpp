// cuda/kmeans/kmeans_cuda.hpp — the CUDA k-means backend.
#pragma once

#include <memory>

#include "core/kmeans_backend.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::KMeansBackend> make_kmeans_backend(int device);

}  // namespace knnx::cuda
