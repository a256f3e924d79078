// core/new_ids.hpp — the rule every id container applies to ids it is asked to add.
#pragma once

#include <unordered_set>

#include "core/check.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// InvalidArgument naming the first of ids[0..n) that is negative, above kMaxId, repeated
// within ids, or already stored (stored(id) is true).
template <typename Stored>
void check_new_ids(idx_t n, const idx_t* ids, const Stored& stored) {
  std::unordered_set<idx_t> seen;
  seen.reserve(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) {
    const idx_t id = ids[i];
    require(id >= 0, "ids[{}] = {} is negative; ids must be >= 0", i, id);
    require(id <= kMaxId, "ids[{}] = {} is above the largest id, {} (2^63 - 2)", i, id, kMaxId);
    require(seen.insert(id).second, "ids[{}] = {} appears more than once in ids", i, id);
    require(!stored(id), "ids[{}] = {} is already stored in the index", i, id);
  }
}

}  // namespace knnx::detail
