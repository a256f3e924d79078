// cuda/cuda_backend.hpp — the CUDA devices' detail::Backend.
#pragma once

#include "core/backend.hpp"

namespace knnx::cuda {

const detail::Backend& backend();

}  // namespace knnx::cuda
