// KMeans on the CPU: convergence, the objective, determinism for a seed and across thread
// counts, subsampling, empty clusters, spherical centroids, assign, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"

namespace knnx {
namespace {

// Restores the knobs a test changed.
class ConfigGuard {
 public:
  ConfigGuard() : saved_(config()) {}
  ~ConfigGuard() { set_config(saved_); }
  void threads(int n) {
    Config c = config();
    c.num_threads = n;
    set_config(c);
  }

 private:
  Config saved_;
};

Matrix<float> mixture(int dim, int clusters, idx_t n, float noise, std::uint64_t seed = 3) {
  MixtureSpec spec;
  spec.dim = dim;
  spec.n_clusters = clusters;
  spec.noise_stddev = noise;
  spec.seed = seed;
  return make_mixture_base(spec, n);
}

double l2_sq(const float* a, const float* b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j)
    s += (static_cast<double>(a[j]) - b[j]) * (static_cast<double>(a[j]) - b[j]);
  return s;
}

double dot(const float* a, const float* b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}

bool is_row_of(const float* v, const Matrix<float>& x) {
  for (idx_t i = 0; i < x.rows; ++i) {
    if (std::equal(v, v + x.cols, x.row(i))) return true;
  }
  return false;
}

KMeans trained(const Matrix<float>& x, int k, Metric metric, KMeansParams p) {
  KMeans km(static_cast<int>(x.cols), k, metric, p);
  km.train(x.rows, x.data.data());
  return km;
}

TEST(KMeans, FindsWellSeparatedClusters) {
  MixtureSpec spec;
  spec.dim = 16;
  spec.n_clusters = 8;
  spec.center_stddev = 10.0f;
  spec.noise_stddev = 0.05f;
  spec.seed = 11;
  const GaussianMixture gm(spec);
  const MixtureSample s = gm.sample(4000, kBaseStream);
  KMeansParams p;
  p.n_iter = 10;
  const KMeans km = trained(s.vectors, 8, Metric::L2, p);
  ASSERT_TRUE(km.is_trained());
  ASSERT_EQ(km.centroids().size(), 8u * 16u);
  // Every true centre has a centroid within a few noise widths of it.
  for (int c = 0; c < 8; ++c) {
    double best = std::numeric_limits<double>::infinity();
    for (int j = 0; j < 8; ++j)
      best = std::min(best, l2_sq(gm.centers().row(c), km.centroids().data() + j * 16, 16));
    EXPECT_LT(best, 0.01) << "true centre " << c;
  }
  // The final objective is the noise: about n * dim * noise^2.
  EXPECT_LT(km.objective().back(), 1.2 * 4000 * 16 * 0.05 * 0.05);
}

TEST(KMeans, ObjectiveNeverIncreasesForL2) {
  const Matrix<float> x = mixture(24, 40, 6000, 0.6f);
  for (const auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
    KMeansParams p;
    p.n_iter = 25;
    p.init = init;
    const KMeans km = trained(x, 64, Metric::L2, p);
    const std::vector<double>& obj = km.objective();
    ASSERT_EQ(obj.size(), 25u);
    for (std::size_t i = 1; i < obj.size(); ++i) {
      // Float rounding of the expanded distances: far below one part in 10^5.
      EXPECT_LE(obj[i], obj[i - 1] * (1.0 + 1e-5)) << "iteration " << i;
    }
    EXPECT_LT(obj.back(), obj.front());
  }
}

TEST(KMeans, ObjectiveIsTheSumOfAssignedDistances) {
  const Matrix<float> x = mixture(8, 10, 1500, 0.5f);
  KMeansParams p;
  p.n_iter = 0;  // seeds only: the centroids the next iteration would start from
  const KMeans seeds = trained(x, 12, Metric::L2, p);
  EXPECT_TRUE(seeds.objective().empty());
  std::vector<idx_t> labels(1500);
  std::vector<float> dist(1500);
  seeds.assign(1500, x.data.data(), labels.data(), dist.data());
  double expected = 0.0;
  for (float v : dist) expected += v;

  p.n_iter = 1;
  const KMeans one = trained(x, 12, Metric::L2, p);
  ASSERT_EQ(one.objective().size(), 1u);
  EXPECT_NEAR(one.objective()[0], expected, 1e-6 * expected);
}

TEST(KMeans, SameSeedSameResultOtherSeedOtherResult) {
  const Matrix<float> x = mixture(16, 30, 5000, 0.4f);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    KMeansParams p;
    p.n_iter = 8;
    const KMeans a = trained(x, 40, metric, p);
    const KMeans b = trained(x, 40, metric, p);
    EXPECT_EQ(a.centroids(), b.centroids());  // bit for bit
    EXPECT_EQ(a.objective(), b.objective());
    p.seed = 99;
    const KMeans c = trained(x, 40, metric, p);
    EXPECT_NE(a.centroids(), c.centroids());
  }
}

