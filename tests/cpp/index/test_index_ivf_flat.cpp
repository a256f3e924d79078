// IndexIVFFlat on the CPU: exactness at full probe against IndexFlat, recall against n_probe,
// training and centroids, ids, removal, reconstruction, reset, n_probe rules, and the Index
// contract for bad input (every refused call leaves the index as it was).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "knnx/knnx.hpp"
#include "throws_naming.hpp"

namespace knnx {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

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

using test::throws_naming;

struct Data {
  Matrix<float> base;
  Matrix<float> queries;
};

Data clustered(int dim, int clusters, idx_t n, idx_t nq, float noise, std::uint64_t seed = 21) {
  MixtureSpec spec;
  spec.dim = dim;
  spec.n_clusters = clusters;
  spec.noise_stddev = noise;
  spec.seed = seed;
  return {make_mixture_base(spec, n), make_mixture_queries(spec, nq)};
}

struct Result {
  std::vector<float> distances;
  std::vector<idx_t> labels;
  bool operator==(const Result&) const = default;
};

Result search(const Index& index, const Matrix<float>& q, int k, idx_t nq = -1) {
  if (nq < 0) nq = q.rows;
  Result r{std::vector<float>(static_cast<std::size_t>(nq * k)),
           std::vector<idx_t>(static_cast<std::size_t>(nq * k))};
  index.search(nq, q.data.data(), k, r.distances.data(), r.labels.data());
  return r;
}

double exact_distance(Metric metric, const float* a, const float* b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    s += metric == Metric::L2 ? (static_cast<double>(a[j]) - b[j]) * (static_cast<double>(a[j]) - b[j])
                              : static_cast<double>(a[j]) * b[j];
  }
  return s;
}

// The same answer up to the order of near-ties: rank by rank the distances agree within tol,
// and every label whose distance is clearly inside the k-th distance appears in both.
void expect_same_up_to_ties(const Result& want, const Result& got, idx_t nq, int k, Metric metric,
                            float tol) {
  for (idx_t q = 0; q < nq; ++q) {
    const float* wd = want.distances.data() + q * k;
    const float* gd = got.distances.data() + q * k;
    const idx_t* wl = want.labels.data() + q * k;
    const idx_t* gl = got.labels.data() + q * k;
    for (int r = 0; r < k; ++r) {
      if (std::isinf(wd[r])) {
        EXPECT_EQ(gd[r], wd[r]) << "query " << q << " rank " << r;
        EXPECT_EQ(gl[r], -1) << "query " << q << " rank " << r;
      } else {
        EXPECT_NEAR(gd[r], wd[r], tol) << "query " << q << " rank " << r;
      }
    }
    const float kth = wd[k - 1];
    const std::set<idx_t> got_set(gl, gl + k), want_set(wl, wl + k);
    for (int r = 0; r < k; ++r) {
      const bool clear = std::isinf(kth) || (metric == Metric::L2 ? wd[r] < kth - tol : wd[r] > kth + tol);
      if (clear && wl[r] >= 0) EXPECT_TRUE(got_set.count(wl[r])) << "query " << q << " lost id " << wl[r];
      const bool gclear = std::isinf(kth) || (metric == Metric::L2 ? gd[r] < kth - tol : gd[r] > kth + tol);
      if (gclear && gl[r] >= 0) EXPECT_TRUE(want_set.count(gl[r])) << "query " << q << " extra id " << gl[r];
    }
  }
}

std::unique_ptr<IndexIVFFlat> trained_ivf(const Matrix<float>& x, int n_lists, Metric metric) {
  auto index = std::make_unique<IndexIVFFlat>(static_cast<int>(x.cols), n_lists, metric);
  KMeansParams p = index->kmeans_params();
  p.n_iter = 6;
  index->set_kmeans_params(p);
  index->train(x.rows, x.data.data());
  return index;
}

class IvfMetric : public ::testing::TestWithParam<Metric> {};

