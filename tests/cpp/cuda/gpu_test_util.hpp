// Helpers for the GPU suites: skipping without a device, reference results, poisoning.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "knnx/knnx.hpp"

namespace knnx::test {

#define KNNX_REQUIRE_GPU()                                              \
  do {                                                                  \
    if (::knnx::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

inline std::vector<float> random_vectors(idx_t n, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (float& v : x) v = dist(rng);
  return x;
}

// Exact distance of query q to base row r, in double.
inline double true_distance(Metric metric, const float* q, const float* x, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    s += metric == Metric::L2 ? (double(q[j]) - x[j]) * (double(q[j]) - x[j]) : double(q[j]) * x[j];
  }
  return s;
}

// Checks one query's results against a float64 brute force, tie order aside: the returned
// distances match the reference k best within tolerance, each label's true distance matches
// its reported one, labels are distinct, and slots past n are padded.
inline void expect_exact(Metric metric, const float* q, const std::vector<float>& base, idx_t n,
                         int d, int k, const float* dist, const idx_t* lab, double rel_tol) {
  std::vector<double> all(static_cast<std::size_t>(n));
  double scale = 1.0;
  for (idx_t i = 0; i < n; ++i) {
    all[static_cast<std::size_t>(i)] = true_distance(metric, q, base.data() + i * d, d);
    scale = std::max(scale, std::abs(all[static_cast<std::size_t>(i)]));
  }
  if (metric == Metric::L2) {
    std::sort(all.begin(), all.end());
  } else {
    std::sort(all.begin(), all.end(), std::greater<>());
  }
  const double tol = rel_tol * scale;
  std::set<idx_t> seen;
  for (int j = 0; j < k; ++j) {
    if (j < n) {
      ASSERT_GE(lab[j], 0) << "slot " << j;
      ASSERT_LT(lab[j], n);
      ASSERT_TRUE(seen.insert(lab[j]).second) << "label repeated: " << lab[j];
      EXPECT_NEAR(dist[j], all[static_cast<std::size_t>(j)], tol) << "slot " << j;
      const double mine = true_distance(metric, q, base.data() + lab[j] * d, d);
      EXPECT_NEAR(dist[j], mine, tol) << "slot " << j << " label " << lab[j];
    } else {
      EXPECT_EQ(lab[j], -1);
      EXPECT_EQ(dist[j], empty_distance(metric));
    }
  }
}

}  // namespace knnx::test
