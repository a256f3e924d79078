// The SIMD scan kernels (cpu/scan_kernels.hpp), every version this CPU runs, against scalar and
// float64 references.
#include "cpu/scan_kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace knnx::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> normal(std::size_t n, std::uint32_t seed, float mean = 0.0f, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

class ScanKernels : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!select_scan_kernels(GetParam())) GTEST_SKIP() << GetParam() << " not available here";
    ASSERT_EQ(std::string(scan_kernels_isa()), GetParam());
  }
  void TearDown() override { select_scan_kernels("best"); }
};

// collect_below of the metric the norms stand for: L2 with base norms, inner product without.
int collect_below(const float* t, const float* bn, float qn, int n, float threshold,
                  std::uint32_t* hits) {
  return bn ? cpu::collect_below<Metric::L2>(t, bn, qn, n, threshold, hits)
            : cpu::collect_below<Metric::InnerProduct>(t, bn, qn, n, threshold, hits);
}

std::vector<std::uint32_t> reference_below(const float* t, const float* bn, float qn, int n,
                                           float threshold) {
  std::vector<std::uint32_t> out;
  for (int j = 0; j < n; ++j) {
    const float score =
        bn ? score_of<Metric::L2>(t[j], bn[j], qn) : score_of<Metric::InnerProduct>(t[j], 0.0f, qn);
    if (score < threshold) out.push_back(static_cast<std::uint32_t>(j));
  }
  return out;
}

TEST_P(ScanKernels, CollectBelowMatchesScalarForEveryLength) {
  const std::vector<float> t = normal(kCollectChunk, 1, -50.0f, 30.0f);
  const std::vector<float> bn = normal(kCollectChunk, 2, 40.0f, 10.0f);
  std::vector<std::uint32_t> hits(kCollectChunk);
  for (int n = 0; n <= kCollectChunk; ++n) {
    for (const float threshold : {-kInf, -20.0f, 0.0f, 1.0f, 15.0f, kInf}) {
      for (const bool l2 : {false, true}) {
        const float* norms = l2 ? bn.data() : nullptr;
        const int count = collect_below(t.data(), norms, 25.0f, n, threshold, hits.data());
        const std::vector<std::uint32_t> want = reference_below(t.data(), norms, 25.0f, n, threshold);
        ASSERT_EQ(std::vector<std::uint32_t>(hits.begin(), hits.begin() + count), want)
            << "n=" << n << " threshold=" << threshold << " l2=" << l2;
      }
    }
  }
}

TEST_P(ScanKernels, CollectBelowEdgeValues) {
  // Negative L2 sums clamp to 0 (so they pass any positive threshold and no threshold <= 0);
  // NaN never passes; an entry equal to the threshold does not pass.
  std::vector<float> t = {-100.0f, kNaN, 5.0f, -7.0f, 3.0f, kInf, -kInf, 0.0f, 2.0f,
                          -0.0f,   1.0f, 4.0f, 6.0f,  7.0f, 8.0f, 9.0f,  10.0f};
  const std::vector<float> bn(t.size(), 1.0f);
  std::vector<std::uint32_t> hits(t.size());
  const int n = static_cast<int>(t.size());
  for (const float threshold : {0.0f, 3.0f, 4.0f, kInf}) {
    for (const bool l2 : {false, true}) {
      const float* norms = l2 ? bn.data() : nullptr;
      const int count = collect_below(t.data(), norms, 2.0f, n, threshold, hits.data());
      EXPECT_EQ(std::vector<std::uint32_t>(hits.begin(), hits.begin() + count),
                reference_below(t.data(), norms, 2.0f, n, threshold))
          << "threshold=" << threshold << " l2=" << l2;
      for (int h = 0; h < count; ++h) EXPECT_NE(hits[static_cast<std::size_t>(h)], 1u) << "NaN collected";
    }
  }
  // Spelled out for one case: L2 with ||q||^2 = 2, ||x||^2 = 1 and threshold 4: the scores are
  // max(t + 3, 0), below 4 for t < 1 (the -inf entry gives 0; +inf and NaN never pass).
  const int count = collect_below(t.data(), bn.data(), 2.0f, n, 4.0f, hits.data());
  EXPECT_EQ(std::vector<std::uint32_t>(hits.begin(), hits.begin() + count),
            (std::vector<std::uint32_t>{0, 3, 6, 7, 9}));
}

