// Tests for the portable random generator, the Gaussian mixture data generator and recall@k.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "knnx/error.hpp"
#include "knnx/recall.hpp"
#include "knnx/synthetic.hpp"

namespace knnx {
namespace {

using detail::Rng;

// Exact bit patterns: the generator promises the same values on every platform.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

template <typename Fn>
std::string invalid_argument_message(Fn&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InvalidArgument";
  return {};
}

// ---- core/random ----------------------------------------------------------------------------

TEST(PortableRandom, EngineIsTheStandardMt19937_64) {
  // [rand.predef]: the 10000th invocation of a default-constructed mt19937_64 yields this value.
  std::mt19937_64 engine;
  engine.discard(9999);
  EXPECT_EQ(engine(), 9981545732273789042ull);
  Rng rng(std::mt19937_64::default_seed);
  for (int i = 0; i < 9999; ++i) rng.next();
  EXPECT_EQ(rng.next(), 9981545732273789042ull);
}

TEST(PortableRandom, LogMatchesLibmClosely) {
  EXPECT_EQ(detail::portable_log(1.0), 0.0);
  Rng rng(1);
  for (int i = 0; i < 100000; ++i) {
    // Values spread over many binades, including the polar method's range (0, 1).
    const double x = rng.uniform() * std::ldexp(1.0, static_cast<int>(rng.bounded(80)) - 60);
    const double expected = std::log(x);
    EXPECT_NEAR(detail::portable_log(x), expected, 4e-16 * std::max(1.0, std::fabs(expected)))
        << "x = " << x;
  }
  for (double x : {std::numeric_limits<double>::min(), 0.5, 0.7071067811865476, 2.0, 1e300}) {
    EXPECT_NEAR(detail::portable_log(x), std::log(x), 4e-16 * std::fabs(std::log(x)) + 1e-300);
  }
}

TEST(PortableRandom, UniformIsInOpenUnitInterval) {
  Rng rng(2);
  double sum = 0.0;
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.uniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / kN, 0.5, 0.005);
}

TEST(PortableRandom, BoundedIsInRangeAndUniform) {
  Rng rng(3);
  EXPECT_EQ(rng.bounded(1), 0u);
  constexpr int kBins = 7;
  constexpr int kN = 70000;
  std::vector<int> counts(kBins, 0);
  for (int i = 0; i < kN; ++i) {
    const std::uint64_t v = rng.bounded(kBins);
    ASSERT_LT(v, static_cast<std::uint64_t>(kBins));
    ++counts[v];
  }
  // Expected 10000 per bin with standard deviation about 93.
  for (int c : counts) EXPECT_NEAR(c, kN / kBins, 500);
  // A bound close to 2^64 exercises the rejection path.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) EXPECT_LT(rng.bounded(big), big);
}

TEST(PortableRandom, NormalHasUnitMoments) {
  Rng rng(4);
  constexpr int kN = 400000;
  double sum = 0.0, sum_sq = 0.0;
  int within_one = 0;
  for (int i = 0; i < kN; ++i) {
    const double z = rng.normal();
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum_sq += z * z;
    within_one += std::fabs(z) < 1.0 ? 1 : 0;
  }
  const double mean = sum / kN;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / kN - mean * mean, 1.0, 0.015);
  EXPECT_NEAR(static_cast<double>(within_one) / kN, 0.682689, 0.005);
}

TEST(PortableRandom, NormalSequenceIsPinned) {
  // Regression pin of the exact bits; a platform where these differ breaks the portability
  // promise of knnx/synthetic.hpp.
  Rng rng(42);
  const double expected[] = {0x1.4b37d0b4daa8dp+0, 0x1.68f438d8aec28p-1, 0x1.978762f4a05e1p-2,
                             -0x1.25efc127557c6p-1};
  for (double e : expected) EXPECT_EQ(rng.normal(), e);
}

