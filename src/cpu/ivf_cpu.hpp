// cpu/ivf_cpu.hpp — the CPU implementation of the IVF backend.
//
// Each inverted list keeps its vectors, their squared norms (L2) and their ids in contiguous
// arrays that grow geometrically. A search batch is scanned list by list: every probed list is
// read once for all the queries of the batch that probe it, with one sgemm per (list, query
// group) — or, for a few queries, a direct SIMD kernel that streams the list at memory
// speed — and the tiles go straight into per-query top-k collectors.
#pragma once

#include <memory>

#include "core/ivf_backend.hpp"

namespace knnx::cpu {

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric);

}  // namespace knnx::cpu
