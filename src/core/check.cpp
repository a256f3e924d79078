#include "core/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace knnx::detail {

namespace {

constexpr std::uint32_t kExponent = 0x7f800000u;

// The largest |x[i]| as its bit pattern with the sign cleared: ordered as the magnitudes are,
// and >= kExponent exactly when some x[i] is NaN or Inf. An integer max has no float dependency
// chain, so the loop vectorises and runs at memory speed (a float sum of 0 * x[i] is a serial
// chain of adds, ~4x slower).
std::uint32_t max_magnitude_bits_serial(const float* x, std::size_t n) {
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    top = std::max(top, bits & 0x7fffffffu);
  }
  return top;
}

// Long inputs (a training set, an add of millions of rows) are split over threads.
std::uint32_t max_magnitude_bits(const float* x, std::size_t total) {
  constexpr std::size_t kChunk = std::size_t(1) << 20;
  if (total <= 4 * kChunk) return max_magnitude_bits_serial(x, total);
  const long long chunks = static_cast<long long>((total + kChunk - 1) / kChunk);
  std::uint32_t top = 0;
#pragma omp parallel for reduction(max : top) schedule(static)
  for (long long c = 0; c < chunks; ++c) {
    const std::size_t begin = static_cast<std::size_t>(c) * kChunk;
    top = std::max(top, max_magnitude_bits_serial(x + begin, std::min(kChunk, total - begin)));
  }
  return top;
}

[[noreturn]] void throw_first_nonfinite(std::size_t total, idx_t d, const float* x,
                                        const char* what) {
  for (std::size_t i = 0; i < total; ++i) {
    if (!std::isfinite(x[i])) {
      const idx_t row = static_cast<idx_t>(i / static_cast<std::size_t>(d));
      const idx_t col = static_cast<idx_t>(i % static_cast<std::size_t>(d));
      throw InvalidArgument(fmt::format("{} contains a non-finite value ({}) at row {}, column {}",
                                        what, x[i], row, col));
    }
  }
  throw InvalidArgument(fmt::format("{} contains a non-finite value", what));  // not reached
}

// Whether no row can pass the norm bound, knowing only the largest magnitude (finite): the
// common case, which needs no per-row sums.
bool within_norm_bound(std::uint32_t top_bits, idx_t d) {
  float top;
  std::memcpy(&top, &top_bits, sizeof top);
  return static_cast<double>(top) * top * static_cast<double>(d) <= kMaxSquaredNorm;
}

}  // namespace

void check_finite_host(idx_t n, idx_t d, const float* x, const char* what) {
  const std::size_t total = checked_elements(n, d, what);
  if (max_magnitude_bits(x, total) >= kExponent) throw_first_nonfinite(total, d, x, what);
}

void check_vectors_host(idx_t n, idx_t d, const float* x, const char* what) {
  const std::size_t total = checked_elements(n, d, what);
  const std::uint32_t top = max_magnitude_bits(x, total);
  if (top >= kExponent) throw_first_nonfinite(total, d, x, what);
  if (within_norm_bound(top, d)) return;
  double norm = 0.0;
  const idx_t row = first_row_above_norm_bound(n, d, x, &norm);
  if (row < 0) return;
  throw InvalidArgument(
      fmt::format("{} row {} has a squared L2 norm of {:.4g}, above the largest accepted, {:.4g} "
                  "(FLT_MAX / 8, so that distances and inner products stay finite in float32)",
                  what, row, norm, kMaxSquaredNorm));
}

idx_t first_row_above_norm_bound(idx_t n, idx_t d, const float* x, double* norm) {
  for (idx_t r = 0; r < n; ++r) {
    const float* row = x + r * d;
    double sum = 0.0;
    for (idx_t j = 0; j < d; ++j) sum += static_cast<double>(row[j]) * row[j];
    if (sum > kMaxSquaredNorm) {
      *norm = sum;
      return r;
    }
  }
  return -1;
}

void require_not_flagged(unsigned long long flag, bool x_on_host, idx_t n, idx_t d, const float* x,
                         const char* what) {
  if (flag == 0) return;
  if (x_on_host) check_vectors_host(n, d, x, what);
  if (flag == kFlagAboveNormBound) {
    throw InvalidArgument(
        fmt::format("{} contain a row whose squared L2 norm is above the largest accepted, {:.4g} "
                    "(FLT_MAX / 8, so that distances and inner products stay finite in float32)",
                    what, kMaxSquaredNorm));
  }
  throw InvalidArgument(fmt::format("{} contain a non-finite value (NaN or Inf)", what));
}

}  // namespace knnx::detail