TEST(PortableRandom, DerivedSeedsDiffer) {
  EXPECT_NE(detail::derive_seed(1, 0, 0, 0), detail::derive_seed(2, 0, 0, 0));
  EXPECT_NE(detail::derive_seed(1, 0, 0, 0), detail::derive_seed(1, 1, 0, 0));
  EXPECT_NE(detail::derive_seed(1, 0, 0, 0), detail::derive_seed(1, 0, 1, 0));
  EXPECT_NE(detail::derive_seed(1, 0, 0, 0), detail::derive_seed(1, 0, 0, 1));
  EXPECT_NE(detail::derive_seed(1, 0, 1, 0), detail::derive_seed(1, 0, 0, 1));
}

// ---- GaussianMixture ------------------------------------------------------------------------

MixtureSpec small_spec(std::uint64_t seed = 7) {
  MixtureSpec spec;
  spec.dim = 24;
  spec.n_clusters = 12;
  spec.center_stddev = 1.0f;
  spec.noise_stddev = 0.1f;
  spec.seed = seed;
  return spec;
}

TEST(GaussianMixture, ShapesAndClusterRange) {
  const GaussianMixture mixture(small_spec());
  EXPECT_EQ(mixture.centers().rows, 12);
  EXPECT_EQ(mixture.centers().cols, 24);
  EXPECT_EQ(mixture.centers().data.size(), 12u * 24u);
  const MixtureSample s = mixture.sample(2500, kBaseStream);
  EXPECT_EQ(s.vectors.rows, 2500);
  EXPECT_EQ(s.vectors.cols, 24);
  ASSERT_EQ(s.vectors.data.size(), 2500u * 24u);
  ASSERT_EQ(s.clusters.size(), 2500u);
  for (std::int32_t c : s.clusters) {
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 12);
  }
  for (float v : s.vectors.data) ASSERT_TRUE(std::isfinite(v));

  const MixtureSample empty = mixture.sample(0, kBaseStream);
  EXPECT_EQ(empty.vectors.rows, 0);
  EXPECT_EQ(empty.vectors.cols, 24);
  EXPECT_TRUE(empty.vectors.data.empty());
  EXPECT_TRUE(empty.clusters.empty());

  const Matrix<float> base = make_mixture_base(small_spec(), 10);
  const Matrix<float> queries = make_mixture_queries(small_spec(), 3);
  EXPECT_EQ(base.rows, 10);
  EXPECT_EQ(base.cols, 24);
  EXPECT_EQ(queries.rows, 3);
  EXPECT_EQ(queries.cols, 24);
}

TEST(GaussianMixture, DeterministicForASeed) {
  const Matrix<float> a = make_mixture_base(small_spec(7), 3000);
  const Matrix<float> b = make_mixture_base(small_spec(7), 3000);
  EXPECT_TRUE(same_bits(a.data, b.data));
  const Matrix<float> c = make_mixture_base(small_spec(8), 3000);
  EXPECT_FALSE(same_bits(a.data, c.data));
  EXPECT_TRUE(same_bits(GaussianMixture(small_spec(7)).centers().data,
                        GaussianMixture(small_spec(7)).centers().data));
}

TEST(GaussianMixture, ValuesArePinned) {
  // Regression pin of exact bits, checked on every platform the tests run on.
  MixtureSpec spec;
  spec.dim = 4;
  spec.n_clusters = 3;
  spec.seed = 7;
  const Matrix<float> base = make_mixture_base(spec, 2);
  const std::vector<float> expected = {
      0x1.1d74bep-3f, 0x1.23bdccp+1f,  0x1.05210ap-2f,  0x1.372b64p-4f,
      0x1.598a2p-1f,  -0x1.10c852p+0f, -0x1.5b8db6p-2f, 0x1.3a4ac8p-3f};
  ASSERT_EQ(base.data.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(base.data[i], expected[i]) << "value " << i;
  }
}

TEST(GaussianMixture, IndependentOfThreadCount) {
  const GaussianMixture mixture(small_spec());
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const MixtureSample one = mixture.sample(5000, kBaseStream);
  omp_set_num_threads(4);
  const MixtureSample four = mixture.sample(5000, kBaseStream);
  omp_set_num_threads(saved);
  EXPECT_TRUE(same_bits(one.vectors.data, four.vectors.data));
  EXPECT_EQ(one.clusters, four.clusters);
}

