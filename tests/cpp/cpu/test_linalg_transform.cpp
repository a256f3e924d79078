// Transforms (PCA, RandomRotation, L2Normalize, OPQ) and IndexPreTransform on the CPU: the
// invariants each promises (orthogonality, variance ordering, inverses) and argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "cpu/linalg_test_util.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/transform.hpp"

namespace knnx {
namespace {

using test::normal_matrix;

// n x d Gaussian rows with per-axis standard deviations 10, 5, 2.5, ... (floored at 0.1), then a
// fixed rotation and a shift, so every coordinate is correlated with the others.
std::vector<float> anisotropic(idx_t n, int d, std::uint64_t seed) {
  std::vector<float> g = normal_matrix(n, d, seed);
  for (idx_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) g[i * d + j] *= std::max(0.1f, 10.0f / float(1 << std::min(j, 20)));
  }
  RandomRotation rot(d, 99);
  std::vector<float> x = rot.apply(n, g.data());
  for (idx_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x[i * d + j] += 3.0f + 0.5f * float(j);
  }
  return x;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]));
  return worst;
}

// max |A A^T - I| for a rows x cols row-major A.
double row_orthogonality_error(const std::vector<float>& a, int rows, int cols) {
  double worst = 0.0;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < rows; ++j) {
      double s = 0.0;
      for (int l = 0; l < cols; ++l) s += double(a[i * cols + l]) * a[j * cols + l];
      worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  return worst;
}

TEST(Pca, ComponentsOrthonormalVarianceDescending) {
  const int d = 24, k = 6;
  const idx_t n = 5000;
  const std::vector<float> x = anisotropic(n, d, 1);
  PCA pca(d, k);
  EXPECT_FALSE(pca.is_trained());
  pca.train(n, x.data());
  ASSERT_TRUE(pca.is_trained());
  ASSERT_EQ(pca.eigenvalues().size(), static_cast<std::size_t>(d));
  for (int i = 1; i < d; ++i) EXPECT_GE(pca.eigenvalues()[i - 1], pca.eigenvalues()[i]);
  EXPECT_LT(row_orthogonality_error(pca.matrix(), k, d), 1e-5);
  // The outputs are centred, uncorrelated, with variances equal to the eigenvalues.
  const std::vector<float> y = pca.apply(n, x.data());
  for (int a = 0; a < k; ++a) {
    double mean = 0.0;
    for (idx_t i = 0; i < n; ++i) mean += y[i * k + a];
    EXPECT_NEAR(mean / n, 0.0, 1e-3 * std::sqrt(pca.eigenvalues()[0]));
    for (int b = 0; b < k; ++b) {
      double cov = 0.0;
      for (idx_t i = 0; i < n; ++i) cov += double(y[i * k + a]) * y[i * k + b];
      cov /= n;
      EXPECT_NEAR(cov, a == b ? pca.eigenvalues()[a] : 0.0, 1e-3 * pca.eigenvalues()[0]) << a << "," << b;
    }
  }
  // The leading variances follow the generating scales (100, 25, 6.25, ...) to sampling error.
  EXPECT_NEAR(pca.eigenvalues()[0], 100.0, 10.0);
  EXPECT_NEAR(pca.eigenvalues()[1], 25.0, 2.5);
}

TEST(Pca, FullRankRoundTripAndWhitening) {
  const int d = 16;
  const idx_t n = 3000;
  const std::vector<float> x = anisotropic(n, d, 2);
  PCA full(d, d);
  full.train(n, x.data());
  ASSERT_TRUE(full.reversible());
  std::vector<float> back(x.size());
  full.reverse(n, full.apply(n, x.data()).data(), back.data());
  EXPECT_LT(max_abs_diff(back, x), 1e-3);

  PcaParams wp;
  wp.whiten = true;
  PCA white(d, 4, wp);
  white.train(n, x.data());
  const std::vector<float> y = white.apply(n, x.data());
  for (int a = 0; a < 4; ++a) {
    double var = 0.0;
    for (idx_t i = 0; i < n; ++i) var += double(y[i * 4 + a]) * y[i * 4 + a];
    EXPECT_NEAR(var / n, 1.0, 1e-3) << a;
  }
  // Reverse of a reduction: the projection onto the kept subspace (idempotent).
  std::vector<float> proj(x.size()), proj2(x.size());
  white.reverse(n, y.data(), proj.data());
  white.reverse(n, white.apply(n, proj.data()).data(), proj2.data());
  EXPECT_LT(max_abs_diff(proj, proj2), 1e-3);
}