TEST_P(IvfMetric, FullProbeEqualsIndexFlat) {
  const Metric metric = GetParam();
  const Data data = clustered(32, 30, 4000, 300, 0.6f);
  auto ivf_owner = trained_ivf(data.base, 24, metric);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(data.base.rows, data.base.data.data());
  IndexFlat flat(32, metric);
  flat.add(data.base.rows, data.base.data.data());
  ivf.set_n_probe(24);
  // nq = 1 and 5 take the direct product kernel per list, 300 the sgemm; k = 3000 > ... is out
  // of range, so the padding case is tested separately.
  for (const idx_t nq : {idx_t{1}, idx_t{5}, idx_t{300}}) {
    for (const int k : {1, 10, 100}) {
      const Result want = search(flat, data.queries, k, nq);
      const Result got = search(ivf, data.queries, k, nq);
      expect_same_up_to_ties(want, got, nq, k, metric, 2e-3f);
    }
  }
}

TEST_P(IvfMetric, FewerVectorsThanKArePadded) {
  const Metric metric = GetParam();
  const Data data = clustered(8, 4, 200, 3, 0.5f);
  auto ivf_owner = trained_ivf(data.base, 6, metric);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(20, data.base.data.data());
  ivf.set_n_probe(6);
  IndexFlat flat(8, metric);
  flat.add(20, data.base.data.data());
  const Result want = search(flat, data.queries, 50);
  const Result got = search(ivf, data.queries, 50);
  expect_same_up_to_ties(want, got, 3, 50, metric, 1e-4f);
  for (idx_t q = 0; q < 3; ++q) {
    for (int r = 20; r < 50; ++r) {
      EXPECT_EQ(got.labels[static_cast<std::size_t>(q * 50 + r)], -1);
      EXPECT_EQ(got.distances[static_cast<std::size_t>(q * 50 + r)], empty_distance(metric));
    }
  }
}

TEST_P(IvfMetric, RecallGrowsWithNProbe) {
  const Metric metric = GetParam();
  const Data data = clustered(24, 200, 20000, 200, 0.8f, 5);
  auto ivf_owner = trained_ivf(data.base, 64, metric);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(data.base.rows, data.base.data.data());
  IndexFlat flat(24, metric);
  flat.add(data.base.rows, data.base.data.data());
  const Result truth = search(flat, data.queries, 10);
  double last = 0.0;
  std::map<int, double> recall;
  for (const int n_probe : {1, 2, 4, 8, 16, 32, 64}) {
    ivf.set_n_probe(n_probe);
    const Result r = search(ivf, data.queries, 10);
    recall[n_probe] = recall_at_k(200, r.labels.data(), 10, truth.labels.data(), 10, 10);
    // Scanning a superset of lists can only keep or improve each query's top 10.
    EXPECT_GE(recall[n_probe], last) << "n_probe " << n_probe;
    last = recall[n_probe];
  }
  EXPECT_LT(recall[1], 0.95);  // one list of 64 misses neighbours...
  EXPECT_GT(recall[1], 0.2);   // ...but clustered data keeps many in the nearest one
  EXPECT_GT(recall[16], 0.95);
  EXPECT_GE(recall[64], 0.999);  // every list: exact, ties aside
}

