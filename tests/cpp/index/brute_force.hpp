// Float64 references for the approximate-index tests: one score, and the exact k best rows.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::test {

// Squared L2 distance or inner product of a and b (d floats), in float64.
inline double score(const float* a, const float* b, int d, Metric metric) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    s += metric == Metric::L2 ? (double(a[j]) - b[j]) * (double(a[j]) - b[j]) : double(a[j]) * b[j];
  }
  return s;
}

// The k best rows of base (n x d) for query q in float64, best first.
inline std::vector<idx_t> brute_force(const std::vector<float>& base, idx_t n, int d,
                                      const float* q, int k, Metric metric) {
  std::vector<std::pair<double, idx_t>> all;
  for (idx_t i = 0; i < n; ++i) {
    const double s = score(q, base.data() + i * d, d, metric);
    all.push_back({metric == Metric::L2 ? s : -s, i});
  }
  std::partial_sort(all.begin(), all.begin() + k, all.end());
  std::vector<idx_t> out;
  for (int j = 0; j < k; ++j) out.push_back(all[static_cast<std::size_t>(j)].second);
  return out;
}

}  // namespace knnx::test
