// Helpers for the linear-algebra suites: float64 reference products, orthogonality and
// reconstruction errors, and matrices with a known spectrum.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "knnx/linalg.hpp"

namespace knnx::test {

inline std::vector<float> normal_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = dist(rng);
  return x;
}

// C (m x k) = A (m x n) B (n x k), row-major, in float64.
inline std::vector<double> ref_ab(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                  const float* b) {
  std::vector<double> c(static_cast<std::size_t>(m * k), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t l = 0; l < n; ++l) {
      const double av = a[i * n + l];
      for (std::int64_t j = 0; j < k; ++j) c[i * k + j] += av * b[l * k + j];
    }
  }
  return c;
}

// C (n x k) = A^T B for A m x n, B m x k, in float64.
inline std::vector<double> ref_atb(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                   const float* b) {
  std::vector<double> c(static_cast<std::size_t>(n * k), 0.0);
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double av = a[r * n + i];
      for (std::int64_t j = 0; j < k; ++j) c[i * k + j] += av * b[r * k + j];
    }
  }
  return c;
}

// max |Q^T Q - I| for m x k row-major Q.
inline double orthogonality_error(std::int64_t m, std::int64_t k, const float* q) {
  double worst = 0.0;
  for (std::int64_t a = 0; a < k; ++a) {
    for (std::int64_t b = a; b < k; ++b) {
      double s = 0.0;
      for (std::int64_t i = 0; i < m; ++i) s += double(q[i * k + a]) * q[i * k + b];
      worst = std::max(worst, std::abs(s - (a == b ? 1.0 : 0.0)));
    }
  }
  return worst;
}

// max |Q R - A| / max |A|.
inline double reconstruction_error(std::int64_t m, std::int64_t k, const float* a, const float* q,
                                   const float* r) {
  const std::vector<double> qr = ref_ab(m, k, k, q, r);
  double worst = 0.0, scale = 1e-30;
  for (std::size_t i = 0; i < qr.size(); ++i) {
    worst = std::max(worst, std::abs(qr[i] - a[i]));
    scale = std::max(scale, std::abs(double(a[i])));
  }
  return worst / scale;
}

// An m x n matrix U diag(s) V^T with random orthonormal U, V (by CPU QR) and the given values.
inline std::vector<float> matrix_with_spectrum(std::int64_t m, std::int64_t n,
                                               const std::vector<double>& s, std::uint64_t seed) {
  const std::vector<float> g1 = normal_matrix(m, n, seed);
  const std::vector<float> g2 = normal_matrix(n, n, seed + 1);
  const QrResult u = qr(m, n, g1.data());
  const QrResult v = qr(n, n, g2.data());
  std::vector<float> a(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (std::int64_t l = 0; l < n; ++l) acc += double(u.q[i * n + l]) * s[l] * v.q[j * n + l];
      a[i * n + j] = static_cast<float>(acc);
    }
  }
  return a;
}

// Geometric spectrum s_i = top * ratio^i.
inline std::vector<double> geometric_spectrum(std::int64_t n, double top, double ratio) {
  std::vector<double> s(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) s[i] = top * std::pow(ratio, double(i));
  return s;
}

}  // namespace knnx::test
