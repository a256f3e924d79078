// IndexScalarQuantizer and IndexIVFScalarQuantizer on the CPU: search is the exact top-k over
// the decoded vectors (what reconstruct returns), recall against a float64 brute force over the
// original vectors stays where each type's precision puts it, and ids, filters, range search,
// removal and bad input behave as on IndexIVFFlat.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>
#include <utility>
#include <vector>

#include "gaussian_data.hpp"
#include "knnx/error.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/transform.hpp"
#include "search_result.hpp"

namespace knnx {
namespace {

using Type = ScalarQuantizer::Type;
using test::gaussian;

constexpr int kDim = 24;
constexpr idx_t kN = 2000;
constexpr idx_t kNq = 40;
constexpr int kK = 10;

const Type kTypes[] = {Type::QT_8bit, Type::QT_4bit, Type::QT_fp16, Type::QT_bf16};

// Exact k nearest (float64) of each query among rows (n x d) labelled labels[i]; best first.
std::vector<idx_t> brute_force(const std::vector<float>& rows, const std::vector<idx_t>& labels,
                               const std::vector<float>& queries, int d, int k, Metric metric,
                               std::vector<double>* distances = nullptr) {
  const idx_t n = static_cast<idx_t>(labels.size());
  const idx_t nq = static_cast<idx_t>(queries.size()) / d;
  std::vector<idx_t> out;
  for (idx_t q = 0; q < nq; ++q) {
    std::vector<std::pair<double, idx_t>> all;
    for (idx_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int j = 0; j < d; ++j) {
        const double a = queries[static_cast<std::size_t>(q * d + j)];
        const double b = rows[static_cast<std::size_t>(i * d + j)];
        s += metric == Metric::L2 ? (a - b) * (a - b) : -a * b;
      }
      all.push_back({s, labels[static_cast<std::size_t>(i)]});
    }
    std::sort(all.begin(), all.end());
    for (int j = 0; j < k; ++j) {
      out.push_back(all[static_cast<std::size_t>(j)].second);
      if (distances) {
        const double s = all[static_cast<std::size_t>(j)].first;
        distances->push_back(metric == Metric::L2 ? s : -s);
      }
    }
  }
  return out;
}

double recall(const std::vector<idx_t>& found, const std::vector<idx_t>& truth, int k) {
  idx_t hits = 0;
  for (std::size_t q = 0; q < truth.size() / k; ++q) {
    const std::set<idx_t> t(truth.begin() + q * k, truth.begin() + (q + 1) * k);
    for (int j = 0; j < k; ++j) hits += t.count(found[q * k + j]);
  }
  return static_cast<double>(hits) / static_cast<double>(truth.size());
}

std::unique_ptr<IndexScalarQuantizerBase> make(bool ivf, Type type, Metric metric,
                                               bool by_residual = true) {
  if (ivf) {
    auto index = std::make_unique<IndexIVFScalarQuantizer>(kDim, 16, type, metric, by_residual);
    index->set_n_probe(16);  // every list: the search is exhaustive over the codes
    return index;
  }
  return std::make_unique<IndexScalarQuantizer>(kDim, type, metric);
}

std::vector<float> reconstructions(const Index& index, const std::vector<idx_t>& ids) {
  std::vector<float> out(ids.size() * static_cast<std::size_t>(index.dim()));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    index.reconstruct(ids[i], out.data() + i * static_cast<std::size_t>(index.dim()));
  }
  return out;
}

TEST(IndexScalarQuantizer, SearchIsExactOverDecodedVectors) {
  const idx_t n = 500;  // reconstruct is O(ntotal): keep the all-pairs check small
  const std::vector<float> x = gaussian(n, kDim, 1);
  const std::vector<float> q = gaussian(kNq, kDim, 2);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  for (bool ivf : {false, true}) {
    for (Type type : kTypes) {
      for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
        for (bool by_residual : {true, false}) {
          if (!ivf && !by_residual) continue;
          SCOPED_TRACE(testing::Message()
                       << "ivf " << ivf << " " << ScalarQuantizer::type_name(type) << " metric "
                       << int(metric) << " residual " << by_residual);
          auto index = make(ivf, type, metric, by_residual);
          index->train(n, x.data());
          index->add(n, x.data());
          const test::SearchResult r = test::search(*index, kNq, q.data(), kK);
          std::vector<double> expected;
          brute_force(reconstructions(*index, ids), ids, q, kDim, kK, metric, &expected);
          for (std::size_t i = 0; i < expected.size(); ++i) {
            ASSERT_NEAR(r.distances[i], expected[i], 1e-4 * (std::fabs(expected[i]) + 1.0))
                << "result " << i;
          }
        }
      }
    }
  }
}

