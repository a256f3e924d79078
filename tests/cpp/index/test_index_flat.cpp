// IndexFlat on the CPU against a float64 brute force over a model of what the index holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cpu/scan_kernels.hpp"
#include "index/gaussian_data.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

// What the index should hold: id -> vector.
using Model = std::map<idx_t, std::vector<float>>;

struct SearchResult {
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

SearchResult run_search(const Index& index, idx_t nq, const float* queries, int k) {
  SearchResult r{std::vector<float>(static_cast<std::size_t>(nq * k)),
                 std::vector<idx_t>(static_cast<std::size_t>(nq * k))};
  index.search(nq, queries, k, r.distances.data(), r.labels.data());
  return r;
}

using test::gaussian;

// Small integers: every distance is computed exactly in float, so ties are exact ties.
std::vector<float> small_integers(idx_t n, int d, int levels, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, levels - 1);
  std::vector<float> v(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  for (float& x : v) x = static_cast<float>(dist(rng));
  return v;
}

double true_distance(Metric metric, const float* q, const float* x, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    const double a = q[j], b = x[j];
    s += metric == Metric::L2 ? (a - b) * (a - b) : a * b;
  }
  return s;
}

double norm_sq(const float* x, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) s += static_cast<double>(x[j]) * x[j];
  return s;
}

Model model_of(idx_t n, int d, const float* x, idx_t first_id = 0) {
  Model m;
  for (idx_t i = 0; i < n; ++i) m[first_id + i].assign(x + i * d, x + (i + 1) * d);
  return m;
}