TEST(GaussianMixture, SmallerSampleIsAPrefix) {
  const GaussianMixture mixture(small_spec());
  const MixtureSample big = mixture.sample(3000, kQueryStream);  // several generator blocks
  for (idx_t n : {idx_t{1}, idx_t{1023}, idx_t{1024}, idx_t{1025}, idx_t{2500}}) {
    const MixtureSample small = mixture.sample(n, kQueryStream);
    const std::vector<float> prefix(big.vectors.data.begin(),
                                    big.vectors.data.begin() + n * big.vectors.cols);
    EXPECT_TRUE(same_bits(small.vectors.data, prefix)) << "n = " << n;
    EXPECT_TRUE(std::equal(small.clusters.begin(), small.clusters.end(), big.clusters.begin()));
  }
}

TEST(GaussianMixture, QueriesComeFromTheSameCentresButAnotherStream) {
  const GaussianMixture mixture(small_spec());
  const MixtureSample base = mixture.sample(1000, kBaseStream);
  const MixtureSample queries = mixture.sample(1000, kQueryStream);
  EXPECT_FALSE(same_bits(base.vectors.data, queries.vectors.data));
  // Base vectors do not depend on how many queries are drawn, and the reverse.
  EXPECT_TRUE(same_bits(make_mixture_base(small_spec(), 1000).data, base.vectors.data));
  EXPECT_TRUE(same_bits(make_mixture_queries(small_spec(), 1000).data, queries.vectors.data));
  // Queries are near the same centres as the base.
  for (idx_t i = 0; i < queries.vectors.rows; ++i) {
    const float* c = mixture.centers().row(queries.clusters[static_cast<std::size_t>(i)]);
    double d2 = 0.0;
    for (idx_t j = 0; j < queries.vectors.cols; ++j) {
      const double diff = queries.vectors.row(i)[j] - c[j];
      d2 += diff * diff;
    }
    // Squared norm of 24-d N(0, 0.01 I) noise: mean 0.24, far below 3.
    ASSERT_LT(d2, 3.0) << "query " << i;
  }
}

TEST(GaussianMixture, ClusterStructure) {
  MixtureSpec spec;
  spec.dim = 32;
  spec.n_clusters = 20;
  spec.center_stddev = 2.0f;
  spec.noise_stddev = 0.3f;
  spec.seed = 11;
  const GaussianMixture mixture(spec);
  const idx_t n = 20000;
  const MixtureSample s = mixture.sample(n, kBaseStream);
  const Matrix<float>& centers = mixture.centers();

  // Centres spread with center_stddev per coordinate.
  double c_sum = 0.0, c_sq = 0.0;
  for (float v : centers.data) {
    c_sum += v;
    c_sq += static_cast<double>(v) * v;
  }
  const double c_count = static_cast<double>(centers.data.size());
  EXPECT_NEAR(std::sqrt(c_sq / c_count - (c_sum / c_count) * (c_sum / c_count)), 2.0, 0.15);

  // Residuals around the own centre have noise_stddev per coordinate, and every point is
  // nearest to its own centre (centres are ~16 apart, points ~1.7 from theirs).
  double r_sq = 0.0;
  std::vector<idx_t> counts(static_cast<std::size_t>(spec.n_clusters), 0);
  for (idx_t i = 0; i < n; ++i) {
    const std::int32_t own = s.clusters[static_cast<std::size_t>(i)];
    ++counts[static_cast<std::size_t>(own)];
    const float* x = s.vectors.row(i);
    int nearest = -1;
    double nearest_d2 = std::numeric_limits<double>::infinity();
    for (int c = 0; c < spec.n_clusters; ++c) {
      double d2 = 0.0;
      for (int j = 0; j < spec.dim; ++j) {
        const double diff = static_cast<double>(x[j]) - centers.row(c)[j];
        d2 += diff * diff;
      }
      if (c == own) r_sq += d2;
      if (d2 < nearest_d2) {
        nearest_d2 = d2;
        nearest = c;
      }
    }
    ASSERT_EQ(nearest, own) << "row " << i;
  }
  EXPECT_NEAR(std::sqrt(r_sq / static_cast<double>(n * spec.dim)), 0.3, 0.005);

  // Clusters are picked uniformly: 1000 points each, standard deviation about 31.
  for (idx_t c : counts) EXPECT_NEAR(static_cast<double>(c), 1000.0, 150.0);
}