TEST(RandomRotation, OrthogonalSeededAndInvertible) {
  for (const int d : {1, 31, 33, 128}) {
    RandomRotation a(d, 5), b(d, 5), c(d, 6);
    EXPECT_TRUE(a.is_trained());
    EXPECT_LT(row_orthogonality_error(a.matrix(), d, d), 1e-5) << d;
    EXPECT_EQ(a.matrix(), b.matrix());
    if (d > 1) EXPECT_NE(a.matrix(), c.matrix());
    const std::vector<float> x = normal_matrix(50, d, 3);
    const std::vector<float> y = a.apply(50, x.data());
    for (int i = 0; i < 50; ++i) {
      double nx = 0.0, ny = 0.0;
      for (int j = 0; j < d; ++j) {
        nx += double(x[i * d + j]) * x[i * d + j];
        ny += double(y[i * d + j]) * y[i * d + j];
      }
      EXPECT_NEAR(std::sqrt(ny), std::sqrt(nx), 1e-4 * std::sqrt(nx));
    }
    std::vector<float> back(x.size());
    a.reverse(50, y.data(), back.data());
    EXPECT_LT(max_abs_diff(back, x), 1e-4);
  }
}

TEST(L2NormalizeTransform, UnitRowsZeroStaysZero) {
  const int d = 7;
  std::vector<float> x = normal_matrix(10, d, 4);
  std::fill(x.begin() + 3 * d, x.begin() + 4 * d, 0.0f);
  L2Normalize t(d);
  const std::vector<float> y = t.apply(10, x.data());
  for (int i = 0; i < 10; ++i) {
    double s = 0.0;
    for (int j = 0; j < d; ++j) s += double(y[i * d + j]) * y[i * d + j];
    EXPECT_NEAR(s, i == 3 ? 0.0 : 1.0, 1e-6) << i;
  }
  std::vector<float> out(x.size());
  EXPECT_FALSE(t.reversible());
  EXPECT_THROW(t.reverse(10, y.data(), out.data()), NotSupported);
}

TEST(Opq, RotationOrthogonalAndLowersQuantisationError) {
  const int d = 16, m = 4;
  const idx_t n = 4000;
  const std::vector<float> x = anisotropic(n, d, 7);
  OpqParams p;
  p.n_iter = 8;
  p.ksub = 16;
  p.kmeans_iter = 8;
  OPQ opq(d, m, p);
  opq.train(n, x.data());
  ASSERT_EQ(opq.objective().size(), 8u);
  EXPECT_LT(row_orthogonality_error(opq.matrix(), d, d), 1e-4);
  // The learnt rotation quantises better than the random start.
  EXPECT_LT(opq.objective().back(), 0.95 * opq.objective().front());
  std::vector<float> back(x.size());
  opq.reverse(n, opq.apply(n, x.data()).data(), back.data());
  EXPECT_LT(max_abs_diff(back, x), 1e-3);
}