TEST_P(IvfMetric, VectorsGoToTheListOfTheirNearestCentroid) {
  const Metric metric = GetParam();
  const Data data = clustered(16, 10, 1500, 1, 0.5f);
  auto ivf_owner = trained_ivf(data.base, 12, metric);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(data.base.rows, data.base.data.data());
  const std::vector<float> c = ivf.centroids();
  idx_t total = 0;
  for (int l = 0; l < 12; ++l) {
    const std::vector<idx_t> ids = ivf.list_ids(l);
    const std::vector<float> vecs = ivf.list_vectors(l);
    ASSERT_EQ(vecs.size(), ids.size() * 16);
    EXPECT_EQ(static_cast<idx_t>(ids.size()), ivf.list_sizes()[static_cast<std::size_t>(l)]);
    total += static_cast<idx_t>(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_TRUE(std::equal(vecs.begin() + static_cast<std::ptrdiff_t>(i * 16),
                             vecs.begin() + static_cast<std::ptrdiff_t>((i + 1) * 16),
                             data.base.row(ids[i])));
      const double mine = exact_distance(metric, data.base.row(ids[i]), c.data() + l * 16, 16);
      for (int o = 0; o < 12; ++o) {
        const double other = exact_distance(metric, data.base.row(ids[i]), c.data() + o * 16, 16);
        if (metric == Metric::L2) {
          EXPECT_LE(mine, other + 1e-3) << "id " << ids[i];
        } else {
          EXPECT_GE(mine, other - 1e-3) << "id " << ids[i];
        }
      }
    }
    // Insertion order within a list.
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  }
  EXPECT_EQ(total, 1500);
}

TEST_P(IvfMetric, SameResultsOnOneAndTwoThreads) {
  ConfigGuard guard;
  const Metric metric = GetParam();
  const Data data = clustered(16, 40, 6000, 100, 0.7f);
  guard.threads(1);
  auto one_owner = trained_ivf(data.base, 32, metric);
  IndexIVFFlat& one = *one_owner;
  one.add(data.base.rows, data.base.data.data());
  one.set_n_probe(5);
  const Result r1 = search(one, data.queries, 20);
  guard.threads(2);
  auto two_owner = trained_ivf(data.base, 32, metric);
  IndexIVFFlat& two = *two_owner;
  EXPECT_EQ(one.centroids(), two.centroids());
  two.add(data.base.rows, data.base.data.data());
  two.set_n_probe(5);
  EXPECT_EQ(search(two, data.queries, 20), r1);
  EXPECT_EQ(search(one, data.queries, 20), r1);
}

INSTANTIATE_TEST_SUITE_P(Metrics, IvfMetric, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

TEST(IndexIVFFlat, LongListsAndManyQueriesPerList) {
  // 2 lists of ~5000 vectors and 600 queries: lists span several row chunks and each list has
  // more queries than one query group.
  const Data data = clustered(8, 2, 10000, 600, 1.0f);
  auto ivf_owner = trained_ivf(data.base, 2, Metric::L2);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(data.base.rows, data.base.data.data());
  ivf.set_n_probe(2);
  IndexFlat flat(8);
  flat.add(data.base.rows, data.base.data.data());
  for (const int k : {1, 32}) {
    expect_same_up_to_ties(search(flat, data.queries, k), search(ivf, data.queries, k), 600, k,
                           Metric::L2, 1e-3f);
  }
}

TEST(IndexIVFFlat, TrainingAndCentroids) {
  const Data data = clustered(8, 5, 500, 1, 0.5f);
  IndexIVFFlat ivf(8, 10);
  EXPECT_FALSE(ivf.is_trained());
  EXPECT_EQ(ivf.n_lists(), 10);
  EXPECT_EQ(ivf.centroids(), std::vector<float>(80, 0.0f));
  EXPECT_EQ(ivf.kmeans_params().n_iter, 10);  // FAISS's IVF default
  EXPECT_FALSE(ivf.kmeans_params().spherical);

  // train() is KMeans with the index's parameters.
  KMeansParams p = ivf.kmeans_params();
  p.seed = 77;
  ivf.set_kmeans_params(p);
  ivf.train(500, data.base.data.data());
  EXPECT_TRUE(ivf.is_trained());
  KMeans km(8, 10, Metric::L2, p);
  km.train(500, data.base.data.data());
  EXPECT_EQ(ivf.centroids(), km.centroids());

  // Retraining an empty index replaces the centroids; with vectors it is refused.
  p.seed = 78;
  ivf.set_kmeans_params(p);
  ivf.train(500, data.base.data.data());
  EXPECT_NE(ivf.centroids(), km.centroids());
  ivf.add(100, data.base.data.data());
  const std::vector<float> c = ivf.centroids();
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.train(500, data.base.data.data()); },
                                             {"train", "100 vectors", "reset()"}));
  EXPECT_EQ(ivf.centroids(), c);
  EXPECT_EQ(ivf.ntotal(), 100);

  IndexIVFFlat fresh(8, 10);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { fresh.train(9, data.base.data.data()); },
                                             {"n must be >= n_lists", "9 training vectors", "10 lists"}));
  EXPECT_FALSE(fresh.is_trained());
  p.max_points_per_centroid = 0;
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { fresh.set_kmeans_params(p); },
                                             {"max_points_per_centroid", "got 0"}));
  EXPECT_EQ(fresh.kmeans_params().max_points_per_centroid, 256);
}