TEST(GaussianMixture, ZeroNoisePutsPointsOnCentres) {
  MixtureSpec spec = small_spec();
  spec.noise_stddev = 0.0f;
  const GaussianMixture mixture(spec);
  const MixtureSample s = mixture.sample(100, kBaseStream);
  for (idx_t i = 0; i < s.vectors.rows; ++i) {
    const float* c = mixture.centers().row(s.clusters[static_cast<std::size_t>(i)]);
    for (idx_t j = 0; j < s.vectors.cols; ++j) ASSERT_EQ(s.vectors.row(i)[j], c[j]);
  }
}

TEST(GaussianMixture, RejectsBadSpecs) {
  auto with = [](auto change) {
    MixtureSpec spec = small_spec();
    change(spec);
    return spec;
  };
  EXPECT_NE(invalid_argument_message([&] { GaussianMixture(with([](MixtureSpec& s) { s.dim = 0; })); })
                .find("spec.dim"),
            std::string::npos);
  EXPECT_THROW(GaussianMixture(with([](MixtureSpec& s) { s.dim = kMaxDim + 1; })),
               InvalidArgument);
  EXPECT_NE(invalid_argument_message(
                [&] { GaussianMixture(with([](MixtureSpec& s) { s.n_clusters = 0; })); })
                .find("spec.n_clusters"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message(
                [&] { GaussianMixture(with([](MixtureSpec& s) { s.center_stddev = -1.0f; })); })
                .find("spec.center_stddev"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] {
              GaussianMixture(with([](MixtureSpec& s) {
                s.noise_stddev = std::numeric_limits<float>::quiet_NaN();
              }));
            }).find("spec.noise_stddev"),
            std::string::npos);
  EXPECT_THROW(GaussianMixture(with([](MixtureSpec& s) {
                 s.noise_stddev = std::numeric_limits<float>::infinity();
               })),
               InvalidArgument);
  const GaussianMixture mixture(small_spec());
  EXPECT_NE(invalid_argument_message([&] { mixture.sample(-1, kBaseStream); }).find("-1"),
            std::string::npos);
  EXPECT_THROW(make_mixture_base(with([](MixtureSpec& s) { s.dim = -3; }), 10), InvalidArgument);
}

// ---- recall@k -------------------------------------------------------------------------------

TEST(Recall, PerfectAndDisjoint) {
  const std::vector<idx_t> gt = {1, 2, 3, 4, 5, 6};  // 2 queries x 3
  EXPECT_DOUBLE_EQ(recall_at_k(2, gt.data(), 3, gt.data(), 3, 3), 1.0);
  const std::vector<idx_t> other = {7, 8, 9, 10, 11, 12};
  EXPECT_DOUBLE_EQ(recall_at_k(2, other.data(), 3, gt.data(), 3, 3), 0.0);
}

TEST(Recall, PartialOverlapIsAveragedOverQueries) {
  const std::vector<idx_t> gt = {0, 1, 2, 3, /**/ 10, 11, 12, 13};
  const std::vector<idx_t> found = {3, 1, 9, 0, /**/ 10, 20, 21, 22};  // 3/4 and 1/4
  EXPECT_DOUBLE_EQ(recall_at_k(2, found.data(), 4, gt.data(), 4, 4), 0.5);
  const std::vector<double> per_query = recall_at_k_per_query(2, found.data(), 4, gt.data(), 4, 4);
  ASSERT_EQ(per_query.size(), 2u);
  EXPECT_DOUBLE_EQ(per_query[0], 0.75);
  EXPECT_DOUBLE_EQ(per_query[1], 0.25);
}

