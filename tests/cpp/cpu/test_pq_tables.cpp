// cpu/pq_tables.hpp: the transposed-codebook tables equal, bit for bit, the entries summed
// centroid by centroid in component order (the arithmetic they replace), on this CPU's
// instruction set and in the portable loop alike; pq_add_scaled equals its portable loop; the
// nearest centroid of each sub-space is the first smallest entry on both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/pq_tables.hpp"

namespace knnx::cpu {
namespace {

// Bitwise equality, so that -0.0f and 0.0f (or two NaNs) are told apart as the kernels' bits.
void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&a[i], &b[i], sizeof(float)))
        << what << " entry " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST(PqTables, EqualTheCentroidByCentroidSumsOnEveryInstructionSet) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (int ksub : {16, 256}) {
    for (int dsub : {1, 3, 4, 8}) {
      const int M = 5;
      std::vector<float> centroids(static_cast<std::size_t>(M) * ksub * dsub);
      std::vector<float> query(static_cast<std::size_t>(M) * dsub);
      for (float& v : centroids) v = g(rng);
      for (float& v : query) v = g(rng);
      const std::vector<float> transposed = pq_transpose_codebooks(centroids, M, ksub, dsub);
      for (bool l2 : {true, false}) {
        std::vector<float> expected(static_cast<std::size_t>(M) * ksub);
        for (int m = 0; m < M; ++m) {
          for (int j = 0; j < ksub; ++j) {
            const float* c = centroids.data() + (static_cast<std::size_t>(m) * ksub + j) * dsub;
            const float* x = query.data() + static_cast<std::size_t>(m) * dsub;
            float s = 0.0f;
            for (int e = 0; e < dsub; ++e) {
              // volatile: one rounding per product, as the kernels (no fused multiply-add).
              volatile float term = l2 ? (x[e] - c[e]) * (x[e] - c[e]) : x[e] * c[e];
              s += term;
            }
            expected[static_cast<std::size_t>(m) * ksub + j] = s;
          }
        }
        std::vector<float> fast(expected.size()), portable(expected.size());
        pq_query_tables(transposed.data(), M, ksub, dsub, query.data(), l2, fast.data());
        pq_query_tables_portable(transposed.data(), M, ksub, dsub, query.data(), l2,
                                 portable.data());
        SCOPED_TRACE(testing::Message() << "ksub " << ksub << " dsub " << dsub << " l2 " << l2
                                        << " isa " << pq_query_tables_isa());
        expect_same_bits(portable, expected, "portable");
        expect_same_bits(fast, expected, "dispatched");
      }
    }
  }
}

TEST(PqTables, AddScaledEqualsThePortableLoop) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 10.0f);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096 + 3}}) {
    std::vector<float> a(n), b(n);
    for (float& v : a) v = g(rng);
    for (float& v : b) v = g(rng);
    for (float f : {-2.0f, -1.0f, 0.3f}) {
      std::vector<float> fast(n), portable(n), expected(n);
      for (std::size_t e = 0; e < n; ++e) {
        volatile float scaled = f * b[e];
        expected[e] = a[e] + scaled;
      }
      pq_add_scaled(a.data(), f, b.data(), n, fast.data());
      pq_add_scaled_portable(a.data(), f, b.data(), n, portable.data());
      SCOPED_TRACE(testing::Message() << "n " << n << " f " << f);
      expect_same_bits(portable, expected, "portable");
      expect_same_bits(fast, expected, "dispatched");
    }
  }
}

TEST(PqTables, NearestCentroidsAreTheFirstSmallestOnEveryInstructionSet) {
  std::mt19937 rng(23);
  std::normal_distribution<float> g(0.0f, 5.0f);
  for (int ksub : {16, 256}) {
    const int M = 40;
    std::vector<float> tables(static_cast<std::size_t>(M) * ksub);
    for (float& v : tables) v = std::abs(g(rng));
    // Ties: sub-space 0 has its smallest entry twice (the lower number wins), sub-space 1 in its
    // last slot only, sub-space 2 everywhere equal, sub-space 3 at +inf but one entry.
    tables[5] = tables[ksub - 2] = -1.0f;
    tables[static_cast<std::size_t>(ksub) + ksub - 1] = -2.0f;
    std::fill_n(tables.begin() + 2 * ksub, ksub, 7.0f);
    std::fill_n(tables.begin() + 3 * ksub, ksub, std::numeric_limits<float>::infinity());
    tables[static_cast<std::size_t>(3) * ksub + 9] = 1e30f;
    std::vector<int> expected(M), fast(M, -1), portable(M, -1);
    for (int m = 0; m < M; ++m) {
      const float* t = tables.data() + static_cast<std::size_t>(m) * ksub;
      expected[m] = static_cast<int>(std::min_element(t, t + ksub) - t);
    }
    ASSERT_EQ(expected[0], 5);
    ASSERT_EQ(expected[1], ksub - 1);
    ASSERT_EQ(expected[2], 0);
    ASSERT_EQ(expected[3], 9);
    pq_nearest_centroids(tables.data(), M, ksub, fast.data());
    pq_nearest_centroids_portable(tables.data(), M, ksub, portable.data());
    SCOPED_TRACE(testing::Message() << "ksub " << ksub << " isa " << pq_query_tables_isa());
    EXPECT_EQ(portable, expected);
    EXPECT_EQ(fast, expected);
  }
}

}  // namespace
}  // namespace knnx::cpu
