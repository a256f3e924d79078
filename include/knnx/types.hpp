// knnx/types.hpp — basic scalar types and limits shared by the whole API.
#pragma once

#include <cstdint>
#include <limits>

namespace knnx {

// Vector ids and counts. Labels in search results are idx_t; -1 marks "no result".
using idx_t = std::int64_t;

// Largest k any search accepts (CPU and GPU alike): 262,144. The bound is the memory of the
// results: each query owns k distances and k labels (12 bytes a neighbour, 3 MiB a query at the
// limit), held by the caller, and every search keeps per-query selection buffers of a few times
// that while it runs (CPU collectors, GPU candidate lists). Results for k > ntotal are padded
// (label -1, distance +inf for L2 / -inf for inner product).
inline constexpr int kMaxK = 1 << 18;

// Largest vector dimension the API accepts; protects size arithmetic and file loaders.
inline constexpr int kMaxDim = 1 << 16;

// Largest id an index accepts: ids are 0..kMaxId (2^63 - 2), so that the next sequential id,
// one past the largest stored, is still an idx_t, and every accepted id can be saved and loaded.
inline constexpr idx_t kMaxId = INT64_MAX - 1;

// Largest squared L2 norm of a vector that an index stores, searches for or loads, and of a
// transform's output: FLT_MAX / 8 (about 4.25e37, a norm of about 6.5e18). For vectors x, y
// within it |x|^2, |y|^2 and |x.y| are at most FLT_MAX / 8, so every L2 distance (also computed
// as |x|^2 + |y|^2 - 2 x.y) and inner product between them is at most FLT_MAX / 2: finite in
// float32 with room for the rounding of float sums (FLT_MAX / 4 would reach FLT_MAX exactly).
inline constexpr double kMaxSquaredNorm =
    static_cast<double>(std::numeric_limits<float>::max()) / 8;

// The label written where fewer than k results exist.
inline constexpr idx_t kNoLabel = -1;

}  // namespace knnx