TEST(IndexIVFFlat, InnerProductTrainsPlainKMeansUnlessSpherical) {
  const Data data = clustered(12, 8, 800, 1, 0.4f);
  auto plain_owner = trained_ivf(data.base, 8, Metric::InnerProduct);
  IndexIVFFlat& plain = *plain_owner;
  IndexIVFFlat sph(12, 8, Metric::InnerProduct);
  KMeansParams p = sph.kmeans_params();
  p.spherical = true;
  sph.set_kmeans_params(p);
  sph.train(data.base.rows, data.base.data.data());
  double max_dev_plain = 0.0, max_dev_sph = 0.0;
  const std::vector<float> cp = plain.centroids(), cs = sph.centroids();
  for (int l = 0; l < 8; ++l) {
    max_dev_plain = std::max(max_dev_plain, std::abs(exact_distance(Metric::InnerProduct, cp.data() + l * 12, cp.data() + l * 12, 12) - 1.0));
    max_dev_sph = std::max(max_dev_sph, std::abs(exact_distance(Metric::InnerProduct, cs.data() + l * 12, cs.data() + l * 12, 12) - 1.0));
  }
  EXPECT_GT(max_dev_plain, 0.1);
  EXPECT_LT(max_dev_sph, 1e-5);
}

TEST(IndexIVFFlat, SetCentroids) {
  const Data data = clustered(4, 3, 300, 10, 0.3f);
  std::vector<float> c(3 * 4);
  std::copy_n(data.base.data.begin(), 12, c.begin());
  IndexIVFFlat a(4, 3), b(4, 3);
  a.set_centroids(c.data());
  b.set_centroids(c.data());
  EXPECT_TRUE(a.is_trained());
  EXPECT_EQ(a.centroids(), c);
  a.add(300, data.base.data.data());
  b.add(300, data.base.data.data());
  EXPECT_EQ(a.list_sizes(), b.list_sizes());
  // The first three vectors are the centroids: each lands in its own list.
  for (int l = 0; l < 3; ++l) EXPECT_EQ(a.list_ids(l).front(), l);

  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { a.set_centroids(c.data()); },
                                             {"set_centroids", "300 vectors", "reset()"}));
  a.reset();
  EXPECT_NO_THROW(a.set_centroids(c.data()));
  IndexIVFFlat fresh(4, 3);
  std::vector<float> bad = c;
  bad[5] = kNaN;
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { fresh.set_centroids(bad.data()); },
                                             {"centroids", "row 1", "column 1"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { fresh.set_centroids(nullptr); },
                                             {"centroids must not be null"}));
  EXPECT_FALSE(fresh.is_trained());
}

TEST(IndexIVFFlat, NProbeRules) {
  IndexIVFFlat ivf(4, 16);
  EXPECT_EQ(ivf.n_probe(), 1);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.set_n_probe(0); }, {"n_probe", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.set_n_probe(-3); }, {"n_probe", "got -3"}));
  EXPECT_EQ(ivf.n_probe(), 1);
  ivf.set_n_probe(7);
  EXPECT_EQ(ivf.n_probe(), 7);
  ivf.set_n_probe(16);
  EXPECT_EQ(ivf.n_probe(), 16);
  ivf.set_n_probe(17);
  EXPECT_EQ(ivf.n_probe(), 16);  // clamped
  ivf.set_n_probe(std::numeric_limits<int>::max());
  EXPECT_EQ(ivf.n_probe(), 16);
}