TEST(IndexScalarQuantizer, RecallAgainstFloat64BruteForce) {
  const std::vector<float> x = gaussian(kN, kDim, 3);
  const std::vector<float> q = gaussian(kNq, kDim, 4);
  std::vector<idx_t> ids(static_cast<std::size_t>(kN));
  std::iota(ids.begin(), ids.end(), 0);
  // Measured recall@10 on this data: 0.98-0.99 (SQ8), 0.79-0.83 (SQ4), 1.0 (fp16), 1.0 (bf16).
  const double floor_of[] = {0.93, 0.7, 0.99, 0.97};
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    const std::vector<idx_t> truth = brute_force(x, ids, q, kDim, kK, metric);
    for (bool ivf : {false, true}) {
      for (Type type : kTypes) {
        auto index = make(ivf, type, metric);
        index->train(kN, x.data());
        index->add(kN, x.data());
        const double r = recall(test::search(*index, kNq, q.data(), kK).labels, truth, kK);
        EXPECT_GE(r, floor_of[static_cast<int>(type)])
            << "ivf " << ivf << " " << ScalarQuantizer::type_name(type) << " metric "
            << int(metric);
      }
    }
  }
}

TEST(IndexIVFScalarQuantizer, NprobeTradesRecallForWork) {
  const std::vector<float> x = gaussian(kN, kDim, 5);
  const std::vector<float> q = gaussian(kNq, kDim, 6);
  IndexIVFScalarQuantizer index(kDim, 32, Type::QT_8bit);
  index.train(kN, x.data());
  index.add(kN, x.data());
  EXPECT_EQ(index.n_probe(), 1);
  std::vector<idx_t> ids(static_cast<std::size_t>(kN));
  std::iota(ids.begin(), ids.end(), 0);
  const std::vector<idx_t> truth = brute_force(x, ids, q, kDim, kK, Metric::L2);
  const double r1 = recall(test::search(index, kNq, q.data(), kK).labels, truth, kK);
  SearchParamsIVF all;
  all.nprobe = 32;
  const double r32 = recall(test::search(index, kNq, q.data(), kK, &all).labels, truth, kK);
  EXPECT_LT(r1, r32);
  EXPECT_GE(r32, 0.9);
  EXPECT_EQ(index.n_probe(), 1);  // params apply to the call only
  const std::vector<idx_t> sizes = index.list_sizes();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), idx_t{0}), kN);
}

TEST(IndexScalarQuantizer, IdsFiltersRangeSearchAndRemoval) {
  const std::vector<float> x = gaussian(300, kDim, 7);
  for (bool ivf : {false, true}) {
    auto index = make(ivf, Type::QT_8bit, Metric::L2);
    index->train(300, x.data());
    std::vector<idx_t> ids(300);
    for (idx_t i = 0; i < 300; ++i) ids[static_cast<std::size_t>(i)] = 1000 + 3 * i;
    index->add_with_ids(300, x.data(), ids.data());
    EXPECT_EQ(index->ntotal(), 300);
    EXPECT_THROW(index->add_with_ids(1, x.data(), ids.data()), InvalidArgument);  // taken
    // A vector finds itself (its decoded copy is nearest).
    const test::SearchResult self = test::search(*index, 1, x.data() + 5 * kDim, 1);
    EXPECT_EQ(self.labels[0], 1015);
    // Filters: only admitted ids come back.
    IDSelectorRange range(1000, 1030);  // ids 1000, 1003, ..., 1027: ten of them
    SearchParamsIVF ivf_params;
    ivf_params.nprobe = 16;
    SearchParams flat_params;
    SearchParams& params = ivf ? ivf_params : flat_params;
    params.sel = &range;
    const test::SearchResult filtered = test::search(*index, 1, x.data(), 20, &params);
    int admitted = 0;
    for (idx_t label : filtered.labels) {
      if (label >= 0) {
        ++admitted;
        EXPECT_TRUE(label >= 1000 && label < 1030) << label;
      }
    }
    EXPECT_EQ(admitted, 10);
    // Range search with the 5th distance as radius (just above it) finds the 5 nearest.
    params.sel = nullptr;
    const test::SearchResult knn = test::search(*index, 1, x.data(), 5, &params);
    const RangeSearchResult rs =
        index->range_search(1, x.data(), std::nextafter(knn.distances[4], 1e30f), &params);
    ASSERT_EQ(rs.lims[1], 5);
    EXPECT_EQ(rs.labels, knn.labels);
    EXPECT_EQ(rs.distances, knn.distances);
    // Removal, by ids and by selector.
    const idx_t gone[] = {1000, 1003, 7};
    EXPECT_EQ(index->remove_ids(3, gone), 2);
    EXPECT_EQ(index->remove_ids(range), 8);
    EXPECT_EQ(index->ntotal(), 290);
    std::vector<float> out(kDim);
    EXPECT_THROW(index->reconstruct(1000, out.data()), InvalidArgument);
    index->reconstruct(1030, out.data());
    for (int j = 0; j < kDim; ++j) EXPECT_NEAR(out[j], x[10 * kDim + j], 0.05);
    // add() numbers past the largest id ever held.
    index->add(1, x.data());
    EXPECT_NO_THROW(index->reconstruct(1000 + 3 * 299 + 1, out.data()));
    index->reset();
    EXPECT_EQ(index->ntotal(), 0);
    EXPECT_TRUE(index->is_trained());
  }
}