TEST(IndexPreTransform, OrthogonalTransformKeepsNeighboursAndReconstructs) {
  const int d = 20;
  const idx_t n = 2000, nq = 25;
  const std::vector<float> x = anisotropic(n, d, 9);
  const std::vector<float> q = anisotropic(nq, d, 10);
  auto pca = std::make_shared<PCA>(d, d);
  IndexPreTransform index(pca, std::make_unique<IndexFlat>(d));
  EXPECT_FALSE(index.is_trained());
  index.train(n, x.data());
  index.add(n, x.data());
  EXPECT_EQ(index.ntotal(), n);
  IndexFlat plain(d);
  plain.add(n, x.data());
  const int k = 5;
  std::vector<float> d1(nq * k), d2(nq * k);
  std::vector<idx_t> l1(nq * k), l2(nq * k);
  index.search(nq, q.data(), k, d1.data(), l1.data());
  plain.search(nq, q.data(), k, d2.data(), l2.data());
  for (idx_t i = 0; i < nq * k; ++i) EXPECT_NEAR(d1[i], d2[i], 1e-3 * (1 + d2[i]));
  EXPECT_EQ(l1[0], l2[0]);
  std::vector<float> rec(d);
  index.reconstruct(17, rec.data());
  for (int j = 0; j < d; ++j) EXPECT_NEAR(rec[j], x[17 * d + j], 1e-3);
  // Ids continue after the largest ever added; duplicates are refused and change nothing.
  const std::vector<idx_t> ids = {5000, 5001};
  index.add_with_ids(2, x.data(), ids.data());
  index.add(1, x.data());
  EXPECT_EQ(index.ntotal(), n + 3);
  std::vector<float> rec2(d);
  index.reconstruct(5002, rec2.data());
  EXPECT_THROW(index.add_with_ids(2, x.data(), ids.data()), InvalidArgument);
  const std::vector<idx_t> twice = {7000, 7000};
  EXPECT_THROW(index.add_with_ids(2, x.data(), twice.data()), InvalidArgument);
  EXPECT_EQ(index.ntotal(), n + 3);
  EXPECT_EQ(index.remove_ids(2, ids.data()), 2);
}

TEST(Transforms, BadArgumentsAreRefused) {
  EXPECT_THROW(PCA(8, 9), InvalidArgument);
  PcaParams bad_eps;
  bad_eps.whiten_eps = -1.0f;
  EXPECT_THROW(PCA(8, 4, bad_eps), InvalidArgument);
  EXPECT_THROW(OPQ(10, 3), InvalidArgument);
  OpqParams few;
  few.max_train_points = 10;
  EXPECT_THROW(OPQ(8, 2, few), InvalidArgument);
  PCA pca(8, 4);
  const std::vector<float> x(80, 1.0f);
  std::vector<float> out(80);
  EXPECT_THROW(pca.apply(10, x.data(), out.data()), InvalidArgument);  // not trained
  EXPECT_THROW(pca.train(10, nullptr), InvalidArgument);
  OpqParams p;
  p.ksub = 64;
  OPQ opq(8, 2, p);
  EXPECT_THROW(opq.train(10, x.data()), InvalidArgument);  // n < ksub
  EXPECT_THROW(IndexPreTransform(std::make_shared<PCA>(8, 4), std::make_unique<IndexFlat>(8)),
               InvalidArgument);
  EXPECT_THROW(IndexPreTransform(nullptr, std::make_unique<IndexFlat>(8)), InvalidArgument);
  auto l2 = std::make_shared<L2Normalize>(8);
  IndexPreTransform idx(l2, std::make_unique<IndexFlat>(8));
  idx.add(10, normal_matrix(10, 8, 1).data());
  std::vector<float> rec(8);
  EXPECT_THROW(idx.reconstruct(0, rec.data()), NotSupported);
}

// Finite inputs that a transform maps past float32's range are refused with a message that names
// the transform's output, not the caller's queries.
TEST(Transforms, OverflowingOutputIsNamed) {
  // The first principal direction is about (1, 1) / sqrt(2): (a, a) maps to about a sqrt(2),
  // past float32's range for a = 3e38.
  PCA pca(2, 2);
  const std::vector<float> train = {1, 1, 2, 2, 3, 3, 4, 4, 1, 2, 2, 1};
  pca.train(6, train.data());
  const std::vector<float> big = {3.0e38f, 3.0e38f};
  std::vector<float> out(2);
  try {
    pca.apply(1, big.data(), out.data());
    FAIL() << "an overflowing output came back: " << out[0] << ", " << out[1];
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("transform's output"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace knnx
