// IDSelector filters (SearchParams::sel) in IndexFlat and IndexIVFFlat search, range_search and
// remove_ids(selector), on the CPU. A filtered search must equal an unfiltered search of an index
// holding only the admitted vectors (same ids, same lists), at 1%, 10% and 90% selectivity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "index/gaussian_data.hpp"
#include "index/search_result.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::gaussian;

constexpr int kDim = 16;

using Result = test::SearchResult;
using test::search;

void expect_same(const Result& got, const Result& want) {
  ASSERT_EQ(got.labels, want.labels);
  for (std::size_t i = 0; i < got.distances.size(); ++i) {
    if (std::isinf(want.distances[i])) {  // padding
      EXPECT_EQ(got.distances[i], want.distances[i]);
      continue;
    }
    EXPECT_NEAR(got.distances[i], want.distances[i], 1e-4f * (1.0f + std::fabs(want.distances[i])));
  }
}

// Ids 1000, 1003, 1006, ... in shuffled order, so rows and ids differ.
std::vector<idx_t> shuffled_ids(idx_t n) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = 1000 + 3 * i;
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
  return ids;
}

// About `fraction` of ids, drawn at random.
std::vector<idx_t> sample_ids(const std::vector<idx_t>& ids, double fraction, unsigned seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution take(fraction);
  std::vector<idx_t> out;
  for (idx_t id : ids) {
    if (take(rng)) out.push_back(id);
  }
  return out;
}

// The rows (and ids) of x whose id sel admits.
void admitted_subset(const IDSelector& sel, const std::vector<float>& x,
                     const std::vector<idx_t>& ids, std::vector<float>& sub_x,
                     std::vector<idx_t>& sub_ids) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!sel.is_member(ids[i])) continue;
    sub_ids.push_back(ids[i]);
    sub_x.insert(sub_x.end(), x.begin() + static_cast<std::ptrdiff_t>(i * kDim),
                 x.begin() + static_cast<std::ptrdiff_t>((i + 1) * kDim));
  }
}

TEST(IdSelector, Membership) {
  const std::vector<idx_t> some = {5, 3, 9, 3};
  IDSelectorBatch batch(some);
  EXPECT_TRUE(batch.is_member(3));
  EXPECT_TRUE(batch.is_member(9));
  EXPECT_FALSE(batch.is_member(4));
  IDSelectorArray array(some.size(), some.data());
  EXPECT_TRUE(array.is_member(5));
  EXPECT_FALSE(array.is_member(-1));

  IDSelectorRange range(10, 20);
  EXPECT_FALSE(range.is_member(9));
  EXPECT_TRUE(range.is_member(10));
  EXPECT_TRUE(range.is_member(19));
  EXPECT_FALSE(range.is_member(20));

  // FAISS's bit order: bit (i & 7) of byte i >> 3, least significant first.
  const std::uint8_t bits[2] = {0b00000101, 0b10000000};
  IDSelectorBitmap bitmap(2, bits);
  EXPECT_TRUE(bitmap.is_member(0));
  EXPECT_FALSE(bitmap.is_member(1));
  EXPECT_TRUE(bitmap.is_member(2));
  EXPECT_TRUE(bitmap.is_member(15));
  EXPECT_FALSE(bitmap.is_member(14));
  EXPECT_FALSE(bitmap.is_member(16));
  EXPECT_FALSE(bitmap.is_member(-3));

  IDSelectorNot not_range(&range);
  EXPECT_TRUE(not_range.is_member(9));
  EXPECT_FALSE(not_range.is_member(15));
  IDSelectorAnd both(&range, &batch);  // {} : batch has nothing in [10, 20)
  IDSelectorOr either(&range, &batch);
  EXPECT_FALSE(both.is_member(15));
  EXPECT_FALSE(both.is_member(3));
  EXPECT_TRUE(either.is_member(3));
  EXPECT_TRUE(either.is_member(15));
  EXPECT_FALSE(either.is_member(4));
}