TEST(KMeans, SameResultOnOneAndTwoThreads) {
  ConfigGuard guard;
  // 9000 rows, 32 centroids, max 128 per centroid: a subsample of 4096 rows, and more than one
  // work block per thread everywhere.
  const Matrix<float> x = mixture(20, 25, 9000, 0.5f);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    for (const auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
      for (const int init_ppc : {0, 16}) {
        KMeansParams p;
        p.n_iter = 6;
        p.init = init;
        p.max_points_per_centroid = 128;
        p.init_points_per_centroid = init_ppc;
        p.spherical = metric == Metric::InnerProduct;
        guard.threads(1);
        const KMeans one = trained(x, 32, metric, p);
        guard.threads(2);
        const KMeans two = trained(x, 32, metric, p);
        EXPECT_EQ(one.n_train(), 4096);
        EXPECT_EQ(one.centroids(), two.centroids()) << to_string(metric);
        EXPECT_EQ(one.objective(), two.objective()) << to_string(metric);
      }
    }
  }
}

TEST(KMeans, ParallelSeedingGivesTheSameSeeds) {
  // Enough rows x dims (> 4M floats) for k-means++ to spread each pass over the threads.
  ConfigGuard guard;
  const Matrix<float> x = mixture(128, 50, 40000, 0.5f);
  KMeansParams p;
  p.n_iter = 1;
  p.max_points_per_centroid = 4096;
  p.init_points_per_centroid = 0;
  guard.threads(1);
  const KMeans one = trained(x, 32, Metric::L2, p);
  guard.threads(2);
  const KMeans two = trained(x, 32, Metric::L2, p);
  EXPECT_EQ(one.n_train(), 40000);
  EXPECT_EQ(one.centroids(), two.centroids());
  EXPECT_EQ(one.objective(), two.objective());
}

TEST(KMeans, SeedsAreTrainingRows) {
  const Matrix<float> x = mixture(6, 5, 300, 0.3f);
  for (const auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
    KMeansParams p;
    p.n_iter = 0;
    p.init = init;
    const KMeans km = trained(x, 20, Metric::L2, p);
    std::set<std::vector<float>> distinct;
    for (int c = 0; c < 20; ++c) {
      const float* v = km.centroids().data() + c * 6;
      EXPECT_TRUE(is_row_of(v, x)) << "centroid " << c;
      distinct.insert(std::vector<float>(v, v + 6));
    }
    EXPECT_EQ(distinct.size(), 20u);  // distinct rows for distinct data
  }
}

TEST(KMeans, SubsamplesLargeInputsAndWarnsAboutSmallOnes) {
  const Matrix<float> x = mixture(4, 5, 2000, 0.3f);
  KMeansParams p;
  p.n_iter = 2;
  p.max_points_per_centroid = 50;
  p.min_points_per_centroid = 10;
  const KMeans big = trained(x, 10, Metric::L2, p);
  EXPECT_EQ(big.n_train(), 500);  // 10 centroids x 50
  EXPECT_TRUE(big.warnings().empty());

  const KMeans small = trained(x, 300, Metric::L2, p);  // 2000 < 300 x 10
  EXPECT_EQ(small.n_train(), 2000);
  ASSERT_EQ(small.warnings().size(), 1u);
  EXPECT_NE(small.warnings()[0].find("min_points_per_centroid = 10"), std::string::npos)
      << small.warnings()[0];

  p.verbose = true;
  ::testing::internal::CaptureStderr();
  const KMeans loud = trained(x, 300, Metric::L2, p);
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("warning"), std::string::npos) << out;
  EXPECT_NE(out.find("iteration 2/2"), std::string::npos) << out;
}