TEST(IndexIVFFlat, UntrainedIndexRefusesAddAndSearch) {
  IndexIVFFlat ivf(4, 2);
  const std::vector<float> x(8, 1.0f);
  const std::vector<idx_t> ids = {5, 6};
  std::vector<float> d(2);
  std::vector<idx_t> l(2);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.add(2, x.data()); }, {"trained", "add"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.add_with_ids(2, x.data(), ids.data()); },
                                             {"trained", "add_with_ids"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.search(1, x.data(), 2, d.data(), l.data()); },
                                             {"trained", "search"}));
  EXPECT_EQ(ivf.ntotal(), 0);
}

TEST(IndexIVFFlat, ConstructorArguments) {
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexIVFFlat i(8, 0); }, {"n_lists", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexIVFFlat i(8, -2); }, {"n_lists", "got -2"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexIVFFlat i(0, 4); }, {"dim", "got 0"}));
  if (!cuda_backend_compiled()) {
    EXPECT_TRUE(throws_naming<NotSupported>([] { IndexIVFFlat i(8, 4, Metric::L2, Device::cuda(0)); },
                                            {"cuda:0"}));
  }
  EXPECT_TRUE(throws_naming<Error>([] { IndexIVFFlat i(8, 4, Metric::L2, Device::cuda(1000)); },
                                   {"cuda:1000"}));
}

TEST(IndexIVFFlat, IdsRemovalReconstructionAndReset) {
  const Data data = clustered(6, 4, 400, 4, 0.5f);
  auto ivf_owner = trained_ivf(data.base, 5, Metric::L2);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.set_n_probe(5);
  ivf.add(100, data.base.data.data());  // ids 0..99
  const std::vector<idx_t> custom = {1000, 500, 2000};
  ivf.add_with_ids(3, data.base.row(100), custom.data());
  ivf.add(2, data.base.row(103));  // one past the largest id ever held: 2001, 2002
  EXPECT_EQ(ivf.ntotal(), 105);

  std::vector<float> out(6);
  ivf.reconstruct(2002, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.base.row(104)));
  ivf.reconstruct(500, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.base.row(101)));
  ivf.reconstruct(37, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.base.row(37)));

  // A vector finds itself first (distance 0), under its id.
  std::vector<float> d(1);
  std::vector<idx_t> l(1);
  ivf.search(1, data.base.row(102), 1, d.data(), l.data());
  EXPECT_EQ(l[0], 2000);
  EXPECT_NEAR(d[0], 0.0f, 1e-4f);

  // Removal: absent and repeated ids are ignored; removed ids vanish from lists and results.
  const std::vector<idx_t> gone = {2000, 5, 5, 77777, -4, 99};
  EXPECT_EQ(ivf.remove_ids(6, gone.data()), 3);
  EXPECT_EQ(ivf.ntotal(), 102);
  EXPECT_EQ(ivf.remove_ids(6, gone.data()), 0);
  ivf.search(1, data.base.row(102), 1, d.data(), l.data());
  EXPECT_NE(l[0], 2000);
  std::set<idx_t> stored;
  for (int list = 0; list < 5; ++list) {
    for (idx_t id : ivf.list_ids(list)) stored.insert(id);
  }
  EXPECT_EQ(stored.size(), 102u);
  EXPECT_FALSE(stored.count(5));
  EXPECT_FALSE(stored.count(99));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { ivf.reconstruct(5, out.data()); },
                                             {"id 5", "not stored"}));
  // Removed ids are free for add_with_ids; add() still numbers past the largest ever held.
  const idx_t five = 5;
  ivf.add_with_ids(1, data.base.row(200), &five);
  ivf.add(1, data.base.row(201));
  ivf.reconstruct(2003, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.base.row(201)));

  // Reset empties the lists, keeps the centroids, and numbers ids from 0 again.
  const std::vector<float> c = ivf.centroids();
  ivf.reset();
  EXPECT_EQ(ivf.ntotal(), 0);
  EXPECT_TRUE(ivf.is_trained());
  EXPECT_EQ(ivf.centroids(), c);
  EXPECT_EQ(ivf.list_sizes(), std::vector<idx_t>(5, 0));
  EXPECT_EQ(ivf.imbalance_factor(), 0.0);
  ivf.add(3, data.base.data.data());
  std::set<idx_t> fresh;
  for (int list = 0; list < 5; ++list) {
    for (idx_t id : ivf.list_ids(list)) fresh.insert(id);
  }
  EXPECT_EQ(fresh, (std::set<idx_t>{0, 1, 2}));
}