class FilteredSearch : public ::testing::TestWithParam<Metric> {};

// IDSelectorBatch keeps dense sets as a bitmap as well as sorted ids: membership is the same
// either way, for sets dense and sparse, at their edges, outside them and with negative ids.
TEST(IdSelector, BatchMembershipDenseAndSparse) {
  std::mt19937_64 rng(7);
  const std::vector<std::vector<idx_t>> sets = {
      {},
      {5},
      {-3, 0, 2},
      {0, idx_t{1} << 40},                               // sparse: two ids far apart
      {std::numeric_limits<idx_t>::min(), std::numeric_limits<idx_t>::max()},
  };
  std::vector<std::vector<idx_t>> all = sets;
  for (const double density : {0.9, 0.1, 0.01, 0.001}) {  // dense bitmap, then sparse
    std::vector<idx_t> ids;
    std::bernoulli_distribution take(density);
    for (idx_t id = 1000; id < 1000 + 3000000; id += 1) {
      if (take(rng)) ids.push_back(id);
    }
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.push_back(ids.front());  // a repeated id
    all.push_back(ids);
  }
  for (const auto& ids : all) {
    const IDSelectorBatch sel(ids);
    std::vector<idx_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    std::vector<idx_t> probes = {std::numeric_limits<idx_t>::min(), -4, -3, -1, 0, 1, 2, 5, 6,
                                 999, 1000, idx_t{1} << 40, std::numeric_limits<idx_t>::max()};
    std::uniform_int_distribution<idx_t> near(0, 3002000);
    for (int i = 0; i < 20000; ++i) probes.push_back(near(rng));
    for (const idx_t id : sorted) probes.push_back(id);
    for (const idx_t id : probes) {
      ASSERT_EQ(sel.is_member(id), std::binary_search(sorted.begin(), sorted.end(), id))
          << "id " << id << " in a set of " << sorted.size();
    }
  }
}

TEST_P(FilteredSearch, FlatEqualsSearchOfTheAdmittedRows) {
  const idx_t n = 2000, nq = 37;
  const std::vector<float> x = gaussian(n, kDim, 1);
  const std::vector<float> q = gaussian(nq, kDim, 2);
  const std::vector<idx_t> ids = shuffled_ids(n);
  IndexFlat full(kDim, GetParam());
  full.add_with_ids(n, x.data(), ids.data());
  for (double fraction : {0.01, 0.1, 0.9}) {
    for (int k : {1, 10, 40}) {
      SCOPED_TRACE(::testing::Message() << "fraction " << fraction << " k " << k);
      IDSelectorBatch sel(sample_ids(ids, fraction, 3));
      std::vector<float> sub_x;
      std::vector<idx_t> sub_ids;
      admitted_subset(sel, x, ids, sub_x, sub_ids);
      IndexFlat sub(kDim, GetParam());
      sub.add_with_ids(static_cast<idx_t>(sub_ids.size()), sub_x.data(), sub_ids.data());
      SearchParams params;
      params.sel = &sel;
      expect_same(search(full, nq, q.data(), k, &params), search(sub, nq, q.data(), k));
      // Many queries (the sgemm path) as well as few.
      params.cpu_direct_max_nq = 1;
      expect_same(search(full, nq, q.data(), k, &params), search(sub, nq, q.data(), k));
    }
  }
}

