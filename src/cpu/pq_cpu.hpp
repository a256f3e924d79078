// cpu/pq_cpu.hpp — the CPU implementations of the product-quantizer backends: IndexPQ's codes in
// one contiguous array (pq_cpu.cpp), IndexIVFPQ's inverted lists of codes (ivf_pq_cpu.cpp).
// Searches run one query per OpenMP iteration: its lookup tables, a scan of the codes
// (cpu/pq_scan.hpp, or cpu/pq4_fast_scan.hpp for 4-bit codes in the fast-scan layout) and its own
// top-k collector.
#pragma once

#include <memory>

#include "core/pq_backend.hpp"

namespace knnx::cpu {

std::unique_ptr<detail::PqBackend> make_pq_backend(int dim, int code_size, detail::PqLayout layout,
                                                   Metric metric);
// by_residual false: codes of the vectors themselves (the fast-scan IVF index only).
std::unique_ptr<detail::IvfPqBackend> make_ivf_pq_backend(int dim, int n_lists, int code_size,
                                                          detail::PqLayout layout, Metric metric,
                                                          bool by_residual = true);

}  // namespace knnx::cpu