// Checks one search result "tie order aside": rank by rank, the reported distance equals the
// float64 reference distance of that rank; each label is a distinct stored id whose true
// distance equals its reported distance; distances are ordered best first; past the number of
// stored vectors, labels are -1 and distances the metric's empty value. The tolerance is
// rel_tol times the size of the terms the float32 computation cancels (||q||^2 + max ||x||^2
// for L2, ||q|| max ||x|| for inner product), since that is what float32 rounding scales with.
::testing::AssertionResult matches_brute_force(Metric metric, int d, const Model& model, idx_t nq,
                                               const float* queries, int k, const SearchResult& got,
                                               double rel_tol = 2e-5) {
  double max_norm_sq = 0.0;
  for (const auto& [id, v] : model) max_norm_sq = std::max(max_norm_sq, norm_sq(v.data(), d));
  const float empty = empty_distance(metric);
  const std::size_t m = std::min(model.size(), static_cast<std::size_t>(k));

  std::vector<double> ref;
  for (idx_t q = 0; q < nq; ++q) {
    const float* query = queries + q * d;
    const float* dist = got.distances.data() + q * k;
    const idx_t* lab = got.labels.data() + q * k;
    ref.clear();
    for (const auto& [id, v] : model) ref.push_back(true_distance(metric, query, v.data(), d));
    if (metric == Metric::L2) {
      std::sort(ref.begin(), ref.end());
    } else {
      std::sort(ref.begin(), ref.end(), std::greater<>());
    }
    const double qn = norm_sq(query, d);
    const double scale = metric == Metric::L2 ? qn + max_norm_sq : std::sqrt(qn * max_norm_sq);
    const double tol = rel_tol * scale + 1e-30;

    std::set<idx_t> seen;
    for (std::size_t i = 0; i < m; ++i) {
      auto fail = [&]() {
        return ::testing::AssertionFailure() << "query " << q << ", rank " << i << " (k=" << k
                                             << ", stored=" << model.size() << "): ";
      };
      if (!(std::abs(dist[i] - ref[i]) <= tol)) {
        return fail() << "distance " << dist[i] << ", reference " << ref[i] << ", tol " << tol;
      }
      const auto it = model.find(lab[i]);
      if (it == model.end()) return fail() << "label " << lab[i] << " is not a stored id";
      if (!seen.insert(lab[i]).second) return fail() << "label " << lab[i] << " repeated";
      const double own = true_distance(metric, query, it->second.data(), d);
      if (!(std::abs(dist[i] - own) <= tol)) {
        return fail() << "label " << lab[i] << " reported at " << dist[i] << " but is at " << own;
      }
      if (i > 0 && is_better(metric, dist[i], dist[i - 1])) {
        return fail() << "distance " << dist[i] << " ranks after worse " << dist[i - 1];
      }
    }
    for (std::size_t i = m; i < static_cast<std::size_t>(k); ++i) {
      if (lab[i] != kNoLabel || dist[i] != empty) {
        return ::testing::AssertionFailure()
               << "query " << q << ", rank " << i << " past the " << m << " stored vectors: got ("
               << dist[i] << ", " << lab[i] << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Sets knobs for one test and puts the previous values back.
class ConfigGuard {
 public:
  explicit ConfigGuard(const Config& c) : saved_(config()) { set_config(c); }
  ~ConfigGuard() { set_config(saved_); }
  ConfigGuard(const ConfigGuard&) = delete;
  ConfigGuard& operator=(const ConfigGuard&) = delete;

 private:
  Config saved_;
};

struct Setting {
  const char* name;
  int query_block;  // 0: keep the defaults
  int base_block;
  int threads;
  int direct_max_nq;  // 0: the instruction set's crossover
};

Config config_for(const Setting& setting) {
  if (setting.query_block == 0) return Config{};
  Config c = config();
  c.cpu_query_block = setting.query_block;
  c.cpu_base_block = setting.base_block;
  c.num_threads = setting.threads;
  c.cpu_direct_max_nq = setting.direct_max_nq;
  return c;
}

// Block sizes, thread counts and direct-kernel crossovers that make every path of the blocked
// search run: the direct kernel for up to 64 queries or for one query only, one query block on
// several threads (threads split the base, collectors merged), many small query blocks, one
// thread, and blocks that divide nothing evenly.
const Setting kSettings[] = {
    {"defaults", 0, 0, 0, 0},
    {"qb7_bb16_t4_direct64", 7, 16, 4, 64},
    {"qb1_bb16_t1_direct1", 1, 16, 1, 1},
    {"qb64_bb100_t2", 64, 100, 2, 0},
    {"qb500_bb37_t3_direct3", 500, 37, 3, 3},
};

// Query counts that reach every search path: the direct small-batch kernel (in groups of 2 and
// 1), one query block with the threads splitting the base (16, 40), and query blocks spread over
// the threads (500); which of the first five take the direct kernel depends on the setting.
constexpr idx_t kQueryCounts[] = {1, 2, 3, 16, 40, 500};

class FlatExact : public ::testing::TestWithParam<std::tuple<Metric, Setting>> {};

TEST_P(FlatExact, MatchesBruteForce) {
  const auto [metric, setting] = GetParam();
  ConfigGuard guard(config_for(setting));

  struct Shape {
    idx_t n;
    int d;
  };
  for (const Shape s : {Shape{1, 1}, Shape{5, 3}, Shape{333, 1}, Shape{1000, 3}, Shape{1037, 129},
                        Shape{2500, 17}}) {
    // A mean offset makes L2 cancellation (||q||^2 + ||x||^2 - 2 q.x) matter.
    const float mean = s.d == 17 ? 3.0f : 0.0f;
    const std::vector<float> base =
        gaussian(s.n, s.d, static_cast<std::uint32_t>(s.n * 7 + s.d), mean);
    const std::vector<float> queries =
        gaussian(500, s.d, static_cast<std::uint32_t>(s.n + s.d), mean);
    IndexFlat index(s.d, metric);
    index.add(s.n, base.data());
    ASSERT_EQ(index.ntotal(), s.n);
    const Model model = model_of(s.n, s.d, base.data());

    std::set<int> ks = {1, 7, static_cast<int>(std::min<idx_t>(s.n, kMaxK))};
    if (s.n + 3 <= kMaxK) ks.insert(static_cast<int>(s.n + 3));
    for (const int k : ks) {
      for (const idx_t nq : kQueryCounts) {
        SCOPED_TRACE(testing::Message()
                     << "n=" << s.n << " d=" << s.d << " k=" << k << " nq=" << nq);
        const SearchResult r = run_search(index, nq, queries.data(), k);
        ASSERT_TRUE(matches_brute_force(metric, s.d, model, nq, queries.data(), k, r));
      }
    }
  }
}

TEST_P(FlatExact, DuplicatesAndExactTies) {
  const auto [metric, setting] = GetParam();
  ConfigGuard guard(config_for(setting));
  const int d = 4;
  const idx_t n = 700;
  // 3^4 = 81 distinct vectors among 700 rows: every vector has duplicates and every distance
  // is shared by many rows. Integer coordinates make all arithmetic exact.
  std::vector<float> base = small_integers(n, d, 3, 41);
  // Plus one vector repeated 50 times in a row, straddling block boundaries.
  const std::vector<float> same = {1.0f, 2.0f, 0.0f, 1.0f};
  for (int i = 0; i < 50; ++i) base.insert(base.end(), same.begin(), same.end());
  const idx_t total = n + 50;
  const std::vector<float> queries = small_integers(500, d, 4, 43);

  IndexFlat index(d, metric);
  index.add(total, base.data());
  const Model model = model_of(total, d, base.data());
  for (const int k : {1, 5, 64, 749, 750, 751}) {
    for (const idx_t nq : kQueryCounts) {
      SCOPED_TRACE(testing::Message() << "k=" << k << " nq=" << nq);
      const SearchResult r = run_search(index, nq, queries.data(), k);
      ASSERT_TRUE(matches_brute_force(metric, d, model, nq, queries.data(), k, r, 0.0));
    }
  }
  // The repeated vector as a query: its 50 copies are all at distance 0 (L2).
  if (metric == Metric::L2) {
    const SearchResult r = run_search(index, 1, same.data(), 50);
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(r.distances[static_cast<std::size_t>(i)], 0.0f);
      EXPECT_TRUE(model.at(r.labels[static_cast<std::size_t>(i)]) == std::vector<float>(same))
          << "rank " << i;
    }
  }
}

// Vectors at the norm bound (kMaxSquaredNorm; larger ones, like those the index-file fuzzer
// found in tests/fuzz/regressions/index_file/, are refused by add and load): every search path
// gives finite distances, even between x and -x, and returns min(k, n) rows.
TEST_P(FlatExact, VectorsAtTheNormBoundGiveFiniteDistances) {
  const auto [metric, setting] = GetParam();
  ConfigGuard guard(config_for(setting));
  const int d = 6;
  const idx_t n = 10;
  const float big = static_cast<float>(std::sqrt(kMaxSquaredNorm / d * 0.999));
  std::vector<float> base(static_cast<std::size_t>(n * d), 0.0f);
  for (idx_t i = 0; i < n; ++i) {
    float* row = base.data() + i * d;
    if (i < 3) {
      row[i] = static_cast<float>(i + 1);
    } else {
      for (int j = 0; j < d; ++j) row[j] = (i + j) % 2 ? big : -big;  // +-(big, -big, ...)
    }
  }
  IndexFlat index(d, metric);
  index.add(n, base.data());
  std::vector<float> queries(static_cast<std::size_t>(40 * d), 1.0f);
  std::copy(base.begin() + 3 * d, base.begin() + 5 * d, queries.begin());  // two at the bound
  for (const int k : {4, 10, 12}) {
    for (const idx_t nq : {idx_t{1}, idx_t{40}}) {
      SCOPED_TRACE(testing::Message() << "k=" << k << " nq=" << nq);
      const SearchResult r = run_search(index, nq, queries.data(), k);
      for (idx_t q = 0; q < nq; ++q) {
        for (idx_t j = 0; j < k; ++j) {
          const std::size_t at = static_cast<std::size_t>(q * k + j);
          if (j < n) {
            EXPECT_TRUE(std::isfinite(r.distances[at])) << "query " << q << " slot " << j;
            EXPECT_NE(r.labels[at], kNoLabel) << "query " << q << " slot " << j;
          } else {
            EXPECT_EQ(r.labels[at], kNoLabel);
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Settings, FlatExact,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::ValuesIn(kSettings)),
                         [](const auto& info) {
                           return to_string(std::get<0>(info.param)) + "_" +
                                  std::get<1>(info.param).name;
                         });

class FlatOps : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatOps, EmptyIndexReturnsOnlyPadding) {
  const Metric metric = GetParam();
  IndexFlat index(8, metric);
  EXPECT_EQ(index.ntotal(), 0);
  const std::vector<float> queries = gaussian(3, 8, 1);
  const SearchResult r = run_search(index, 3, queries.data(), 5);
  for (std::size_t i = 0; i < r.labels.size(); ++i) {
    EXPECT_EQ(r.labels[i], kNoLabel);
    EXPECT_EQ(r.distances[i], empty_distance(metric));
  }
}

TEST_P(FlatOps, NtotalCountsEveryAdd) {
  const Metric metric = GetParam();
  const int d = 6;
  IndexFlat index(d, metric);
  idx_t expected = 0;
  for (idx_t n : {1, 2, 17, 1000, 3}) {
    const std::vector<float> x = gaussian(n, d, static_cast<std::uint32_t>(n));
    index.add(n, x.data());
    expected += n;
    EXPECT_EQ(index.ntotal(), expected);
    EXPECT_EQ(static_cast<idx_t>(index.ids().size()), expected);
    EXPECT_EQ(static_cast<idx_t>(index.vectors().size()), expected * d);
  }
}

TEST_P(FlatOps, AddWithIdsReturnsUserIds) {
  const Metric metric = GetParam();
  const int d = 12;
  const idx_t n = 900;
  const std::vector<float> x = gaussian(n, d, 5);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i)
    ids[static_cast<std::size_t>(i)] = 1'000'000'000'000 + (n - i) * 7919;
  IndexFlat index(d, metric);
  index.add_with_ids(n, x.data(), ids.data());
  EXPECT_EQ(index.ids(), ids);

  Model model;
  for (idx_t i = 0; i < n; ++i)
    model[ids[static_cast<std::size_t>(i)]].assign(x.data() + i * d, x.data() + (i + 1) * d);
  const std::vector<float> queries = gaussian(40, d, 6);
  for (const int k : {1, 10, 900, 905}) {
    const SearchResult r = run_search(index, 40, queries.data(), k);
    EXPECT_TRUE(matches_brute_force(metric, d, model, 40, queries.data(), k, r)) << "k=" << k;
  }
  // A stored vector finds itself under its own id.
  const SearchResult self = run_search(index, 1, x.data() + 123 * d, 1);
  if (metric == Metric::L2) EXPECT_EQ(self.labels[0], ids[123]);
}

TEST_P(FlatOps, MixedAddAndAddWithIds) {
  const Metric metric = GetParam();
  const int d = 5;
  IndexFlat index(d, metric);
  Model model;
  auto add_seq = [&](idx_t n, std::uint32_t seed) {
    const std::vector<float> x = gaussian(n, d, seed);
    const std::vector<idx_t> held = index.ids();
    const idx_t first = held.empty() ? 0 : *std::max_element(held.begin(), held.end()) + 1;
    index.add(n, x.data());
    for (idx_t i = 0; i < n; ++i) model[first + i].assign(x.data() + i * d, x.data() + (i + 1) * d);
  };
  auto add_ids = [&](std::vector<idx_t> ids, std::uint32_t seed) {
    const idx_t n = static_cast<idx_t>(ids.size());
    const std::vector<float> x = gaussian(n, d, seed);
    index.add_with_ids(n, x.data(), ids.data());
    for (idx_t i = 0; i < n; ++i)
      model[ids[static_cast<std::size_t>(i)]].assign(x.data() + i * d, x.data() + (i + 1) * d);
  };

  add_seq(100, 1);                    // ids 0..99
  add_ids({500, 499, 1000, 250}, 2);  // ids out of order, with gaps
  add_seq(20, 3);                     // continues one past the largest id: 1001..1020
  add_ids({100, 101}, 4);             // fills a gap below
  add_seq(3, 5);                      // still 1021..1023

  std::vector<idx_t> expected_ids;
  for (idx_t i = 0; i < 100; ++i) expected_ids.push_back(i);
  for (idx_t id : {500, 499, 1000, 250}) expected_ids.push_back(id);
  for (idx_t i = 1001; i <= 1020; ++i) expected_ids.push_back(i);
  expected_ids.push_back(100);
  expected_ids.push_back(101);
  for (idx_t i = 1021; i <= 1023; ++i) expected_ids.push_back(i);
  EXPECT_EQ(index.ids(), expected_ids);
  EXPECT_EQ(index.ntotal(), static_cast<idx_t>(model.size()));

  const std::vector<float> queries = gaussian(30, d, 9);
  for (const int k : {1, 16, 129, 200}) {
    const SearchResult r = run_search(index, 30, queries.data(), k);
    EXPECT_TRUE(matches_brute_force(metric, d, model, 30, queries.data(), k, r)) << "k=" << k;
  }
}

TEST_P(FlatOps, RemoveIds) {
  const Metric metric = GetParam();
  const int d = 9;
  const idx_t n = 3000;
  const std::vector<float> x = gaussian(n, d, 12);
  IndexFlat index(d, metric);
  index.add(n, x.data());
  Model model = model_of(n, d, x.data());

  // Every third id, plus absent ids (negative, beyond the end) and a repeat.
  std::vector<idx_t> remove;
  for (idx_t id = 0; id < n; id += 3) remove.push_back(id);
  remove.push_back(-4);
  remove.push_back(n + 10);
  remove.push_back(3);
  const idx_t expected_removed = (n + 2) / 3;
  EXPECT_EQ(index.remove_ids(static_cast<idx_t>(remove.size()), remove.data()), expected_removed);
  for (idx_t id = 0; id < n; id += 3) model.erase(id);
  EXPECT_EQ(index.ntotal(), n - expected_removed);

  const std::vector<float> queries = gaussian(50, d, 13);
  for (const int k : {1, 10, 2000, 2048}) {
    const SearchResult r = run_search(index, 50, queries.data(), k);
    EXPECT_TRUE(matches_brute_force(metric, d, model, 50, queries.data(), k, r)) << "k=" << k;
    for (idx_t label : r.labels) {
      EXPECT_TRUE(label == kNoLabel || label % 3 != 0) << "removed id " << label << " returned";
    }
  }
  // Removing only absent ids changes nothing.
  const std::vector<idx_t> absent = {0, 3, 6, n + 100};
  EXPECT_EQ(index.remove_ids(static_cast<idx_t>(absent.size()), absent.data()), 0);
  EXPECT_EQ(index.ntotal(), n - expected_removed);
  EXPECT_EQ(index.remove_ids(0, nullptr), 0);

  // Reconstruct still finds the survivors; new ids never reuse removed ones.
  std::vector<float> out(static_cast<std::size_t>(d));
  index.reconstruct(1, out.data());
  EXPECT_EQ(out, model.at(1));
  const std::vector<float> more = gaussian(2, d, 14);
  index.add(2, more.data());
  EXPECT_EQ(index.ids()[static_cast<std::size_t>(index.ntotal() - 2)], n);
  EXPECT_EQ(index.ids()[static_cast<std::size_t>(index.ntotal() - 1)], n + 1);
  model[n].assign(more.begin(), more.begin() + d);
  model[n + 1].assign(more.begin() + d, more.end());
  const SearchResult r = run_search(index, 50, queries.data(), 25);
  EXPECT_TRUE(matches_brute_force(metric, d, model, 50, queries.data(), 25, r));

  // Remove everything that is left.
  std::vector<idx_t> all = index.ids();
  EXPECT_EQ(index.remove_ids(static_cast<idx_t>(all.size()), all.data()),
            static_cast<idx_t>(all.size()));
  EXPECT_EQ(index.ntotal(), 0);
  const SearchResult none = run_search(index, 2, queries.data(), 3);
  for (idx_t label : none.labels) EXPECT_EQ(label, kNoLabel);
}

TEST_P(FlatOps, RemoveIdsWithUserIds) {
  const Metric metric = GetParam();
  const int d = 3;
  const std::vector<float> x = gaussian(6, d, 15);
  const std::vector<idx_t> ids = {70, 10, 50, 30, 60, 20};
  IndexFlat index(d, metric);
  index.add_with_ids(6, x.data(), ids.data());
  const std::vector<idx_t> remove = {50, 20, 40};
  EXPECT_EQ(index.remove_ids(3, remove.data()), 2);
  EXPECT_EQ(index.ids(), (std::vector<idx_t>{70, 10, 30, 60}));
  Model model;
  for (std::size_t i : {0u, 1u, 3u, 4u})
    model[ids[i]].assign(x.begin() + static_cast<std::ptrdiff_t>(i) * d,
                         x.begin() + static_cast<std::ptrdiff_t>(i + 1) * d);
  const std::vector<float> queries = gaussian(4, d, 16);
  const SearchResult r = run_search(index, 4, queries.data(), 6);
  EXPECT_TRUE(matches_brute_force(metric, d, model, 4, queries.data(), 6, r));
}

TEST_P(FlatOps, ReconstructReturnsTheStoredVector) {
  const Metric metric = GetParam();
  const int d = 129;
  const std::vector<float> x = gaussian(40, d, 17);
  std::vector<idx_t> ids(40);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<idx_t>(1000 - 3 * i);
  IndexFlat index(d, metric);
  index.add_with_ids(40, x.data(), ids.data());
  std::vector<float> out(d);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    index.reconstruct(ids[i], out.data());
    EXPECT_TRUE(std::equal(out.begin(), out.end(), x.begin() + static_cast<std::ptrdiff_t>(i) * d))
        << "id " << ids[i];
  }
  EXPECT_EQ(index.vectors(), x);
}

TEST_P(FlatOps, ReconstructNReadsConsecutiveIds) {
  const int d = 7;
  const std::vector<float> x = gaussian(30, d, 5);
  IndexFlat index(d, GetParam());
  index.add(30, x.data());
  std::vector<float> out(5 * d);
  index.reconstruct_n(10, 5, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), x.begin() + 10 * d));
  index.reconstruct_n(3, 0, nullptr);  // nothing to copy
  EXPECT_THROW(index.reconstruct_n(28, 5, out.data()), InvalidArgument);  // ids 30.. absent
  EXPECT_THROW(index.reconstruct_n(-1, 2, out.data()), InvalidArgument);
  EXPECT_THROW(index.reconstruct_n(0, -2, out.data()), InvalidArgument);
}

TEST_P(FlatOps, ResetEmptiesAndRestartsIds) {
  const Metric metric = GetParam();
  const int d = 4;
  const std::vector<float> x = gaussian(50, d, 18);
  IndexFlat index(d, metric);
  index.add(50, x.data());
  const std::vector<idx_t> some = {900, 901};
  index.add_with_ids(2, x.data(), some.data());
  index.reset();
  EXPECT_EQ(index.ntotal(), 0);
  EXPECT_TRUE(index.ids().empty());
  const SearchResult empty = run_search(index, 1, x.data(), 4);
  for (idx_t label : empty.labels) EXPECT_EQ(label, kNoLabel);

  index.add(10, x.data());
  std::vector<idx_t> expected(10);
  for (idx_t i = 0; i < 10; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(index.ids(), expected);
  const SearchResult r = run_search(index, 5, x.data(), 10);
  EXPECT_TRUE(matches_brute_force(metric, d, model_of(10, d, x.data()), 5, x.data(), 10, r));
}

TEST_P(FlatOps, ManyAddsMatchOneAdd) {
  const Metric metric = GetParam();
  const int d = 16;
  const idx_t n = 1500;
  const std::vector<float> x = gaussian(n, d, 19);
  IndexFlat one(d, metric), many(d, metric);
  one.add(n, x.data());
  for (idx_t i = 0; i < n;) {
    const idx_t len = std::min<idx_t>(1 + i % 97, n - i);
    many.add(len, x.data() + i * d);
    i += len;
  }
  const std::vector<float> queries = gaussian(20, d, 20);
  const SearchResult a = run_search(one, 20, queries.data(), 30);
  const SearchResult b = run_search(many, 20, queries.data(), 30);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.distances, b.distances);
}

TEST_P(FlatOps, ConcurrentSearchesAgree) {
  const Metric metric = GetParam();
  const int d = 32;
  const idx_t n = 5000;
  const std::vector<float> x = gaussian(n, d, 21);
  IndexFlat index(d, metric);
  index.add(n, x.data());
  const std::vector<float> queries = gaussian(64, d, 22);
  const SearchResult want = run_search(index, 64, queries.data(), 20);
  std::vector<SearchResult> got(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] { got[t] = run_search(index, 64, queries.data(), 20); });
  }
  for (std::thread& t : threads) t.join();
  for (std::size_t t = 0; t < got.size(); ++t) {
    EXPECT_EQ(got[t].labels, want.labels) << "thread " << t;
    EXPECT_EQ(got[t].distances, want.distances) << "thread " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, FlatOps, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

// The same searches with each SIMD kernel set this CPU can run (the default is the widest).
class FlatKernelSets : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!cpu::select_scan_kernels(GetParam())) GTEST_SKIP() << GetParam() << " not available here";
  }
  void TearDown() override { cpu::select_scan_kernels("best"); }
};

