// cuda/pq/pq_cuda.hpp — the CUDA implementations of the product-quantizer backends
// (core/pq_backend.hpp): IndexPQ's codes in one device array, IndexIVFPQ's in a DeviceListArena
// (cuda/ivf/list_arena.hpp) beside the IVF-Flat lists, both scanned by cuda/pq/pq_kernels.hpp.
#pragma once

#include <memory>

#include "core/pq_backend.hpp"

namespace knnx::cuda {

std::unique_ptr<detail::PqBackend> make_pq_backend(int dim, int code_size, Metric metric,
                                                   int device);
std::unique_ptr<detail::IvfPqBackend> make_ivf_pq_backend(int dim, int n_lists, int code_size,
                                                          Metric metric, int device);

}  // namespace knnx::cuda
