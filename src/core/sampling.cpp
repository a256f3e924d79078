#include "core/sampling.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/check.hpp"

namespace knnx::detail {

std::vector<idx_t> sample_without_replacement(idx_t n, idx_t m, Rng& rng) {
  require(n >= 0 && m >= 0 && m <= n, "cannot sample {} distinct indices from [0, {})", m, n);
  std::vector<idx_t> out;
  out.reserve(static_cast<std::size_t>(m));
  if (m == n) {
    for (idx_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  // Floyd: for j = n-m .. n-1 draw t in [0, j]; take t unless already taken, else j (which no
  // earlier step could have taken). Every m-subset comes out with the same probability.
  std::unordered_set<idx_t> taken;
  taken.reserve(static_cast<std::size_t>(m));
  for (idx_t j = n - m; j < n; ++j) {
    const idx_t t = static_cast<idx_t>(rng.bounded(static_cast<std::uint64_t>(j) + 1));
    const idx_t pick = taken.insert(t).second ? t : j;
    if (pick == j) taken.insert(j);
    out.push_back(pick);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace knnx::detail