TEST_P(FlatKernelSets, MatchBruteForce) {
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    for (const int d : {1, 5, 16, 129}) {
      const idx_t n = 777;
      const std::vector<float> base = gaussian(n, d, 30u + static_cast<std::uint32_t>(d), 1.0f);
      const std::vector<float> queries =
          gaussian(500, d, 31u + static_cast<std::uint32_t>(d), 1.0f);
      IndexFlat index(d, metric);
      index.add(n, base.data());
      const Model model = model_of(n, d, base.data());
      for (const int k : {1, 10, 777, 800}) {
        for (const idx_t nq : kQueryCounts) {
          SCOPED_TRACE(testing::Message()
                       << to_string(metric) << " d=" << d << " k=" << k << " nq=" << nq);
          const SearchResult r = run_search(index, nq, queries.data(), k);
          ASSERT_TRUE(matches_brute_force(metric, d, model, nq, queries.data(), k, r));
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, FlatKernelSets, ::testing::Values("portable", "avx2", "avx512"),
                         [](const auto& info) { return std::string(info.param); });

// Minimal .fvecs reader: int32 dimension, then that many float32 values, per record.
std::vector<float> read_fvecs_local(const std::string& path, int& d) {
  std::vector<float> out;
  d = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  std::int32_t dim = 0;
  while (std::fread(&dim, sizeof dim, 1, f) == 1) {
    if (dim <= 0 || (d != 0 && dim != d)) break;
    d = dim;
    const std::size_t old = out.size();
    out.resize(old + static_cast<std::size_t>(dim));
    if (std::fread(out.data() + old, sizeof(float), static_cast<std::size_t>(dim), f) !=
        static_cast<std::size_t>(dim)) {
      out.resize(old);
      break;
    }
  }
  std::fclose(f);
  return out;
}

TEST(FlatRealData, Sift5kQueriesMatchBruteForce) {
  const std::string base_path = KNNX_SHARED_DATA_DIR "/sift5k_base.fvecs";
  const std::string query_path = KNNX_SHARED_DATA_DIR "/sift5k_query3.fvecs";
  if (!std::filesystem::exists(base_path) || !std::filesystem::exists(query_path)) {
    GTEST_SKIP() << "SIFT sample not found at " << base_path;
  }
  int d = 0, dq = 0;
  const std::vector<float> base = read_fvecs_local(base_path, d);
  const std::vector<float> queries = read_fvecs_local(query_path, dq);
  ASSERT_EQ(d, 128);
  ASSERT_EQ(dq, 128);
  const idx_t n = static_cast<idx_t>(base.size()) / d;
  const idx_t nq = static_cast<idx_t>(queries.size()) / d;
  ASSERT_EQ(n, 5000);
  ASSERT_EQ(nq, 3);
  const Model model = model_of(n, d, base.data());

  for (const Setting& setting : kSettings) {
    ConfigGuard guard(config_for(setting));
    for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
      IndexFlat index(d, metric);
      index.add(n, base.data());
      for (const int k : {1, 10, 100, 2048}) {
        SCOPED_TRACE(testing::Message() << setting.name << " " << to_string(metric) << " k=" << k);
        const SearchResult r = run_search(index, nq, queries.data(), k);
        // SIFT coordinates are integers below 256: every dot product and norm is an integer
        // below 2^24, so float32 computes the distances exactly.
        ASSERT_TRUE(matches_brute_force(metric, d, model, nq, queries.data(), k, r, 0.0));
      }
    }
  }
}

// The CPU backend is always exact, whatever precision a search asks for.
TEST(IndexFlatCpu, PrecisionUsedIsAlwaysExact) {
  IndexFlat index(8, Metric::L2);
  SearchParams fast;
  fast.precision = FlatPrecision::Fast;
  index.set_precision(FlatPrecision::Fast);
  EXPECT_EQ(index.precision_used(10000, 10), FlatPrecision::Exact);
  EXPECT_EQ(index.precision_used(10000, 10, &fast), FlatPrecision::Exact);
  SearchParams bad;
  bad.flat_overfetch = 0;
  EXPECT_THROW(index.precision_used(10, 10, &bad), InvalidArgument);
}

}  // namespace
}  // namespace knnx