TEST(IndexIVFFlat, SearchingAnEmptyTrainedIndexPads) {
  const Data data = clustered(4, 2, 50, 3, 0.5f);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    auto ivf_owner = trained_ivf(data.base, 3, metric);
    IndexIVFFlat& ivf = *ivf_owner;
    ivf.set_n_probe(3);
    const Result r = search(ivf, data.queries, 5);
    EXPECT_EQ(r.labels, std::vector<idx_t>(15, -1));
    EXPECT_EQ(r.distances, std::vector<float>(15, empty_distance(metric)));
  }
}

TEST(IndexIVFFlat, RemovingTheNewestIdsKeepsNumbering) {
  const Data data = clustered(4, 2, 50, 1, 0.5f);
  auto ivf_owner = trained_ivf(data.base, 2, Metric::L2);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(10, data.base.data.data());
  const std::vector<idx_t> tail = {8, 9};
  EXPECT_EQ(ivf.remove_ids(2, tail.data()), 2);
  const std::vector<idx_t> middle = {3};
  EXPECT_EQ(ivf.remove_ids(1, middle.data()), 1);
  ivf.add(1, data.base.row(20));  // id 10: ids are never reused by add()
  std::set<idx_t> ids;
  for (int l = 0; l < 2; ++l) {
    for (idx_t id : ivf.list_ids(l)) ids.insert(id);
  }
  EXPECT_EQ(ids, (std::set<idx_t>{0, 1, 2, 4, 5, 6, 7, 10}));
  const std::vector<idx_t> all(ids.begin(), ids.end());
  EXPECT_EQ(ivf.remove_ids(static_cast<idx_t>(all.size()), all.data()), 8);
  EXPECT_EQ(ivf.ntotal(), 0);
  const idx_t three = 3;
  EXPECT_NO_THROW(ivf.add_with_ids(1, data.base.row(0), &three));
}

TEST(IndexIVFFlat, ImbalanceFactor) {
  // Centroids far apart on one axis; all vectors near the first.
  IndexIVFFlat ivf(2, 4);
  const std::vector<float> c = {0, 0, 100, 0, 200, 0, 300, 0};
  ivf.set_centroids(c.data());
  std::vector<float> x = {0, 1, 1, 0, 0, 2, 2, 0};
  ivf.add(4, x.data());
  EXPECT_EQ(ivf.list_sizes(), (std::vector<idx_t>{4, 0, 0, 0}));
  EXPECT_DOUBLE_EQ(ivf.imbalance_factor(), 4.0);  // n_lists when one list holds everything
  const std::vector<float> y = {100, 1, 200, 1, 300, 1};
  ivf.add(3, y.data());
  // sizes 4,1,1,1: 4 * (16 + 3) / 49
  EXPECT_DOUBLE_EQ(ivf.imbalance_factor(), 4.0 * 19.0 / 49.0);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { (void)ivf.list_ids(4); }, {"list", "got 4"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { (void)ivf.list_vectors(-1); }, {"list", "got -1"}));
}

