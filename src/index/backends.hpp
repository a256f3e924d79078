// index/backends.hpp — picks the backend implementation for a device.
#pragma once

#include <memory>

#include "core/flat_backend.hpp"
#include "core/ivf_backend.hpp"
#include "core/kmeans_backend.hpp"
#include "knnx/device.hpp"
#include "knnx/metric.hpp"

namespace knnx::detail {

// A flat backend on `device`; NotSupported when the build lacks CUDA, InvalidArgument when the
// CUDA device does not exist.
std::unique_ptr<FlatBackend> make_flat_backend(int dim, Metric metric, Device device);

// An IVF backend with n_lists (empty) lists on `device`; errors as make_flat_backend.
std::unique_ptr<IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric, Device device);

// The k-means implementation for `device`; errors as make_flat_backend.
std::unique_ptr<KMeansBackend> make_kmeans_backend(Device device);

}  // namespace knnx::detail
