// IndexRefineFlat: re-ranked results carry exact distances, recall rises with k_factor (per call
// through SearchParamsRefine or on the index), ids and removal stay in step between the base
// and the exact vectors, and the factory's ",RFlat" suffix builds it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include "gaussian_data.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "search_result.hpp"

namespace knnx {
namespace {

constexpr int kDim = 16;
constexpr idx_t kN = 2000;
constexpr idx_t kNq = 30;
constexpr int kK = 10;

// Exact top-k labels (float64) of each query.
std::vector<idx_t> truth(const std::vector<float>& x, const std::vector<float>& q) {
  std::vector<idx_t> out;
  for (idx_t i = 0; i < kNq; ++i) {
    std::vector<std::pair<double, idx_t>> all;
    for (idx_t r = 0; r < kN; ++r) {
      double s = 0.0;
      for (int j = 0; j < kDim; ++j) {
        const double diff = double(q[i * kDim + j]) - x[r * kDim + j];
        s += diff * diff;
      }
      all.push_back({s, r});
    }
    std::partial_sort(all.begin(), all.begin() + kK, all.end());
    for (int j = 0; j < kK; ++j) out.push_back(all[j].second);
  }
  return out;
}

double recall(const std::vector<idx_t>& found, const std::vector<idx_t>& t) {
  idx_t hits = 0;
  for (idx_t i = 0; i < kNq; ++i) {
    const std::set<idx_t> s(t.begin() + i * kK, t.begin() + (i + 1) * kK);
    for (int j = 0; j < kK; ++j) hits += s.count(found[i * kK + j]);
  }
  return double(hits) / double(t.size());
}

TEST(IndexRefineFlat, KFactorRaisesRecallToExactDistances) {
  const std::vector<float> x = test::gaussian(kN, kDim, 21);
  const std::vector<float> q = test::gaussian(kNq, kDim, 22);
  const std::vector<idx_t> t = truth(x, q);
  IndexRefineFlat index(
      std::make_unique<IndexScalarQuantizer>(kDim, ScalarQuantizer::Type::QT_4bit));
  index.train(kN, x.data());
  index.add(kN, x.data());
  const test::SearchResult r1 = test::search(index, kNq, q.data(), kK);
  SearchParamsRefine wide;
  wide.k_factor = 8.0f;
  const test::SearchResult r8 = test::search(index, kNq, q.data(), kK, &wide);
  EXPECT_GT(recall(r8.labels, t), recall(r1.labels, t));
  EXPECT_GE(recall(r8.labels, t), 0.95);
  EXPECT_EQ(index.k_factor(), 1.0f);  // params apply to the call only
  // Distances are exact: those of the stored float32 vectors.
  for (idx_t i = 0; i < kNq; ++i) {
    for (int j = 0; j < kK; ++j) {
      const idx_t id = r8.labels[i * kK + j];
      double s = 0.0;
      for (int c = 0; c < kDim; ++c) {
        const double diff = double(q[i * kDim + c]) - x[id * kDim + c];
        s += diff * diff;
      }
      EXPECT_NEAR(r8.distances[i * kK + j], s, 1e-4 * (s + 1.0));
    }
  }
  index.set_k_factor(8.0f);
  EXPECT_EQ(test::search(index, kNq, q.data(), kK).labels, r8.labels);
}

TEST(IndexRefineFlat, BaseParamsAndFiltersReachTheBase) {
  const std::vector<float> x = test::gaussian(kN, kDim, 23);
  std::unique_ptr<Index> built = index_factory(kDim, "IVF16,SQ8,RFlat");
  auto* index = dynamic_cast<IndexRefineFlat*>(built.get());
  ASSERT_NE(index, nullptr);
  EXPECT_NE(dynamic_cast<const IndexIVFScalarQuantizer*>(&index->base_index()), nullptr);
  index->train(kN, x.data());
  index->add(kN, x.data());
  SearchParamsIVF ivf;
  ivf.nprobe = 16;
  IDSelectorRange range(0, 50);
  ivf.sel = &range;
  SearchParamsRefine params;
  params.base_params = &ivf;
  params.k_factor = 4.0f;
  const test::SearchResult r = test::search(*index, 5, x.data(), kK, &params);
  for (idx_t label : r.labels) EXPECT_TRUE(label >= 0 && label < 50) << label;
  EXPECT_EQ(r.labels[0], 0);  // the first vector finds itself, at distance 0
  EXPECT_EQ(r.distances[0], 0.0f);
  // Base params alone are passed through too.
  EXPECT_NO_THROW(test::search(*index, 5, x.data(), kK, &ivf));
  SearchParamsRefine bad;
  bad.k_factor = 0.5f;
  std::vector<float> d(kK);
  std::vector<idx_t> l(kK);
  EXPECT_THROW(index->search(1, x.data(), kK, d.data(), l.data(), &bad), InvalidArgument);
}

TEST(IndexRefineFlat, IdsRemovalAndReconstructStayInStep) {
  const std::vector<float> x = test::gaussian(300, kDim, 24);
  IndexRefineFlat index(
      std::make_unique<IndexScalarQuantizer>(kDim, ScalarQuantizer::Type::QT_fp16), 2.0f);
  std::vector<idx_t> ids(300);
  std::iota(ids.begin(), ids.end(), 100);
  index.add_with_ids(300, x.data(), ids.data());
  EXPECT_THROW(index.add_with_ids(1, x.data(), ids.data()), InvalidArgument);
  EXPECT_EQ(index.ntotal(), 300);
  EXPECT_EQ(index.base_index().ntotal(), 300);
  std::vector<float> v(kDim);
  index.reconstruct(105, v.data());
  EXPECT_TRUE(std::equal(v.begin(), v.end(), x.begin() + 5 * kDim));  // exact
  const idx_t gone[] = {105, 7};
  EXPECT_EQ(index.remove_ids(2, gone), 1);
  EXPECT_EQ(index.base_index().ntotal(), 299);
  EXPECT_THROW(index.reconstruct(105, v.data()), InvalidArgument);
  index.add(1, x.data());  // numbered past the largest id ever held
  EXPECT_NO_THROW(index.reconstruct(400, v.data()));
  index.reset();
  EXPECT_EQ(index.ntotal(), 0);
  EXPECT_EQ(index.base_index().ntotal(), 0);
}

TEST(IndexRefineFlat, BadInputGetsTypedErrors) {
  EXPECT_THROW(IndexRefineFlat(nullptr), InvalidArgument);
  EXPECT_THROW(IndexRefineFlat(std::make_unique<IndexFlat>(kDim), 0.0f), InvalidArgument);
  auto full = std::make_unique<IndexFlat>(kDim);
  const std::vector<float> x = test::gaussian(3, kDim, 25);
  full->add(3, x.data());
  EXPECT_THROW(IndexRefineFlat(std::move(full)), InvalidArgument);
  IndexRefineFlat index(std::make_unique<IndexFlat>(kDim));
  EXPECT_THROW(index.set_k_factor(std::nanf("")), InvalidArgument);
  EXPECT_THROW(index_factory(kDim, "RFlat"), InvalidArgument);
}

}  // namespace
}  // namespace knnx
