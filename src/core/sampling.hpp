// core/sampling.hpp — reproducible sampling of row indices without replacement.
#pragma once

#include <vector>

#include "core/random.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// m distinct indices drawn uniformly from [0, n), ascending (0 <= m <= n). Robert Floyd's
// algorithm: O(m) memory and m draws from rng whatever n is, so the result depends only on the
// generator's state, n and m.
std::vector<idx_t> sample_without_replacement(idx_t n, idx_t m, Rng& rng);

}  // namespace knnx::detail
