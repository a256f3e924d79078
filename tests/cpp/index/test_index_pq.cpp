// ProductQuantizer and IndexPQ on the CPU: the codec (error shrinking with M, tables equal to
// distances to the decoded vectors), searches equal to a float64 brute force over the decoded
// vectors, recall against the exact neighbours, ids, filters, removal, reconstruction, and typed
// errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "brute_force.hpp"
#include "gaussian_data.hpp"
#include "knnx/knnx.hpp"
#include "throws_naming.hpp"

namespace knnx {
namespace {

using test::gaussian;

using test::throws_naming;

using test::brute_force;
using test::score;

double mean_squared_error(const ProductQuantizer& pq, const std::vector<float>& x, idx_t n) {
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n * pq.code_size()));
  std::vector<float> back(x.size());
  pq.encode(n, x.data(), codes.data());
  pq.decode(n, codes.data(), back.data());
  double err = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) err += (double(x[i]) - back[i]) * (x[i] - back[i]);
  return err / double(n);
}

TEST(ProductQuantizer, ReconstructionErrorShrinksWithM) {
  const int d = 32;
  const idx_t n = 3000;
  const std::vector<float> x = gaussian(n, d, 1);
  ProductQuantizerParams params;
  params.kmeans_iter = 10;
  double previous = 0.0;
  for (int m : {2, 4, 8, 16}) {
    ProductQuantizer pq(d, m, 8, params);
    pq.train(n, x.data());
    const double err = mean_squared_error(pq, x, n);
    // Gaussian data of unit variance: 32 per vector before quantisation.
    EXPECT_LT(err, 32.0) << "M = " << m;
    if (m > 2) EXPECT_LT(err, 0.8 * previous) << "M = " << m;
    previous = err;
  }
}

TEST(ProductQuantizer, TablesSumToDistancesOfDecodedVectors) {
  const int d = 24, m = 6;
  const std::vector<float> x = gaussian(1000, d, 2);
  const std::vector<float> q = gaussian(3, d, 3);
  ProductQuantizer pq(d, m);
  pq.train(1000, x.data());
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(50 * m));
  pq.encode(50, x.data(), codes.data());
  std::vector<float> decoded(static_cast<std::size_t>(50 * d));
  pq.decode(50, codes.data(), decoded.data());
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    std::vector<float> tables(static_cast<std::size_t>(3 * m * 256));
    pq.compute_distance_tables(3, q.data(), metric, tables.data());
    for (int qi = 0; qi < 3; ++qi) {
      for (int i = 0; i < 50; ++i) {
        double sum = 0.0;
        for (int s = 0; s < m; ++s) sum += tables[(qi * m + s) * 256 + codes[i * m + s]];
        EXPECT_NEAR(sum, score(q.data() + qi * d, decoded.data() + i * d, d, metric), 1e-3);
      }
    }
  }
}

TEST(ProductQuantizer, EncodingPicksTheNearestCentroid) {
  const int d = 8, m = 4;
  const std::vector<float> x = gaussian(600, d, 4);
  ProductQuantizer pq(d, m);
  pq.train(600, x.data());
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(20 * m));
  pq.encode(20, x.data(), codes.data());
  const std::vector<float>& c = pq.centroids();
  for (int i = 0; i < 20; ++i) {
    for (int s = 0; s < m; ++s) {
      const float* sub = x.data() + i * d + s * 2;
      double best = 1e30;
      for (int j = 0; j < 256; ++j)
        best = std::min(best, score(sub, c.data() + (s * 256 + j) * 2, 2, Metric::L2));
      EXPECT_NEAR(score(sub, c.data() + (s * 256 + codes[i * m + s]) * 2, 2, Metric::L2), best,
                  1e-5);
    }
  }
}

TEST(ProductQuantizer, BadInputGivesTypedErrors) {
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer(30, 7); }, {"M", "30", "7"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer(32, 8, 4); }, {"nbits", "4"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer(32, 8, 16); }, {"nbits", "16"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer(0, 1); }, {"d", "0"}));
  ProductQuantizer pq(8, 2);
  const std::vector<float> x = gaussian(100, 8, 5);
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { pq.train(100, x.data()); }, {"n", "256", "100"}));
  EXPECT_FALSE(pq.is_trained());
  std::vector<std::uint8_t> code(2);
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { pq.encode(1, x.data(), code.data()); }, {"trained"}));
  std::vector<float> bad = gaussian(300, 8, 6);
  bad[17] = std::nanf("");
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { pq.train(300, bad.data()); }, {"x"}));
}

struct PqFixture {
  static constexpr int d = 16;
  static constexpr idx_t n = 2000;
  static constexpr idx_t nq = 20;
  std::vector<float> base = gaussian(n, d, 11);
  std::vector<float> queries = gaussian(nq, d, 12);
};

TEST(IndexPQ, SearchEqualsBruteForceOverDecodedVectors) {
  PqFixture f;
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexPQ index(f.d, 8, 8, metric);
    index.train(f.n, f.base.data());
    index.add(f.n, f.base.data());
    ASSERT_EQ(index.ntotal(), f.n);
    std::vector<float> decoded(f.base.size());
    index.reconstruct_n(0, f.n, decoded.data());
    const int k = 10;
    std::vector<float> dist(f.nq * k);
    std::vector<idx_t> lab(f.nq * k);
    index.search(f.nq, f.queries.data(), k, dist.data(), lab.data());
    for (idx_t q = 0; q < f.nq; ++q) {
      const float* query = f.queries.data() + q * f.d;
      const std::vector<idx_t> want = brute_force(decoded, f.n, f.d, query, k, metric);
      // Same k-th score (ties may order rows differently) and every returned row's score exact.
      const double kth = score(query, decoded.data() + want.back() * f.d, f.d, metric);
      EXPECT_NEAR(dist[q * k + k - 1], kth, 1e-3);
      for (int j = 0; j < k; ++j) {
        const idx_t row = lab[q * k + j];
        ASSERT_GE(row, 0);
        EXPECT_NEAR(dist[q * k + j], score(query, decoded.data() + row * f.d, f.d, metric), 1e-3);
      }
    }
  }
}

