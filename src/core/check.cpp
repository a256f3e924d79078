#include "core/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace knnx::detail {

namespace {

// True when some x[i] has an all-ones exponent (NaN or Inf). An integer OR over the exponent
// bits has no float dependency chain, so the loop vectorises and runs at memory speed (a float
// sum of 0 * x[i] is a serial chain of adds, ~4x slower).
bool any_nonfinite_serial(const float* x, std::size_t n) {
  constexpr std::uint32_t kExponent = 0x7f800000u;
  std::uint32_t found = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    found |= (bits & kExponent) == kExponent ? 1u : 0u;
  }
  return found != 0;
}

// Long inputs (a training set, an add of millions of rows) are split over threads.
bool any_nonfinite(const float* x, std::size_t total) {
  constexpr std::size_t kChunk = std::size_t(1) << 20;
  if (total <= 4 * kChunk) return any_nonfinite_serial(x, total);
  const long long chunks = static_cast<long long>((total + kChunk - 1) / kChunk);
  bool found = false;
#pragma omp parallel for reduction(|| : found) schedule(static)
  for (long long c = 0; c < chunks; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
    found = found || any_nonfinite_serial(x + begin, std::min(kChunk, total - begin));
  }
  return found;
}

}  // namespace

void check_finite_host(idx_t n, idx_t d, const float* x, const char* what) {
  const std::size_t total = checked_elements(n, d, what);
  if (!any_nonfinite(x, total)) return;
  for (std::size_t i = 0; i < total; ++i) {
    if (!std::isfinite(x[i])) {
      const idx_t row = static_cast<idx_t>(i / static_cast<std::size_t>(d));
      const idx_t col = static_cast<idx_t>(i % static_cast<std::size_t>(d));
      throw InvalidArgument(fmt::format("{} contains a non-finite value ({}) at row {}, column {}",
                                        what, x[i], row, col));
    }
  }
}

void require_not_flagged(bool flagged, bool x_on_host, idx_t n, idx_t d, const float* x,
                         const char* what) {
  if (!flagged) return;
  if (x_on_host) check_finite_host(n, d, x, what);
  throw InvalidArgument(fmt::format("{} contain a non-finite value (NaN or Inf)", what));
}

}  // namespace knnx::detail
