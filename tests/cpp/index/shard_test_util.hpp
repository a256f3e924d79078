// Helpers for the IndexShards / IndexReplicas suites (CPU and GPU): data whose distances are
// exact in float32 whatever the summation order, and comparisons with the single index.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "knnx/knnx.hpp"

namespace knnx::test {

// Coordinates are multiples of 1/512 in (-0.5, 0.5) and dim <= 32, so every product is a
// multiple of 2^-18 and every norm, dot product and squared distance (below 32) fits float32's
// 24-bit mantissa: BLAS, cuBLAS and the fused kernels compute bit-identical distances however
// they block or order the sums, and the single index and its shards can be compared exactly.
inline std::vector<float> grid_vectors(idx_t n, int dim, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> value(-255, 255);
  std::vector<float> x(static_cast<std::size_t>(n) * dim);
  for (float& v : x) v = static_cast<float>(value(rng)) / 512.0f;
  return x;
}

struct Results {
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

inline Results run_search(const Index& index, idx_t nq, const std::vector<float>& queries, int k) {
  Results r{std::vector<float>(static_cast<std::size_t>(nq) * k),
            std::vector<idx_t>(static_cast<std::size_t>(nq) * k)};
  index.search(nq, queries.data(), k, r.distances.data(), r.labels.data());
  return r;
}

// Labels identical and distances equal, slot by slot.
inline void expect_identical(const Results& want, const Results& got, idx_t nq, int k) {
  ASSERT_EQ(want.labels.size(), got.labels.size());
  int reported = 0;
  for (idx_t q = 0; q < nq; ++q) {
    for (int j = 0; j < k; ++j) {
      const std::size_t at = static_cast<std::size_t>(q) * k + j;
      if ((want.labels[at] != got.labels[at] || want.distances[at] != got.distances[at]) &&
          reported++ < 10) {
        ADD_FAILURE() << "query " << q << " rank " << j << ": single (" << want.distances[at]
                      << ", " << want.labels[at] << ") vs (" << got.distances[at] << ", "
                      << got.labels[at] << ")";
      }
    }
  }
  EXPECT_EQ(reported, 0) << "slots that differ";
}

// The GPU comparison. Distances equal slot by slot; labels identical within every run of equal
// distances as a set (a single GPU index orders equal distances by row, the shard merge by
// label); in the run at the k-th distance, where a single GPU index keeps an arbitrary subset of
// the tied candidates, every label must be distinct, stored, and at exactly that distance from
// the query (checked in double against base, indexed by label).
inline void expect_identical_up_to_ties(const Results& want, const Results& got, idx_t nq, int k,
                                        Metric metric, const std::vector<float>& queries,
                                        const std::map<idx_t, const float*>& base, int dim) {
  auto exact = [&](idx_t q, idx_t label) {
    const float* x = base.at(label);
    const float* y = queries.data() + q * dim;
    double s = 0.0;
    for (int j = 0; j < dim; ++j) {
      s += metric == Metric::L2 ? (double(y[j]) - x[j]) * (double(y[j]) - x[j])
                                : double(y[j]) * x[j];
    }
    return s;
  };
  for (idx_t q = 0; q < nq; ++q) {
    const std::size_t row = static_cast<std::size_t>(q) * k;
    for (int j = 0; j < k; ++j) {
      ASSERT_EQ(want.distances[row + j], got.distances[row + j]) << "query " << q << " rank " << j;
    }
    int j = 0;
    while (j < k) {
      int end = j + 1;
      while (end < k && want.distances[row + end] == want.distances[row + j]) ++end;
      std::multiset<idx_t> a(want.labels.begin() + row + j, want.labels.begin() + row + end);
      std::multiset<idx_t> b(got.labels.begin() + row + j, got.labels.begin() + row + end);
      if (end < k || a == b) {
        EXPECT_EQ(a, b) << "query " << q << " ranks " << j << ".." << end - 1;
      } else {
        for (int r = j; r < end; ++r) {
          const idx_t l = got.labels[row + r];
          if (l < 0) continue;
          ASSERT_TRUE(base.count(l)) << "query " << q << " rank " << r << " label " << l;
          EXPECT_EQ(exact(q, l), static_cast<double>(got.distances[row + r]))
              << "query " << q << " rank " << r << " label " << l;
        }
        std::set<idx_t> distinct(b.begin(), b.end());
        EXPECT_EQ(distinct.size(), b.size()) << "query " << q << ": repeated label";
      }
      j = end;
    }
  }
}

// The balanced split of n vectors into s shards: sizes differ by at most one.
inline void expect_balanced(const std::vector<idx_t>& sizes) {
  const auto [lo, hi] = std::minmax_element(sizes.begin(), sizes.end());
  EXPECT_LE(*hi - *lo, 1) << "shard sizes are not balanced";
}

}  // namespace knnx::test
