// cpu/sq_cpu.hpp — the CPU implementation of the scalar-quantizer backend.
//
// Codes live in IvfCodeLists (one list without a coarse quantizer). A search runs its queries in
// parallel: each thread finds a query's probed lists, scores their codes with an SqScanner in
// chunks (decoding and accumulating per component) and keeps the best in a TopK collector.
#pragma once

#include <memory>

#include "core/sq_backend.hpp"

namespace knnx::cpu {

std::unique_ptr<detail::SqBackend> make_sq_backend(const detail::SqLayout& layout);

}  // namespace knnx::cpu
