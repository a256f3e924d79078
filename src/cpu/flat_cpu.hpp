// cpu/flat_cpu.hpp — the CPU implementation of the flat backend.
#pragma once

#include <memory>

#include "core/flat_backend.hpp"

namespace knnx::cpu {

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric);

}  // namespace knnx::cpu
