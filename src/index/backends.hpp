// index/backends.hpp — picks the backend implementation for a device.
#pragma once

#include <memory>

#include "core/flat_backend.hpp"
#include "knnx/device.hpp"
#include "knnx/metric.hpp"

namespace knnx::detail {

// A flat backend on `device`; NotSupported when the build lacks CUDA, InvalidArgument when the
// CUDA device does not exist.
std::unique_ptr<FlatBackend> make_flat_backend(int dim, Metric metric, Device device);

}  // namespace knnx::detail