// With ids 0..n-1 a range is scanned as a block of rows: the same answers as any selector.
TEST_P(FilteredSearch, FlatRangeOverSequentialIds) {
  const idx_t n = 1000, nq = 9;
  const std::vector<float> x = gaussian(n, kDim, 21);
  const std::vector<float> q = gaussian(nq, kDim, 22);
  IndexFlat flat(kDim, GetParam());
  flat.add(n, x.data());
  struct Case {
    idx_t imin, imax;
  };
  for (const Case c : {Case{100, 110}, Case{0, 3}, Case{-50, 20}, Case{990, 5000}, Case{7, 7},
                       Case{30, 10}, Case{0, n}}) {
    SCOPED_TRACE(::testing::Message() << "[" << c.imin << ", " << c.imax << ")");
    IDSelectorRange range(c.imin, c.imax);
    IDSelectorNot not_range(&range);
    IDSelectorNot same_as_range(&not_range);  // tested row by row
    SearchParams by_range, by_test;
    by_range.sel = &range;
    by_test.sel = &same_as_range;
    expect_same(search(flat, nq, q.data(), 20, &by_range),
                search(flat, nq, q.data(), 20, &by_test));
    const float radius = GetParam() == Metric::L2 ? 30.0f : 2.0f;
    const RangeSearchResult a = flat.range_search(nq, q.data(), radius, &by_range);
    const RangeSearchResult b = flat.range_search(nq, q.data(), radius, &by_test);
    EXPECT_EQ(a.lims, b.lims);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.distances, b.distances);
  }
}

TEST_P(FilteredSearch, IvfEqualsSearchOfTheAdmittedEntries) {
  const idx_t n = 3000, nq = 29;
  const int n_lists = 16;
  const std::vector<float> x = gaussian(n, kDim, 4);
  const std::vector<float> q = gaussian(nq, kDim, 5);
  const std::vector<idx_t> ids = shuffled_ids(n);
  IndexIVFFlat full(kDim, n_lists, GetParam());
  full.train(n, x.data());
  full.add_with_ids(n, x.data(), ids.data());
  for (double fraction : {0.01, 0.1, 0.9}) {
    SCOPED_TRACE(::testing::Message() << "fraction " << fraction);
    IDSelectorBatch sel(sample_ids(ids, fraction, 6));
    std::vector<float> sub_x;
    std::vector<idx_t> sub_ids;
    admitted_subset(sel, x, ids, sub_x, sub_ids);
    IndexIVFFlat sub(kDim, n_lists, GetParam());
    sub.set_centroids(full.centroids().data());  // same lists for the admitted entries
    sub.add_with_ids(static_cast<idx_t>(sub_ids.size()), sub_x.data(), sub_ids.data());
    for (int nprobe : {1, 4, n_lists}) {
      SearchParamsIVF params;
      params.sel = &sel;
      params.nprobe = nprobe;
      SearchParamsIVF plain;
      plain.nprobe = nprobe;
      expect_same(search(full, nq, q.data(), 10, &params), search(sub, nq, q.data(), 10, &plain));
    }
  }
}

TEST_P(FilteredSearch, FewerAdmittedThanKArePadded) {
  const std::vector<float> x = gaussian(100, kDim, 7);
  const std::vector<float> q = gaussian(3, kDim, 8);
  IndexFlat flat(kDim, GetParam());
  flat.add(100, x.data());
  IndexIVFFlat ivf(kDim, 4, GetParam());
  ivf.train(100, x.data());
  ivf.add(100, x.data());
  IDSelectorRange sel(40, 43);  // ids 40, 41, 42
  SearchParams flat_params;
  flat_params.sel = &sel;
  SearchParamsIVF ivf_params;
  ivf_params.sel = &sel;
  ivf_params.nprobe = 4;
  const float pad = empty_distance(GetParam());
  for (const Result& r :
       {search(flat, 3, q.data(), 5, &flat_params), search(ivf, 3, q.data(), 5, &ivf_params)}) {
    for (int i = 0; i < 3; ++i) {
      std::vector<idx_t> got(r.labels.begin() + i * 5, r.labels.begin() + i * 5 + 3);
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, (std::vector<idx_t>{40, 41, 42}));
      for (int j = 3; j < 5; ++j) {
        EXPECT_EQ(r.labels[static_cast<std::size_t>(i * 5 + j)], -1);
        EXPECT_EQ(r.distances[static_cast<std::size_t>(i * 5 + j)], pad);
      }
    }
  }
}

