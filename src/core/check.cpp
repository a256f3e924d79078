#include "core/check.hpp"

#include <cmath>

namespace knnx::detail {

void check_finite_host(idx_t n, idx_t d, const float* x, const char* what) {
  const std::size_t total = checked_elements(n, d, what);
  // Fast path: the product of 0 with a non-finite value is NaN, so one pass with no branch
  // finds whether anything is non-finite; only then look for where.
  float acc = 0.0f;
  for (std::size_t i = 0; i < total; ++i) acc += 0.0f * x[i];
  if (acc == 0.0f) return;
  for (std::size_t i = 0; i < total; ++i) {
    if (!std::isfinite(x[i])) {
      const idx_t row = static_cast<idx_t>(i / static_cast<std::size_t>(d));
      const idx_t col = static_cast<idx_t>(i % static_cast<std::size_t>(d));
      throw InvalidArgument(fmt::format("{} contains a non-finite value ({}) at row {}, column {}",
                                        what, x[i], row, col));
    }
  }
}

}  // namespace knnx::detail
