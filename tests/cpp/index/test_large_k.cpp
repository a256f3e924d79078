// k above the block-selection sizes (2048) on the CPU: exact flat and IVF-Flat results against a
// float64 brute force, ties decided by the smaller label, filters, padding past ntotal, and the
// compressed, refine, shard and replica indexes agreeing with their own small-k results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "brute_force.hpp"
#include "gaussian_data.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

constexpr int kDim = 16;
constexpr idx_t kRows = 6000;

struct Result {
  std::vector<float> dist;
  std::vector<idx_t> lab;
};

Result run(const Index& index, idx_t nq, const float* q, int k, const SearchParams* p = nullptr) {
  Result r{std::vector<float>(static_cast<std::size_t>(nq * k), -7.0f),
           std::vector<idx_t>(static_cast<std::size_t>(nq * k), -7)};
  index.search(nq, q, k, r.dist.data(), r.lab.data(), p);
  return r;
}

// Query qi's results are the exact k best of the admitted rows (float64 ranks, tolerance for
// float32 rounding), distinct, each at its true distance, padded past the admitted count.
void expect_exact(const std::vector<float>& base, const float* q, Metric metric, int k,
                  const float* dist, const idx_t* lab, const IDSelector* sel = nullptr) {
  std::vector<double> all;
  for (idx_t i = 0; i < kRows; ++i) {
    if (sel && !sel->is_member(i)) continue;
    all.push_back(test::score(q, base.data() + i * kDim, kDim, metric));
  }
  const bool l2 = metric == Metric::L2;
  if (l2) {
    std::sort(all.begin(), all.end());
  } else {
    std::sort(all.begin(), all.end(), std::greater<>());
  }
  std::set<idx_t> seen;
  for (int j = 0; j < k; ++j) {
    if (static_cast<std::size_t>(j) >= all.size()) {
      ASSERT_EQ(lab[j], kNoLabel) << "slot " << j;
      ASSERT_EQ(dist[j], empty_distance(metric)) << "slot " << j;
      continue;
    }
    ASSERT_GE(lab[j], 0) << "slot " << j;
    ASSERT_LT(lab[j], kRows);
    if (sel) ASSERT_TRUE(sel->is_member(lab[j])) << "slot " << j;
    ASSERT_TRUE(seen.insert(lab[j]).second) << "label repeated: " << lab[j];
    const double tol = 1e-4 * std::max(1.0, std::abs(all[static_cast<std::size_t>(j)]));
    ASSERT_NEAR(dist[j], all[static_cast<std::size_t>(j)], tol) << "slot " << j;
    const double mine = test::score(q, base.data() + lab[j] * kDim, kDim, metric);
    ASSERT_NEAR(dist[j], mine, tol) << "slot " << j;
    if (j > 0) ASSERT_TRUE(l2 ? dist[j - 1] <= dist[j] : dist[j - 1] >= dist[j]) << "slot " << j;
  }
}

class LargeK : public ::testing::TestWithParam<Metric> {
 protected:
  std::vector<float> base_ = test::gaussian(kRows, kDim, 11);
  std::vector<float> queries_ = test::gaussian(3, kDim, 12);
};

TEST_P(LargeK, FlatIsExactAndPadsPastNtotal) {
  IndexFlat index(kDim, GetParam());
  index.add(kRows, base_.data());
  for (const int k : {2049, 4096, static_cast<int>(kRows), 8192}) {
    const Result r = run(index, 3, queries_.data(), k);
    for (idx_t q = 0; q < 3; ++q) {
      expect_exact(base_, queries_.data() + q * kDim, GetParam(), k, r.dist.data() + q * k,
                   r.lab.data() + q * k);
    }
  }
}

TEST_P(LargeK, FlatHonoursSelectorsPastTheAdmittedCount) {
  IndexFlat index(kDim, GetParam());
  index.add(kRows, base_.data());
  const IDSelectorRange sel(1000, 4500);  // 3500 admitted, fewer than k
  SearchParams params;
  params.sel = &sel;
  const int k = 4096;
  const Result r = run(index, 3, queries_.data(), k, &params);
  for (idx_t q = 0; q < 3; ++q) {
    expect_exact(base_, queries_.data() + q * kDim, GetParam(), k, r.dist.data() + q * k,
                 r.lab.data() + q * k, &sel);
  }
}

TEST_P(LargeK, IvfFlatProbingEveryListEqualsFlat) {
  IndexFlat flat(kDim, GetParam());
  IndexIVFFlat ivf(kDim, 8, GetParam());
  ivf.train(kRows, base_.data());
  flat.add(kRows, base_.data());
  ivf.add(kRows, base_.data());
  SearchParamsIVF all;
  all.nprobe = 8;
  for (const int k : {3000, 8192}) {
    const Result r = run(ivf, 3, queries_.data(), k, &all);
    for (idx_t q = 0; q < 3; ++q) {
      expect_exact(base_, queries_.data() + q * kDim, GetParam(), k, r.dist.data() + q * k,
                   r.lab.data() + q * k);
    }
  }
  const IDSelectorRange sel(0, 2500);
  all.sel = &sel;
  const Result r = run(ivf, 3, queries_.data(), 3000, &all);
  for (idx_t q = 0; q < 3; ++q) {
    expect_exact(base_, queries_.data() + q * kDim, GetParam(), 3000, r.dist.data() + q * 3000,
                 r.lab.data() + q * 3000, &sel);
  }
}