TEST(KMeans, ProgressReportsEveryIteration) {
  const Matrix<float> x = mixture(8, 6, 800, 0.3f);
  std::vector<int> iters;
  std::vector<double> objectives, seconds;
  KMeansParams p;
  p.n_iter = 7;
  p.progress = [&](int it, double obj, double s) {
    iters.push_back(it);
    objectives.push_back(obj);
    seconds.push_back(s);
  };
  const KMeans km = trained(x, 9, Metric::L2, p);
  EXPECT_EQ(iters, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(objectives, km.objective());
  EXPECT_TRUE(std::is_sorted(seconds.begin(), seconds.end()));
  EXPECT_GE(seconds.front(), 0.0);
}

TEST(KMeans, DuplicateRowsLeaveSurplusCentroidsOnData) {
  // 5 distinct rows, each 10 times, and 8 centroids: 3 clusters must stay empty, and no split
  // can help (every cluster holds identical rows). Training still ends with every row on a
  // centroid equal to it and all centroids finite.
  const int d = 3;
  std::vector<float> x;
  for (int rep = 0; rep < 10; ++rep) {
    for (int v = 0; v < 5; ++v) {
      for (int j = 0; j < d; ++j) x.push_back(static_cast<float>(v * 3 + j));
    }
  }
  for (const auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
    KMeansParams p;
    p.n_iter = 5;
    p.init = init;
    KMeans km(d, 8, Metric::L2, p);
    km.train(50, x.data());
    for (float v : km.centroids()) EXPECT_TRUE(std::isfinite(v));
    std::vector<idx_t> labels(50);
    std::vector<float> dist(50);
    km.assign(50, x.data(), labels.data(), dist.data());
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(l2_sq(km.centroids().data() + labels[i] * d, x.data() + i * d, d), 0.0) << i;
    }
    if (init == KMeansParams::Init::KMeansPlusPlus) {
      // D² sampling takes every distinct row before any repeat.
      EXPECT_EQ(km.objective().front(), 0.0);
    }
  }
}

TEST(KMeans, EmptyClustersAreSplitFromTheLargest) {
  // 60 copies of the origin and two tight groups far from it. With seeds that are all copies
  // of the origin, the first assignment puts every row in one cluster and leaves the others
  // empty; splitting must then recover the three groups.
  const int d = 4;
  std::vector<float> x(static_cast<std::size_t>(100 * d), 0.0f);
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  for (int i = 60; i < 100; ++i) {
    const float centre = i < 80 ? 5.0f : -5.0f;
    for (int j = 0; j < d; ++j) x[static_cast<std::size_t>(i * d + j)] = centre + noise(rng);
  }
  KMeansParams p;
  p.init = KMeansParams::Init::Random;
  p.n_iter = 0;
  std::uint64_t seed = 0;
  for (std::uint64_t s = 1; s < 1000 && seed == 0; ++s) {  // a seed whose 3 seeds are the origin
    p.seed = s;
    KMeans probe(d, 3, Metric::L2, p);
    probe.train(100, x.data());
    if (std::all_of(probe.centroids().begin(), probe.centroids().end(),
                    [](float v) { return v == 0.0f; }))
      seed = s;
  }
  ASSERT_NE(seed, 0u);
  p.seed = seed;
  p.n_iter = 10;
  KMeans km(d, 3, Metric::L2, p);
  km.train(100, x.data());
  std::vector<idx_t> labels(100);
  km.assign(100, x.data(), labels.data());
  EXPECT_EQ(std::set<idx_t>(labels.begin(), labels.end()).size(), 3u);
  // The groups are recovered: what is left is the noise of the two tight groups.
  EXPECT_LT(km.objective().back(), 1e-3 * km.objective().front());
  EXPECT_LT(km.objective().back(), 40 * d * 0.01 * 0.01 * 2);
}

TEST(KMeans, AsManyCentroidsAsRows) {
  const Matrix<float> x = mixture(5, 3, 64, 0.5f);
  for (const auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
    KMeansParams p;
    p.n_iter = 3;
    p.init = init;
    const KMeans km = trained(x, 64, Metric::L2, p);
    for (double o : km.objective()) EXPECT_NEAR(o, 0.0, 1e-3);
    for (idx_t i = 0; i < 64; ++i) EXPECT_TRUE(is_row_of(km.centroids().data() + i * 5, x));
  }
}

TEST(KMeans, SphericalCentroidsHaveUnitNorm) {
  const Matrix<float> x = mixture(12, 15, 3000, 0.5f);
  for (const Metric metric : {Metric::InnerProduct, Metric::L2}) {
    KMeansParams p;
    p.n_iter = 12;
    p.spherical = true;
    const KMeans km = trained(x, 20, metric, p);
    for (int c = 0; c < 20; ++c) {
      const float* v = km.centroids().data() + c * 12;
      EXPECT_NEAR(dot(v, v, 12), 1.0, 1e-5) << "centroid " << c;
    }
    if (metric == Metric::InnerProduct) {
      // Spherical k-means maximises the summed dot products: non-decreasing.
      const std::vector<double>& obj = km.objective();
      for (std::size_t i = 1; i < obj.size(); ++i)
        EXPECT_GE(obj[i], obj[i - 1] * (1.0 - 1e-5)) << i;
    }
  }
  // Not spherical: centroids are plain means, not unit vectors.
  KMeansParams p;
  p.n_iter = 5;
  const KMeans plain = trained(x, 20, Metric::InnerProduct, p);
  double max_dev = 0.0;
  for (int c = 0; c < 20; ++c) {
    const float* v = plain.centroids().data() + c * 12;
    max_dev = std::max(max_dev, std::abs(dot(v, v, 12) - 1.0));
  }
  EXPECT_GT(max_dev, 0.1);
}

