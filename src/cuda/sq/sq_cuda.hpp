// cuda/sq/sq_cuda.hpp — the CUDA implementation of the scalar-quantizer backend
// (core/sq_backend.hpp): codes in a DeviceListArena (cuda/ivf/list_arena.hpp, one list without a
// coarse quantizer), scanned by cuda/sq/sq_kernels.hpp.
#pragma once

#include <memory>

#include "core/sq_backend.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::SqBackend> make_sq_backend(const detail::SqLayout& layout, int device);

}  // namespace knnx::cuda