TEST(Recall, OnlyTheFirstKOfEachSideCount) {
  // Ground truth with 5 neighbours, results with 4; recall@2 looks at two of each.
  const std::vector<idx_t> gt = {5, 6, 7, 8, 9};
  const std::vector<idx_t> found = {6, 7, 5, 8};
  EXPECT_DOUBLE_EQ(recall_at_k(1, found.data(), 4, gt.data(), 5, 2), 0.5);  // {6,7} vs {5,6}
  EXPECT_DOUBLE_EQ(recall_at_k(1, found.data(), 4, gt.data(), 5, 3), 1.0);  // {6,7,5} vs {5,6,7}
  EXPECT_DOUBLE_EQ(recall_at_k(1, found.data(), 4, gt.data(), 5, 4), 1.0);
}

TEST(Recall, MissingAndDuplicateLabels) {
  const std::vector<idx_t> gt = {1, 2, 3, 4};
  const std::vector<idx_t> with_missing = {1, 2, kNoLabel, kNoLabel};
  EXPECT_DOUBLE_EQ(recall_at_k(1, with_missing.data(), 4, gt.data(), 4, 4), 0.5);
  const std::vector<idx_t> duplicated = {1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(recall_at_k(1, duplicated.data(), 4, gt.data(), 4, 4), 0.25);
  const std::vector<idx_t> none = {kNoLabel, kNoLabel, kNoLabel, kNoLabel};
  EXPECT_DOUBLE_EQ(recall_at_k(1, none.data(), 4, gt.data(), 4, 4), 0.0);
}

TEST(Recall, ShortGroundTruthDividesByWhatExists) {
  // A database of 2 vectors searched with k = 4: the exact answer holds 2 labels and two -1s.
  const std::vector<idx_t> gt = {0, 1, kNoLabel, kNoLabel};
  const std::vector<idx_t> exact = {1, 0, kNoLabel, kNoLabel};
  EXPECT_DOUBLE_EQ(recall_at_k(1, exact.data(), 4, gt.data(), 4, 4), 1.0);
  const std::vector<idx_t> half = {1, kNoLabel, kNoLabel, kNoLabel};
  EXPECT_DOUBLE_EQ(recall_at_k(1, half.data(), 4, gt.data(), 4, 4), 0.5);
  const std::vector<idx_t> empty_gt = {kNoLabel, kNoLabel};
  const std::vector<idx_t> anything = {3, kNoLabel};
  EXPECT_DOUBLE_EQ(recall_at_k(1, anything.data(), 2, empty_gt.data(), 2, 2), 1.0);
}

TEST(Recall, MatrixOverload) {
  Matrix<idx_t> gt{3, 2, {0, 1, 2, 3, 4, 5}};
  Matrix<idx_t> found{2, 2, {1, 0, 2, 9}};
  EXPECT_DOUBLE_EQ(recall_at_k(found, gt, 2), 0.75);  // extra ground-truth rows are ignored
  EXPECT_DOUBLE_EQ(recall_at_k(found, gt, 1), 0.5);
  Matrix<idx_t> short_gt{1, 2, {0, 1}};
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(found, short_gt, 2); }).find("rows"),
            std::string::npos);
  Matrix<idx_t> inconsistent{2, 2, {1, 0, 2}};
  EXPECT_THROW(recall_at_k(inconsistent, gt, 2), InvalidArgument);
}

TEST(Recall, RejectsBadArguments) {
  const std::vector<idx_t> a = {0, 1, 2, 3};
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(0, a.data(), 2, a.data(), 2, 2); })
                .find("nq"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(2, a.data(), 2, a.data(), 2, 0); })
                .find("k must be"),
            std::string::npos);
  EXPECT_THROW(recall_at_k(2, a.data(), 2, a.data(), 2, 3), InvalidArgument);
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(1, a.data(), 4, a.data(), 2, 3); })
                .find("ground truth"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(1, nullptr, 2, a.data(), 2, 2); })
                .find("labels"),
            std::string::npos);
  EXPECT_NE(invalid_argument_message([&] { recall_at_k(1, a.data(), 2, nullptr, 2, 2); })
                .find("ground_truth"),
            std::string::npos);
}

}  // namespace
}  // namespace knnx