TEST(IndexIVFFlat, ConcurrentSearchesAgree) {
  const Data data = clustered(16, 20, 5000, 64, 0.7f);
  auto ivf_owner = trained_ivf(data.base, 16, Metric::L2);
  IndexIVFFlat& ivf = *ivf_owner;
  ivf.add(data.base.rows, data.base.data.data());
  ivf.set_n_probe(4);
  const Result want = search(ivf, data.queries, 10);
  std::vector<Result> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { got[static_cast<std::size_t>(t)] = search(ivf, data.queries, 10); });
  }
  for (std::thread& t : threads) t.join();
  for (const Result& r : got) EXPECT_EQ(r, want);
}

// Everything observable about an IVF index.
struct Snapshot {
  idx_t ntotal;
  bool trained;
  std::vector<float> centroids;
  std::vector<std::vector<idx_t>> ids;
  std::vector<std::vector<float>> vectors;
  Result answer;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const IndexIVFFlat& index, const Matrix<float>& q) {
  Snapshot s{index.ntotal(), index.is_trained(), index.centroids(), {}, {}, {}};
  for (int l = 0; l < index.n_lists(); ++l) {
    s.ids.push_back(index.list_ids(l));
    s.vectors.push_back(index.list_vectors(l));
  }
  if (index.is_trained()) s.answer = search(index, q, 7);
  return s;
}

class IvfBadInput : public ::testing::TestWithParam<Metric> {
 protected:
  static constexpr int kDim = 6;
  void SetUp() override {
    data_ = clustered(kDim, 3, 60, 3, 0.5f);
    index_ = trained_ivf(data_.base, 4, GetParam());
    index_->set_n_probe(2);
    index_->add(10, data_.base.data.data());  // ids 0..9
    good_.assign(data_.base.row(20), data_.base.row(23));  // 3 finite vectors
    before_ = snapshot(*index_, data_.queries);
  }
  void TearDown() override { EXPECT_TRUE(snapshot(*index_, data_.queries) == before_) << "index changed"; }

  Data data_;
  std::unique_ptr<IndexIVFFlat> index_;
  std::vector<float> good_;
  Snapshot before_;
};

TEST_P(IvfBadInput, CountsAndNullPointers) {
  IndexIVFFlat& index = *index_;
  float dist[6];
  idx_t lab[6];
  const std::vector<idx_t> ids = {100, 101, 102};
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(0, good_.data()); }, {"n ", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(-5, good_.data()); }, {"n ", "got -5"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(0, good_.data(), ids.data()); }, {"n ", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(0, good_.data()); }, {"n ", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(0, good_.data(), 1, dist, lab); }, {"nq", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.remove_ids(-1, ids.data()); }, {"n ", "got -1"}));
  EXPECT_EQ(index.remove_ids(0, nullptr), 0);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(3, nullptr); }, {"x must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(3, nullptr); }, {"x must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(3, nullptr, ids.data()); }, {"x must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(3, good_.data(), nullptr); }, {"ids must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(3, nullptr, 2, dist, lab); }, {"queries must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(3, good_.data(), 2, nullptr, lab); }, {"distances must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(3, good_.data(), 2, dist, nullptr); }, {"labels must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.reconstruct(0, nullptr); }, {"out must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.remove_ids(2, nullptr); }, {"ids must not be null"}));
}

TEST_P(IvfBadInput, KOutOfRange) {
  const IndexIVFFlat& index = *index_;
  std::vector<float> dist(static_cast<std::size_t>(kMaxK + 1));
  std::vector<idx_t> lab(static_cast<std::size_t>(kMaxK + 1));
  for (const int k : {0, -1, kMaxK + 1}) {
    EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(1, good_.data(), k, dist.data(), lab.data()); },
                                               {"k must be in [1, " + std::to_string(kMaxK) + "]", "got " + std::to_string(k)}));
  }
  EXPECT_NO_THROW(index.search(1, good_.data(), kMaxK, dist.data(), lab.data()));
  EXPECT_EQ(lab[10], -1);  // 10 vectors stored
}