TEST_P(ScanKernels, SmallBatchProductsMatchFloat64) {
  for (const int d : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 127, 128, 129, 300}) {
    for (int nq = 1; nq <= kSmallBatchMax; ++nq) {
      for (const idx_t n_rows : {idx_t{0}, idx_t{1}, idx_t{3}, idx_t{7}, idx_t{8}, idx_t{9}, idx_t{37}}) {
        const std::vector<float> q = normal(static_cast<std::size_t>(nq * d), 3u + static_cast<std::uint32_t>(d));
        const std::vector<float> x = normal(static_cast<std::size_t>(n_rows * d), 4u + static_cast<std::uint32_t>(d), 0.5f);
        const idx_t stride = n_rows + 5;
        std::vector<float> out(static_cast<std::size_t>(nq * stride), 1234.0f);
        small_batch_products(q.data(), nq, x.data(), n_rows, d, -2.0f, out.data(), stride);
        for (int i = 0; i < nq; ++i) {
          for (idx_t r = 0; r < stride; ++r) {
            const float got = out[static_cast<std::size_t>(i * stride + r)];
            if (r >= n_rows) {
              ASSERT_EQ(got, 1234.0f) << "wrote past the rows: d=" << d << " nq=" << nq << " r=" << r;
              continue;
            }
            double dot = 0.0, mag = 0.0;
            for (int j = 0; j < d; ++j) {
              const double a = q[static_cast<std::size_t>(i * d + j)];
              const double b = x[static_cast<std::size_t>(r * d + j)];
              dot += a * b;
              mag += std::abs(a * b);
            }
            ASSERT_NEAR(got, -2.0 * dot, 2.0 * mag * 1e-5 + 1e-30)
                << "d=" << d << " nq=" << nq << " rows=" << n_rows << " i=" << i << " r=" << r;
          }
        }
      }
    }
  }
}

TEST_P(ScanKernels, SmallBatchProductsDoNotDependOnGrouping) {
  // A (query, row) pair gets the same bits alone or next to another query, at any row position,
  // and alpha = -2 is exactly twice alpha = -1.
  const int d = 77;
  const idx_t n_rows = 203;
  const std::vector<float> q = normal(2 * d, 5);
  const std::vector<float> x = normal(static_cast<std::size_t>(n_rows * d), 6);
  std::vector<float> pair(static_cast<std::size_t>(2 * n_rows)), one(static_cast<std::size_t>(n_rows));
  std::vector<float> halves(static_cast<std::size_t>(n_rows));
  small_batch_products(q.data(), 2, x.data(), n_rows, d, -2.0f, pair.data(), n_rows);
  for (int i = 0; i < 2; ++i) {
    small_batch_products(q.data() + i * d, 1, x.data(), n_rows, d, -2.0f, one.data(), n_rows);
    small_batch_products(q.data() + i * d, 1, x.data(), n_rows, d, -1.0f, halves.data(), n_rows);
    for (idx_t r = 0; r < n_rows; ++r) {
      ASSERT_EQ(one[static_cast<std::size_t>(r)], pair[static_cast<std::size_t>(i * n_rows + r)]) << "i=" << i << " r=" << r;
      ASSERT_EQ(one[static_cast<std::size_t>(r)], 2.0f * halves[static_cast<std::size_t>(r)]) << "i=" << i << " r=" << r;
    }
    // Row r computed inside a batch or on its own (the path for a trailing partial step).
    for (idx_t r : {idx_t{0}, idx_t{5}, idx_t{200}, idx_t{202}}) {
      float alone = 0.0f;
      small_batch_products(q.data() + i * d, 1, x.data() + r * d, 1, d, -2.0f, &alone, 1);
      ASSERT_EQ(alone, one[static_cast<std::size_t>(r)]) << "i=" << i << " r=" << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, ScanKernels, ::testing::Values("portable", "avx2", "avx512"),
                         [](const auto& info) { return std::string(info.param); });

TEST(ScanKernelSelection, UnknownNamesAreRefused) {
  const std::string before = scan_kernels_isa();
  EXPECT_FALSE(select_scan_kernels("sse9"));
  EXPECT_FALSE(select_scan_kernels(""));
  EXPECT_EQ(std::string(scan_kernels_isa()), before);
  EXPECT_TRUE(select_scan_kernels("portable"));
  EXPECT_EQ(std::string(scan_kernels_isa()), "portable");
  EXPECT_TRUE(select_scan_kernels("best"));
  EXPECT_NE(std::string(scan_kernels_isa()), "");
}

}  // namespace
}  // namespace knnx::cpu