TEST(IndexPQ, RecallAgainstExactNeighbours) {
  PqFixture f;
  IndexPQ index(f.d, 8);
  index.train(f.n, f.base.data());
  index.add(f.n, f.base.data());
  const int k = 10;
  std::vector<float> dist(f.nq * k);
  std::vector<idx_t> lab(f.nq * k);
  index.search(f.nq, f.queries.data(), k, dist.data(), lab.data());
  idx_t hits = 0;
  for (idx_t q = 0; q < f.nq; ++q) {
    const std::vector<idx_t> want =
        brute_force(f.base, f.n, f.d, f.queries.data() + q * f.d, k, Metric::L2);
    const std::set<idx_t> got(lab.begin() + q * k, lab.begin() + (q + 1) * k);
    for (idx_t w : want) hits += got.count(w);
  }
  // PQ8 codes of 16-dim Gaussian data (2 dims a sub-quantizer): 0.90 measured.
  EXPECT_GT(double(hits) / double(f.nq * k), 0.8);
}

TEST(IndexPQ, IdsFiltersRemovalAndReset) {
  PqFixture f;
  IndexPQ index(f.d, 4);
  index.train(f.n, f.base.data());
  std::vector<idx_t> ids(100);
  for (int i = 0; i < 100; ++i) ids[i] = 1000 + 3 * i;
  index.add_with_ids(100, f.base.data(), ids.data());
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { index.add_with_ids(1, f.base.data(), ids.data()); }, {"1000"}));
  EXPECT_EQ(index.ntotal(), 100);

  // A query equal to a stored vector finds it first; with a selector excluding it, it does not.
  std::vector<float> dist(5);
  std::vector<idx_t> lab(5);
  index.search(1, f.base.data() + 7 * f.d, 5, dist.data(), lab.data());
  EXPECT_EQ(lab[0], 1021);
  IDSelectorRange odd_out(1022, 2000);
  SearchParams params;
  params.sel = &odd_out;
  index.search(1, f.base.data() + 7 * f.d, 5, dist.data(), lab.data(), &params);
  for (idx_t l : lab) EXPECT_GE(l, 1022);

  // Reconstruction is the decoded vector.
  std::vector<float> rec(f.d), want(f.d);
  index.reconstruct(1021, rec.data());
  std::vector<std::uint8_t> code(4);
  index.pq().encode(1, f.base.data() + 7 * f.d, code.data());
  index.pq().decode(1, code.data(), want.data());
  EXPECT_EQ(rec, want);

  EXPECT_EQ(index.remove_ids(2, std::vector<idx_t>{1021, 5}.data()), 1);
  EXPECT_EQ(index.ntotal(), 99);
  EXPECT_THROW(index.reconstruct(1021, rec.data()), InvalidArgument);
  index.search(1, f.base.data() + 7 * f.d, 5, dist.data(), lab.data());
  EXPECT_NE(lab[0], 1021);
  IDSelectorRange first_ten(1000, 1030);
  EXPECT_EQ(index.remove_ids(first_ten), 9);
  EXPECT_EQ(index.ntotal(), 90);

  // Fewer rows than k: -1 and the empty distance.
  index.reset();
  EXPECT_TRUE(index.is_trained());
  index.add(2, f.base.data());
  index.search(1, f.queries.data(), 5, dist.data(), lab.data());
  EXPECT_EQ(lab[2], -1);
  EXPECT_TRUE(std::isinf(dist[2]));
  const std::vector<idx_t> got = {lab[0], lab[1]};
  EXPECT_EQ(std::set<idx_t>(got.begin(), got.end()), (std::set<idx_t>{0, 1}));
}

TEST(IndexPQ, BadInputLeavesTheIndexAsItWas) {
  PqFixture f;
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexPQ(10, 3); }, {"M", "3"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexPQ(16, 4, 12); }, {"nbits", "12"}));
  IndexPQ index(f.d, 4);
  EXPECT_THROW(index.add(10, f.base.data()), InvalidArgument);  // untrained
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.train(255, f.base.data()); }, {"255"}));
  index.train(f.n, f.base.data());
  index.add(10, f.base.data());
  EXPECT_THROW(index.train(f.n, f.base.data()), InvalidArgument);  // holds vectors
  std::vector<float> bad(f.base.begin(), f.base.begin() + 5 * f.d);
  bad[3] = INFINITY;
  EXPECT_THROW(index.add(5, bad.data()), InvalidArgument);
  EXPECT_EQ(index.ntotal(), 10);
  SearchParamsIVF ivf;
  std::vector<float> dist(1);
  std::vector<idx_t> lab(1);
  EXPECT_THROW(index.search(1, f.queries.data(), 1, dist.data(), lab.data(), &ivf),
               InvalidArgument);
}

// On a CUDA device the index runs there (tests/cpp/cuda/test_pq_cuda.cpp); without one, or
// without the CUDA backend, the constructor throws.
TEST(IndexPQ, CudaDeviceNeedsOne) {
  if (cuda_device_count() > 0) {
    EXPECT_EQ(IndexPQ(16, 4, 8, Metric::L2, Device::cuda(0)).device(), Device::cuda(0));
  } else {
    EXPECT_THROW(IndexPQ(16, 4, 8, Metric::L2, Device::cuda(0)), Error);
  }
}

}  // namespace
}  // namespace knnx