TEST_P(IvfBadInput, NonFiniteInputIsRefusedAndNothingChanges) {
  IndexIVFFlat& index = *index_;
  const std::vector<idx_t> ids = {200, 201, 202};
  for (const float bad : {kNaN, kInf, -kInf}) {
    for (const std::size_t pos : {std::size_t{0}, std::size_t{kDim + 3}, good_.size() - 1}) {
      std::vector<float> x = good_;
      x[pos] = bad;
      const std::string row = "row " + std::to_string(pos / kDim);
      const std::string col = "column " + std::to_string(pos % kDim);
      EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(3, x.data()); }, {"x ", row, col}));
      EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(3, x.data(), ids.data()); }, {"x ", row, col}));
      EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(3, x.data()); }, {"x ", row, col}));
      std::vector<float> dist(3 * 4, 12345.0f);
      std::vector<idx_t> lab(3 * 4, 777);
      EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(3, x.data(), 4, dist.data(), lab.data()); },
                                                 {"queries", row, col}));
      EXPECT_EQ(dist, std::vector<float>(3 * 4, 12345.0f));
      EXPECT_EQ(lab, std::vector<idx_t>(3 * 4, 777));
    }
  }
  // The refused ids are still free.
  const std::vector<idx_t> none = ids;
  EXPECT_EQ(index.remove_ids(3, none.data()), 0);
}

TEST_P(IvfBadInput, BadIdsAddNothing) {
  IndexIVFFlat& index = *index_;  // holds ids 0..9
  const std::vector<float> x(data_.base.row(30), data_.base.row(34));
  struct Case {
    std::vector<idx_t> ids;
    std::vector<std::string> needles;
  };
  const Case cases[] = {
      {{20, -5, 21, 22}, {"ids[1] = -5", "negative"}},
      {{20, 21, 22, std::numeric_limits<idx_t>::min()}, {"ids[3]", "negative"}},
      {{30, 31, 30, 32}, {"ids[2] = 30", "more than once"}},
      {{50, 3, 51, 52}, {"ids[1] = 3", "already stored"}},
      {{40, 41, 42, 9}, {"ids[3] = 9", "already stored"}},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(4, x.data(), c.ids.data()); }, c.needles));
  }
  const std::vector<idx_t> later = {20, 21, 22, 30, 31, 40, 50};
  EXPECT_EQ(index.remove_ids(7, later.data()), 0);
}

TEST_P(IvfBadInput, ReconstructAbsentIdsAndSizesThatOverflow) {
  IndexIVFFlat& index = *index_;
  std::vector<float> out(kDim, 5.0f);
  for (const idx_t id : {idx_t{10}, idx_t{-1}, idx_t{1} << 40}) {
    EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.reconstruct(id, out.data()); },
                                               {"id " + std::to_string(id), "not stored"}));
  }
  EXPECT_EQ(out, std::vector<float>(kDim, 5.0f));
  const idx_t huge = std::numeric_limits<idx_t>::max() / 2;
  std::vector<float> dist(4);
  std::vector<idx_t> lab(4);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(huge, good_.data()); }, {"x", "overflows"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(huge, good_.data()); }, {"x", "overflows"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(huge, good_.data(), 1, dist.data(), lab.data()); },
                                             {"queries", "overflows"}));
}

TEST_P(IvfBadInput, TrainAndCentroidsRefusedWhileHoldingVectors) {
  IndexIVFFlat& index = *index_;
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(data_.base.rows, data_.base.data.data()); },
                                             {"train", "10 vectors"}));
  const std::vector<float> c(4 * kDim, 0.0f);
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.set_centroids(c.data()); },
                                             {"set_centroids", "10 vectors"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.set_n_probe(0); }, {"n_probe"}));
}

INSTANTIATE_TEST_SUITE_P(Metrics, IvfBadInput, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace knnx
