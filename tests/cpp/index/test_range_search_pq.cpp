// range_search of the product-quantizer indexes on the CPU: the hits are exactly the stored
// vectors whose search distance (the lookup tables') passes the radius, with those distances;
// the distances agree with a float64 brute force over the decoded vectors; sorted best first,
// ties by id; n_probe and IDSelector filters honoured; empty results; IndexPQFastScan refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "brute_force.hpp"
#include "gaussian_data.hpp"
#include "knnx/knnx.hpp"
#include "search_result.hpp"

namespace knnx {
namespace {

using test::gaussian;

constexpr int kDim = 16;
constexpr idx_t kN = 800;
constexpr idx_t kNq = 6;

bool passes(float dist, float radius, Metric metric) {
  return metric == Metric::L2 ? dist < radius : dist > radius;
}

// A radius that about a tenth of the stored vectors pass for the first query.
float tenth_radius(const Index& index, const float* query) {
  const test::SearchResult all = test::search(index, 1, query, static_cast<int>(index.ntotal()));
  return all.distances[static_cast<std::size_t>(index.ntotal() / 10)];
}

// Trains index on x and adds x; radius = tenth_radius for q's first query.
void fill(Index& index, const std::vector<float>& x, const std::vector<float>& q, float& radius) {
  const idx_t n = static_cast<idx_t>(x.size()) / index.dim();
  index.train(n, x.data());
  index.add(n, x.data());
  radius = tenth_radius(index, q.data());
}

// Checks rs against search: for each query, the hits are the entries of search(k = ntotal) whose
// distance passes radius, with the same distances, admitted by sel, sorted best first (ties by
// id). Returns the number of hits. Each query is searched alone, as range_search probes it (the
// coarse distances of a batch of queries may come from sgemm, rounded differently).
idx_t expect_range_equals_search(const Index& index, const std::vector<float>& queries,
                                 float radius, const SearchParams* params,
                                 const RangeSearchResult& rs) {
  const idx_t nq = static_cast<idx_t>(queries.size()) / index.dim();
  const int k = static_cast<int>(index.ntotal());
  EXPECT_EQ(rs.lims.size(), static_cast<std::size_t>(nq) + 1);
  EXPECT_EQ(rs.lims[0], 0);
  for (idx_t q = 0; q < nq; ++q) {
    const test::SearchResult all =
        test::search(index, 1, queries.data() + q * index.dim(), k, params);
    std::map<idx_t, float> want;
    for (int j = 0; j < k; ++j) {
      const std::size_t at = static_cast<std::size_t>(j);
      if (all.labels[at] >= 0 && passes(all.distances[at], radius, index.metric())) {
        want[all.labels[at]] = all.distances[at];
      }
    }
    std::map<idx_t, float> got;
    for (idx_t i = rs.lims[q]; i < rs.lims[q + 1]; ++i) {
      got[rs.labels[i]] = rs.distances[i];
      if (i > rs.lims[q]) {
        const float a = rs.distances[i - 1], b = rs.distances[i];
        const bool ordered = a == b ? rs.labels[i - 1] < rs.labels[i]
                                    : (index.metric() == Metric::L2 ? a < b : a > b);
        EXPECT_TRUE(ordered) << "query " << q << " position " << i;
      }
    }
    EXPECT_EQ(got, want) << "query " << q;
  }
  return rs.lims[nq];
}

// Checks rs against a float64 brute force over the stored vectors' reconstructions (the decoded
// vectors the tables score): hits' distances agree within rel_tol, and every stored id clear of
// the radius by more than that is a hit exactly when the brute force says it passes.
void expect_range_equals_decoded(const Index& index, const std::vector<float>& queries,
                                 float radius, const std::vector<idx_t>& ids, double rel_tol,
                                 const RangeSearchResult& rs) {
  const int d = index.dim();
  const idx_t nq = static_cast<idx_t>(queries.size()) / d;
  std::vector<float> decoded(static_cast<std::size_t>(d));
  for (idx_t q = 0; q < nq; ++q) {
    std::map<idx_t, float> got;
    for (idx_t i = rs.lims[q]; i < rs.lims[q + 1]; ++i) got[rs.labels[i]] = rs.distances[i];
    for (const idx_t id : ids) {
      index.reconstruct(id, decoded.data());
      const double s = test::score(queries.data() + q * d, decoded.data(), d, index.metric());
      const double tol = rel_tol * (1.0 + std::abs(s));
      const auto it = got.find(id);
      if (it != got.end()) EXPECT_NEAR(it->second, s, tol);
      if (std::abs(s - radius) > tol) {
        EXPECT_EQ(it != got.end(), index.metric() == Metric::L2 ? s < radius : s > radius)
            << "query " << q << " id " << id;
      }
    }
  }
}

struct Case {
  Metric metric;
  bool precomputed;
};

class RangeSearchPq : public ::testing::TestWithParam<Case> {};

TEST_P(RangeSearchPq, IndexPQMatchesTablesAndDecodedBruteForce) {
  if (!GetParam().precomputed) GTEST_SKIP() << "IndexPQ has no precomputed table";
  const Metric metric = GetParam().metric;
  const std::vector<float> x = gaussian(kN, kDim, 31);
  const std::vector<float> q = gaussian(kNq, kDim, 32);
  IndexPQ index(kDim, 8, 8, metric);
  index.train(kN, x.data());
  std::vector<idx_t> ids(kN);
  for (idx_t i = 0; i < kN; ++i) ids[i] = 3 * (kN - i);  // not in row order
  index.add_with_ids(kN, x.data(), ids.data());
  const float radius = tenth_radius(index, q.data());
  const RangeSearchResult rs = index.range_search(kNq, q.data(), radius);
  EXPECT_GT(expect_range_equals_search(index, q, radius, nullptr, rs), kNq);
  expect_range_equals_decoded(index, q, radius, ids, 1e-4, rs);
}

TEST_P(RangeSearchPq, IndexIVFPQHonoursNprobeAndFilters) {
  const Metric metric = GetParam().metric;
  const std::vector<float> x = gaussian(kN, kDim, 41);
  const std::vector<float> q = gaussian(kNq, kDim, 42);
  IndexIVFPQ index(kDim, 8, 8, 8, metric);
  index.set_use_precomputed_table(GetParam().precomputed);
  index.set_n_probe(8);
  float radius = 0.0f;
  fill(index, x, q, radius);
  // All lists probed: the float64 brute force over the reconstructions (c + decoded residual).
  const RangeSearchResult full = index.range_search(kNq, q.data(), radius);
  EXPECT_GT(expect_range_equals_search(index, q, radius, nullptr, full), kNq);
  std::vector<idx_t> ids(kN);
  for (idx_t i = 0; i < kN; ++i) ids[i] = i;
  expect_range_equals_decoded(index, q, radius, ids, 1e-3, full);
  // Fewer lists through SearchParamsIVF: a subset of the full result.
  SearchParamsIVF two;
  two.nprobe = 2;
  const RangeSearchResult probed = index.range_search(kNq, q.data(), radius, &two);
  const idx_t n_probed = expect_range_equals_search(index, q, radius, &two, probed);
  EXPECT_LT(n_probed, full.lims[kNq]);
  // A filter: the full result's admitted hits.
  const IDSelectorRange lower_half(0, kN / 2);
  SearchParamsIVF filtered;
  filtered.nprobe = 8;
  filtered.sel = &lower_half;
  const RangeSearchResult sel = index.range_search(kNq, q.data(), radius, &filtered);
  expect_range_equals_search(index, q, radius, &filtered, sel);
  idx_t admitted = 0;
  for (idx_t id : full.labels) admitted += id < kN / 2 ? 1 : 0;
  EXPECT_EQ(sel.lims[kNq], admitted);
  for (idx_t id : sel.labels) EXPECT_LT(id, kN / 2);
}

INSTANTIATE_TEST_SUITE_P(Metrics, RangeSearchPq,
                         ::testing::Values(Case{Metric::L2, true}, Case{Metric::L2, false},
                                           Case{Metric::InnerProduct, true}));

TEST(RangeSearchPq, FiltersAndEmptyResultsOnIndexPQ) {
  const std::vector<float> x = gaussian(kN, kDim, 51);
  const std::vector<float> q = gaussian(kNq, kDim, 52);
  IndexPQ index(kDim, 4, 8, Metric::L2);
  float radius = 0.0f;
  fill(index, x, q, radius);
  std::vector<idx_t> picked;
  for (idx_t i = 0; i < kN; i += 3) picked.push_back(i);
  const IDSelectorBatch batch(picked.size(), picked.data());
  SearchParams params;
  params.sel = &batch;
  const RangeSearchResult rs = index.range_search(kNq, q.data(), radius, &params);
  expect_range_equals_search(index, q, radius, &params, rs);
  for (idx_t id : rs.labels) EXPECT_EQ(id % 3, 0);
  // Radius 0 (L2 distances are never below it), an empty index.
  const RangeSearchResult none = index.range_search(kNq, q.data(), 0.0f);
  EXPECT_EQ(none.lims, std::vector<idx_t>(kNq + 1, 0));
  EXPECT_TRUE(none.labels.empty() && none.distances.empty());
  index.reset();
  EXPECT_EQ(index.range_search(kNq, q.data(), 1e30f).lims, std::vector<idx_t>(kNq + 1, 0));
  EXPECT_THROW(index.range_search(kNq, q.data(), std::nanf("")), InvalidArgument);
}

TEST(RangeSearchPq, IVFFastScanUsesItsSearchDistancesAndPQFastScanRefuses) {
  const std::vector<float> x = gaussian(kN, kDim, 61);
  const std::vector<float> q = gaussian(kNq, kDim, 62);
  for (const bool by_residual : {true, false}) {
    for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
      IndexIVFPQFastScan index(kDim, 4, 8, metric, Device::cpu(), by_residual);
      index.set_n_probe(2);
      float radius = 0.0f;
      fill(index, x, q, radius);
      const RangeSearchResult rs = index.range_search(kNq, q.data(), radius);
      EXPECT_GT(expect_range_equals_search(index, q, radius, nullptr, rs), kNq);
    }
  }
  IndexPQFastScan flat(kDim, 8);
  flat.train(kN, x.data());
  flat.add(kN, x.data());
  EXPECT_THROW(flat.range_search(kNq, q.data(), 1.0f), NotSupported);
}

}  // namespace
}  // namespace knnx
