// knnx/types.hpp — basic scalar types and limits shared by the whole API.
#pragma once

#include <cstdint>

namespace knnx {

// Vector ids and counts. Labels in search results are idx_t; -1 marks "no result".
using idx_t = std::int64_t;

// Largest k any search accepts (CPU and GPU alike).
inline constexpr int kMaxK = 2048;

// Largest vector dimension the API accepts; protects size arithmetic and file loaders.
inline constexpr int kMaxDim = 1 << 16;

// Largest id an index accepts: ids are 0..kMaxId (2^63 - 2), so that the next sequential id,
// one past the largest stored, is still an idx_t, and every accepted id can be saved and loaded.
inline constexpr idx_t kMaxId = INT64_MAX - 1;

// The label written where fewer than k results exist.
inline constexpr idx_t kNoLabel = -1;

}  // namespace knnx