// Every stored vector three times: equal distances come out by ascending label, exactly k of
// them, whatever the threads' split.
TEST_P(LargeK, TiesAreDecidedByTheSmallerLabel) {
  const idx_t distinct = 1500;
  std::vector<float> base;
  for (int copy = 0; copy < 3; ++copy)
    base.insert(base.end(), base_.begin(), base_.begin() + distinct * kDim);
  IndexFlat index(kDim, GetParam());
  index.add(3 * distinct, base.data());
  const int k = 2500;
  const Result r = run(index, 3, queries_.data(), k);
  for (idx_t q = 0; q < 3; ++q) {
    const idx_t* lab = r.lab.data() + q * k;
    const float* dist = r.dist.data() + q * k;
    for (int j = 1; j < k; ++j) {
      ASSERT_NE(lab[j], kNoLabel);
      if (dist[j] == dist[j - 1] && lab[j] % distinct == lab[j - 1] % distinct) {
        ASSERT_LT(lab[j - 1], lab[j]) << "slot " << j;
      }
    }
    // Copies enter together: a row's smaller-labelled copies are in whenever it is.
    const std::set<idx_t> in(lab, lab + k);
    for (int j = 0; j < k; ++j) {
      if (lab[j] >= distinct) ASSERT_TRUE(in.count(lab[j] - distinct)) << "slot " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, LargeK, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) {
                           return std::string(info.param == Metric::L2 ? "L2" : "IP");
                         });

// The compressed, refine, shard and replica indexes: a large-k search starts with the small-k
// result (selection is exact on each index's own scores, ties by label; refine re-ranks more
// candidates, so its first results are as good or better) and is sorted, distinct and padded
// past ntotal.
TEST(LargeKIndexes, LargeKExtendsTheSmallKResult) {
  const std::vector<float> base = test::gaussian(kRows, kDim, 21);
  const std::vector<float> queries = test::gaussian(4, kDim, 22);
  const int small = 40;
  std::vector<std::pair<std::string, std::unique_ptr<Index>>> indexes;
  for (const char* spec :
       {"SQ8", "PQ4", "IVF8,PQ4", "PQ8x4fs", "IVF8,PQ8x4fs", "SQ8,RFlat", "IVF8,Flat"}) {
    indexes.emplace_back(spec, index_factory(kDim, spec));
  }
  indexes.emplace_back(
      "shards", std::make_unique<IndexShards>(kDim, "Flat", std::vector<Device>(3, Device::cpu())));
  indexes.emplace_back("replicas", std::make_unique<IndexReplicas>(
                                       kDim, "Flat", std::vector<Device>(2, Device::cpu())));
  for (auto& [name, index] : indexes) {
    SCOPED_TRACE(name);
    if (!index->is_trained()) index->train(2000, base.data());
    index->add(kRows, base.data());
    SearchParamsIVF probe_all;
    probe_all.nprobe = 8;
    const bool ivf = name.rfind("IVF", 0) == 0;
    const bool refine = name.find("RFlat") != std::string::npos;
    const SearchParams* p = ivf ? &probe_all : nullptr;
    for (const int k : {3000, 7000}) {
      const Result big = run(*index, 4, queries.data(), k, p);
      const Result few = run(*index, 4, queries.data(), small, p);
      for (idx_t q = 0; q < 4; ++q) {
        const float* d = big.dist.data() + q * k;
        const idx_t* l = big.lab.data() + q * k;
        for (int j = 0; j < small; ++j) {
          const std::size_t at = static_cast<std::size_t>(q * small + j);
          if (refine) {  // more base candidates to re-rank: as good or better
            ASSERT_LE(d[j], few.dist[at]) << "slot " << j;
            continue;
          }
          ASSERT_EQ(l[j], few.lab[at]) << "slot " << j;
          ASSERT_EQ(d[j], few.dist[at]) << "slot " << j;
        }
        std::set<idx_t> seen;
        for (int j = 0; j < k; ++j) {
          if (j >= kRows) {
            ASSERT_EQ(l[j], kNoLabel) << "slot " << j;
            continue;
          }
          ASSERT_GE(l[j], 0) << "slot " << j;
          ASSERT_TRUE(seen.insert(l[j]).second) << "slot " << j;
          if (j > 0) ASSERT_LE(d[j - 1], d[j]) << "slot " << j;
        }
      }
    }
  }
}

TEST(LargeKLimit, TheErrorNamesTheLimitAndWhy) {
  IndexFlat index(kDim);
  const std::vector<float> base = test::gaussian(10, kDim, 1);
  index.add(10, base.data());
  std::vector<float> dist(1);
  std::vector<idx_t> lab(1);
  try {
    index.search(1, base.data(), kMaxK + 1, dist.data(), lab.data());
    FAIL() << "k above kMaxK was accepted";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("k must be in [1, " + std::to_string(kMaxK) + "]"), std::string::npos);
    EXPECT_NE(what.find("memory"), std::string::npos) << what;
  }
  EXPECT_GE(kMaxK, 16384);
}

}  // namespace
}  // namespace knnx