TEST(KMeans, AssignFindsTheNearestCentroid) {
  const Matrix<float> x = mixture(10, 12, 2000, 0.7f);
  const Matrix<float> q = mixture(10, 12, 300, 0.7f, 77);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    KMeansParams p;
    p.n_iter = 5;
    const KMeans km = trained(x, 25, metric, p);
    std::vector<idx_t> labels(300);
    std::vector<float> dist(300);
    km.assign(300, q.data.data(), labels.data(), dist.data());
    std::vector<idx_t> labels_only(300);
    km.assign(300, q.data.data(), labels_only.data());
    EXPECT_EQ(labels, labels_only);
    for (idx_t i = 0; i < 300; ++i) {
      double best = metric == Metric::L2 ? std::numeric_limits<double>::infinity()
                                         : -std::numeric_limits<double>::infinity();
      for (int c = 0; c < 25; ++c) {
        const float* v = km.centroids().data() + c * 10;
        const double s = metric == Metric::L2 ? l2_sq(q.row(i), v, 10) : dot(q.row(i), v, 10);
        best = metric == Metric::L2 ? std::min(best, s) : std::max(best, s);
      }
      const float* mine = km.centroids().data() + labels[static_cast<std::size_t>(i)] * 10;
      const double got = metric == Metric::L2 ? l2_sq(q.row(i), mine, 10) : dot(q.row(i), mine, 10);
      EXPECT_NEAR(got, best, 1e-4 * (1.0 + std::abs(best))) << "row " << i;
      EXPECT_NEAR(dist[static_cast<std::size_t>(i)], got, 1e-4 * (1.0 + std::abs(got)))
          << "row " << i;
    }
  }
}

TEST(KMeans, BadInput) {
  EXPECT_THROW(KMeans(0, 4), InvalidArgument);
  EXPECT_THROW(KMeans(kMaxDim + 1, 4), InvalidArgument);
  EXPECT_THROW(KMeans(4, 0), InvalidArgument);
  KMeansParams p;
  p.n_iter = -1;
  EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);
  p = {};
  p.max_points_per_centroid = 0;
  EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);
  p = {};
  p.min_points_per_centroid = -1;
  EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);
  p = {};
  p.init_points_per_centroid = -1;
  EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);
  p = {};
  p.init = static_cast<KMeansParams::Init>(7);
  EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);
  p = {};
  p.device = Device::cuda(0);
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(KMeans(4, 4, Metric::L2, p), NotSupported);
  } else if (cuda_device_count() == 0) {
    EXPECT_THROW(KMeans(4, 4, Metric::L2, p), Error);  // compiled, but no device
  } else {
    EXPECT_NO_THROW(KMeans(4, 4, Metric::L2, p));  // GPU k-means
    p.device = Device::cuda(cuda_device_count());
    EXPECT_THROW(KMeans(4, 4, Metric::L2, p), InvalidArgument);  // past the last device
  }

  KMeans km(3, 4);
  std::vector<float> x = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
  std::vector<idx_t> labels(5);
  try {
    km.train(3, x.data());
    ADD_FAILURE() << "n < k accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("3 training vectors cannot make 4 clusters"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(km.train(0, x.data()), InvalidArgument);
  EXPECT_THROW(km.train(5, nullptr), InvalidArgument);
  EXPECT_THROW(km.assign(5, x.data(), labels.data()), InvalidArgument);  // not trained
  std::vector<float> bad = x;
  bad[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(km.train(5, bad.data()), InvalidArgument);
  EXPECT_FALSE(km.is_trained());

  km.train(5, x.data());
  const std::vector<float> before = km.centroids();
  EXPECT_THROW(km.train(5, bad.data()), InvalidArgument);
  EXPECT_THROW(km.train(2, x.data()), InvalidArgument);
  EXPECT_EQ(km.centroids(), before);  // a refused train keeps the last result
  EXPECT_THROW(km.assign(5, bad.data(), labels.data()), InvalidArgument);
  EXPECT_THROW(km.assign(5, x.data(), nullptr), InvalidArgument);
  EXPECT_THROW(km.assign(0, x.data(), labels.data()), InvalidArgument);
  EXPECT_THROW(km.assign(5, nullptr, labels.data()), InvalidArgument);
}

}  // namespace
}  // namespace knnx