// Reference distances in double precision.
double distance(Metric metric, const float* a, const float* b) {
  double acc = 0.0;
  for (int c = 0; c < kDim; ++c) {
    acc +=
        metric == Metric::L2 ? (double(a[c]) - b[c]) * (double(a[c]) - b[c]) : double(a[c]) * b[c];
  }
  return acc;
}

TEST_P(FilteredSearch, RangeSearchFlatFindsWhatIsWithinTheRadius) {
  const Metric metric = GetParam();
  const bool l2 = metric == Metric::L2;
  const idx_t n = 1500, nq = 300;  // more queries than one chunk
  const std::vector<float> x = gaussian(n, kDim, 9);
  const std::vector<float> q = gaussian(nq, kDim, 10);
  const std::vector<idx_t> ids = shuffled_ids(n);
  IndexFlat flat(kDim, metric);
  flat.add_with_ids(n, x.data(), ids.data());
  const float radius = l2 ? 14.0f : 7.0f;
  const double tol = 1e-3;
  for (bool filtered : {false, true}) {
    IDSelectorRange sel(1000, 1000 + 3 * 700);
    SearchParams params;
    if (filtered) params.sel = &sel;
    const RangeSearchResult r = flat.range_search(nq, q.data(), radius, &params);
    ASSERT_EQ(r.lims.size(), static_cast<std::size_t>(nq) + 1);
    ASSERT_EQ(r.lims[0], 0);
    ASSERT_EQ(static_cast<std::size_t>(r.lims[nq]), r.labels.size());
    ASSERT_EQ(r.distances.size(), r.labels.size());
    idx_t total = 0;
    for (idx_t i = 0; i < nq; ++i) {
      std::vector<idx_t> want;
      for (idx_t row = 0; row < n; ++row) {
        const double d = distance(metric, q.data() + i * kDim, x.data() + row * kDim);
        const idx_t id = ids[static_cast<std::size_t>(row)];
        if (filtered && !sel.is_member(id)) continue;
        if (l2 ? d < radius - tol : d > radius + tol) want.push_back(id);
      }
      std::vector<idx_t> got(r.labels.begin() + r.lims[i], r.labels.begin() + r.lims[i + 1]);
      for (idx_t j = r.lims[i]; j < r.lims[i + 1]; ++j) {
        const float d = r.distances[static_cast<std::size_t>(j)];
        EXPECT_TRUE(l2 ? d < radius : d > radius);
        if (filtered) EXPECT_TRUE(sel.is_member(r.labels[static_cast<std::size_t>(j)]));
        if (j > r.lims[i]) {  // best first
          const float prev = r.distances[static_cast<std::size_t>(j - 1)];
          EXPECT_TRUE(l2 ? prev <= d : prev >= d);
        }
      }
      std::sort(got.begin(), got.end());
      for (idx_t id : want) EXPECT_TRUE(std::binary_search(got.begin(), got.end(), id));
      EXPECT_LE(got.size(), want.size() + 2);  // only borderline extras
      total += static_cast<idx_t>(got.size());
    }
    EXPECT_GT(total, nq);  // the radius finds something
  }
}

TEST_P(FilteredSearch, RangeSearchIvfWithEveryListEqualsFlat) {
  const Metric metric = GetParam();
  const idx_t n = 2000, nq = 50;
  const std::vector<float> x = gaussian(n, kDim, 11);
  const std::vector<float> q = gaussian(nq, kDim, 12);
  const std::vector<idx_t> ids = shuffled_ids(n);
  IndexFlat flat(kDim, metric);
  flat.add_with_ids(n, x.data(), ids.data());
  IndexIVFFlat ivf(kDim, 8, metric);
  ivf.train(n, x.data());
  ivf.add_with_ids(n, x.data(), ids.data());
  const float radius = metric == Metric::L2 ? 16.0f : 6.0f;
  IDSelectorBatch sel(sample_ids(ids, 0.5, 13));
  SearchParams flat_params;
  flat_params.sel = &sel;
  SearchParamsIVF ivf_params;
  ivf_params.sel = &sel;
  ivf_params.nprobe = 8;
  const RangeSearchResult a = flat.range_search(nq, q.data(), radius, &flat_params);
  const RangeSearchResult b = ivf.range_search(nq, q.data(), radius, &ivf_params);
  EXPECT_EQ(a.lims, b.lims);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.distances, b.distances);
  ivf_params.nprobe = 1;  // fewer lists: a subset
  const RangeSearchResult c = ivf.range_search(nq, q.data(), radius, &ivf_params);
  EXPECT_LE(c.labels.size(), a.labels.size());
}