TEST(IndexScalarQuantizer, TrainingStates) {
  IndexScalarQuantizer sq8(kDim, Type::QT_8bit);
  EXPECT_FALSE(sq8.is_trained());
  IndexScalarQuantizer fp16(kDim, Type::QT_fp16);
  EXPECT_TRUE(fp16.is_trained());
  const std::vector<float> x = gaussian(50, kDim, 8);
  fp16.add(50, x.data());  // no training needed
  EXPECT_EQ(fp16.ntotal(), 50);
  EXPECT_EQ(fp16.code_size(), 2u * kDim);
  IndexIVFScalarQuantizer ivf(kDim, 4, Type::QT_fp16);
  EXPECT_FALSE(ivf.is_trained());  // the centroids still need training
}

TEST(IndexScalarQuantizer, BadInputGetsTypedErrors) {
  const std::vector<float> x = gaussian(50, kDim, 9);
  IndexScalarQuantizer sq8(kDim, Type::QT_8bit);
  EXPECT_THROW(sq8.add(50, x.data()), InvalidArgument);  // untrained
  std::vector<float> d(kK);
  std::vector<idx_t> l(kK);
  EXPECT_THROW(sq8.search(1, x.data(), kK, d.data(), l.data()), InvalidArgument);
  EXPECT_THROW(sq8.quantizer(), InvalidArgument);
  EXPECT_THROW(IndexScalarQuantizer(kDim, static_cast<Type>(9)), InvalidArgument);
  EXPECT_THROW(IndexScalarQuantizer(0, Type::QT_8bit), InvalidArgument);
  EXPECT_THROW(IndexIVFScalarQuantizer(kDim, 0, Type::QT_8bit), InvalidArgument);
  IndexIVFScalarQuantizer ivf(kDim, 64, Type::QT_8bit);
  EXPECT_THROW(ivf.train(50, x.data()), InvalidArgument);  // fewer vectors than lists
  EXPECT_FALSE(ivf.is_trained());
  sq8.train(50, x.data());
  sq8.add(50, x.data());
  EXPECT_THROW(sq8.train(50, x.data()), InvalidArgument);  // holds vectors
  SearchParamsIVF ivf_params;
  EXPECT_THROW(sq8.search(1, x.data(), kK, d.data(), l.data(), &ivf_params), InvalidArgument);
  // CUDA: the index runs there where a device exists (tests/cpp/cuda/test_sq_cuda.cpp); a build
  // without CUDA, or a CUDA build with no device, refuses the device itself.
  if (cuda_device_count() > 0) {
    EXPECT_EQ(IndexScalarQuantizer(kDim, Type::QT_8bit, Metric::L2, Device::cuda(0)).device(),
              Device::cuda(0));
  } else {
    EXPECT_THROW(IndexScalarQuantizer(kDim, Type::QT_8bit, Metric::L2, Device::cuda(0)), Error);
  }
}

}  // namespace
}  // namespace knnx

namespace knnx {
namespace {

TEST(IndexScalarQuantizer, FactoryStrings) {
  using Type = ScalarQuantizer::Type;
  const std::pair<const char*, Type> flat[] = {{"SQ8", Type::QT_8bit},
                                               {"SQ4", Type::QT_4bit},
                                               {"SQfp16", Type::QT_fp16},
                                               {"SQbf16", Type::QT_bf16}};
  for (const auto& [spec, type] : flat) {
    const std::unique_ptr<Index> index = index_factory(kDim, spec, Metric::InnerProduct);
    const auto* sq = dynamic_cast<const IndexScalarQuantizer*>(index.get());
    ASSERT_NE(sq, nullptr) << spec;
    EXPECT_EQ(sq->quantizer_type(), type);
    EXPECT_EQ(sq->metric(), Metric::InnerProduct);
  }
  const std::unique_ptr<Index> ivf = index_factory(kDim, "IVF64,SQfp16");
  const auto* i = dynamic_cast<const IndexIVFScalarQuantizer*>(ivf.get());
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->n_lists(), 64);
  EXPECT_TRUE(i->by_residual());
  EXPECT_EQ(i->quantizer_type(), Type::QT_fp16);
  const std::unique_ptr<Index> chain = index_factory(kDim, "PCA8,IVF4,SQ8");
  const auto* pre = dynamic_cast<const IndexPreTransform*>(chain.get());
  ASSERT_NE(pre, nullptr);
  EXPECT_EQ(pre->index().dim(), 8);
  EXPECT_NE(dynamic_cast<const IndexIVFScalarQuantizer*>(&pre->index()), nullptr);
  EXPECT_THROW(index_factory(kDim, "SQ6"), NotSupported);
  EXPECT_THROW(index_factory(kDim, "SQ8_direct"), NotSupported);
  EXPECT_THROW(index_factory(kDim, "SQ8,IVF4"), InvalidArgument);
}

}  // namespace
}  // namespace knnx