TEST_P(FilteredSearch, RangeSearchEdgesAndBadRadius) {
  const Metric metric = GetParam();
  const std::vector<float> x = gaussian(50, kDim, 14);
  IndexFlat flat(kDim, metric);
  flat.add(50, x.data());
  // Nothing within an L2 radius of 0 (strict <), nothing above a huge inner product.
  const float none = metric == Metric::L2 ? 0.0f : 1e30f;
  const RangeSearchResult empty = flat.range_search(2, x.data(), none);
  EXPECT_EQ(empty.lims, (std::vector<idx_t>{0, 0, 0}));
  EXPECT_TRUE(empty.labels.empty());
  // Everything within an infinite radius.
  const float all = metric == Metric::L2 ? std::numeric_limits<float>::infinity()
                                         : -std::numeric_limits<float>::infinity();
  const RangeSearchResult every = flat.range_search(1, x.data(), all);
  EXPECT_EQ(every.labels.size(), 50u);
  EXPECT_THROW(flat.range_search(1, x.data(), std::nanf("")), InvalidArgument);
  EXPECT_THROW(flat.range_search(0, x.data(), 1.0f), InvalidArgument);
  EXPECT_THROW(flat.range_search(1, nullptr, 1.0f), InvalidArgument);
  SearchParamsIVF ivf_params;
  EXPECT_THROW(flat.range_search(1, x.data(), 1.0f, &ivf_params), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Metrics, FilteredSearch,
                         ::testing::Values(Metric::L2, Metric::InnerProduct), [](const auto& info) {
                           return info.param == Metric::L2 ? std::string("L2") : std::string("IP");
                         });

TEST(IdSelector, RemoveIdsBySelector) {
  const idx_t n = 400;
  const std::vector<float> x = gaussian(n, kDim, 15);
  const std::vector<idx_t> ids = shuffled_ids(n);
  IndexFlat flat(kDim);
  flat.add_with_ids(n, x.data(), ids.data());
  IndexIVFFlat ivf(kDim, 4);
  ivf.train(n, x.data());
  ivf.add_with_ids(n, x.data(), ids.data());
  IDSelectorRange range(1000, 1300);  // ids 1000, 1003, ..., 1299: 100 ids
  IDSelectorNot keep_odd_thirds(&range);
  for (Index* index : {static_cast<Index*>(&flat), static_cast<Index*>(&ivf)}) {
    EXPECT_EQ(index->remove_ids(range), 100);
    EXPECT_EQ(index->ntotal(), n - 100);
    EXPECT_EQ(index->remove_ids(range), 0);
    // What is left is exactly the complement: a search restricted to the range finds nothing.
    SearchParamsIVF params;
    params.sel = &range;
    params.nprobe = 4;
    SearchParams flat_params;
    flat_params.sel = &range;
    const Result r = search(*index, 1, x.data(), 5, index == &flat ? &flat_params : &params);
    EXPECT_EQ(r.labels, std::vector<idx_t>(5, -1));
    EXPECT_EQ(index->remove_ids(keep_odd_thirds), n - 100);
    EXPECT_EQ(index->ntotal(), 0);
  }
}

}  // namespace
}  // namespace knnx
