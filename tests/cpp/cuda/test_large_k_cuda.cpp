// k past the block selection (2048) on a GPU: the radix selection (cuda/select/radix_select)
// of IndexFlat and IndexIVFFlat against a float64 brute force and the CPU indexes, for k =
// 2049 ... 16384, both metrics, ties at the cut (exactly k results, smaller row first),
// selectors, ids that are not row numbers, padding past ntotal, workspace-bounded chunks, and
// the KNNX_GPU_RADIX_MIN_K knob sending small k down the same path; the GPU PQ indexes refuse
// k past 2048.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::ConfigGuard;
using test::expect_exact;
using test::expect_same;
using test::Neighbours;
using test::random_vectors;
using test::search;

constexpr int kDim = 24;
constexpr idx_t kRows = 20000;
constexpr idx_t kQueries = 5;

class LargeKCuda : public ::testing::TestWithParam<std::tuple<Metric, int>> {
 protected:
  std::vector<float> base_ = random_vectors(kRows, kDim, 31);
  std::vector<float> queries_ = random_vectors(kQueries, kDim, 32);
};

// Few queries (the streaming path's range) and many (the GEMM path's) take the radix selection
// alike; each query's results are the exact k best.
TEST_P(LargeKCuda, FlatMatchesFloat64BruteForceAndTheCpu) {
  KNNX_REQUIRE_GPU();
  const auto [metric, k] = GetParam();
  IndexFlat gpu(kDim, metric, Device::cuda(0)), cpu(kDim, metric);
  gpu.add(kRows, base_.data());
  cpu.add(kRows, base_.data());
  const Neighbours r = search(gpu, queries_, kDim, k);
  for (idx_t q = 0; q < kQueries; ++q) {
    expect_exact(metric, queries_.data() + q * kDim, base_, kRows, kDim, k, r.dist.data() + q * k,
                 r.lab.data() + q * k, 1e-4);
    ASSERT_FALSE(HasFailure()) << "query " << q;
  }
  expect_same(r, search(cpu, queries_, kDim, k), k, "flat vs cpu");
  const auto many = random_vectors(40, kDim, 33);
  expect_same(search(gpu, many, kDim, k), search(cpu, many, kDim, k), k, "40 queries");
}

TEST_P(LargeKCuda, IvfProbingEveryListIsExactAndMatchesTheCpu) {
  KNNX_REQUIRE_GPU();
  const auto [metric, k] = GetParam();
  IndexIVFFlat gpu(kDim, 16, metric, Device::cuda(0)), cpu(kDim, 16, metric);
  cpu.train(kRows, base_.data());
  gpu.set_centroids(cpu.centroids().data());
  gpu.add(kRows, base_.data());
  cpu.add(kRows, base_.data());
  SearchParamsIVF all;
  all.nprobe = 16;
  const Neighbours r = search(gpu, queries_, kDim, k, &all);
  for (idx_t q = 0; q < kQueries; ++q) {
    expect_exact(metric, queries_.data() + q * kDim, base_, kRows, kDim, k, r.dist.data() + q * k,
                 r.lab.data() + q * k, 1e-4);
    ASSERT_FALSE(HasFailure()) << "query " << q;
  }
  SearchParamsIVF some;
  some.nprobe = 5;
  expect_same(search(gpu, queries_, kDim, k, &some), search(cpu, queries_, kDim, k, &some), k,
              "nprobe 5");
}

TEST_P(LargeKCuda, SelectorsAreHonoured) {
  KNNX_REQUIRE_GPU();
  const auto [metric, k] = GetParam();
  IndexFlat gpu(kDim, metric, Device::cuda(0)), cpu(kDim, metric);
  IndexIVFFlat gpu_ivf(kDim, 16, metric, Device::cuda(0)), cpu_ivf(kDim, 16, metric);
  cpu_ivf.train(kRows, base_.data());
  gpu_ivf.set_centroids(cpu_ivf.centroids().data());
  for (Index* index : std::initializer_list<Index*>{&gpu, &cpu, &gpu_ivf, &cpu_ivf}) {
    index->add(kRows, base_.data());
  }
  // Fewer admitted than k, and more (all rows at k = 16384).
  const IDSelectorRange few(3000, 3000 + k / 2);
  std::vector<idx_t> picked(static_cast<std::size_t>(kRows));
  std::iota(picked.begin(), picked.end(), idx_t{0});
  std::shuffle(picked.begin(), picked.end(), std::mt19937_64(5));
  picked.resize(static_cast<std::size_t>(std::min<idx_t>(2 * k, kRows)));
  const IDSelectorBatch many(static_cast<idx_t>(picked.size()), picked.data());
  for (const IDSelector* sel :
       {static_cast<const IDSelector*>(&few), static_cast<const IDSelector*>(&many)}) {
    SearchParams p;
    p.sel = sel;
    const Neighbours r = search(gpu, queries_, kDim, k, &p);
    for (const idx_t l : r.lab) {
      if (l >= 0) ASSERT_TRUE(sel->is_member(l)) << l;
    }
    expect_same(r, search(cpu, queries_, kDim, k, &p), k, "flat, filtered");
    SearchParamsIVF pi;
    pi.sel = sel;
    pi.nprobe = 16;
    expect_same(search(gpu_ivf, queries_, kDim, k, &pi), search(cpu_ivf, queries_, kDim, k, &pi), k,
                "ivf, filtered");
  }
}

INSTANTIATE_TEST_SUITE_P(MetricsAndK, LargeKCuda,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(2049, 4096, 8192, 16384)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == Metric::L2 ? "l2" : "ip") +
                                  "_k" + std::to_string(std::get<1>(info.param));
                         });

// Every row the same vector: all scores tie, so the results are rows 0 .. k-1 in order.
TEST(LargeKCudaTies, AllEqualScoresGiveTheSmallestRows) {
  KNNX_REQUIRE_GPU();
  const std::vector<float> one = random_vectors(1, kDim, 41);
  std::vector<float> base;
  for (idx_t i = 0; i < kRows; ++i) base.insert(base.end(), one.begin(), one.end());
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexFlat gpu(kDim, metric, Device::cuda(0));
    gpu.add(kRows, base.data());
    const int k = 5000;
    const Neighbours r = search(gpu, random_vectors(3, kDim, 44), kDim, k);
    for (idx_t q = 0; q < 3; ++q) {
      for (int j = 0; j < k; ++j) {
        ASSERT_EQ(r.lab[static_cast<std::size_t>(q * k + j)], j) << "query " << q << " slot " << j;
        ASSERT_EQ(r.dist[static_cast<std::size_t>(q * k + j)],
                  r.dist[static_cast<std::size_t>(q * k)]);
      }
    }
  }
}

// Every vector four times (rows r, r + m, r + 2m, r + 3m): equal scores in a run come out by
// ascending row, and a copy is in only with every smaller-numbered copy, also where the k-th
// result cuts a group of copies.
TEST(LargeKCudaTies, CopiesEnterSmallestRowFirst) {
  KNNX_REQUIRE_GPU();
  const idx_t m = 5000;
  const std::vector<float> one = random_vectors(m, kDim, 42);
  std::vector<float> base;
  for (int c = 0; c < 4; ++c) base.insert(base.end(), one.begin(), one.end());
  const std::vector<float> queries = random_vectors(4, kDim, 43);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexFlat gpu(kDim, metric, Device::cuda(0));
    gpu.add(4 * m, base.data());
    IndexIVFFlat ivf(kDim, 8, metric, Device::cuda(0));
    ivf.train(m, one.data());
    ivf.add(4 * m, base.data());
    SearchParamsIVF all;
    all.nprobe = 8;
    for (const int k : {4 * 1000 + 2, 4 * 2500 + 1}) {
      for (const Neighbours& r :
           {search(gpu, queries, kDim, k), search(ivf, queries, kDim, k, &all)}) {
        for (idx_t q = 0; q < 4; ++q) {
          const idx_t* lab = r.lab.data() + q * k;
          const std::set<idx_t> in(lab, lab + k);
          ASSERT_EQ(in.size(), static_cast<std::size_t>(k));
          for (int j = 0; j < k; ++j) {
            ASSERT_GE(lab[j], 0);
            if (lab[j] >= m) ASSERT_TRUE(in.count(lab[j] - m)) << "slot " << j;
            if (j > 0 && lab[j] % m == lab[j - 1] % m) ASSERT_LT(lab[j - 1], lab[j]);
          }
        }
      }
    }
  }
}

// Ids that are not row numbers come back mapped; k beyond ntotal pads; an empty index pads all.
TEST(LargeKCudaEdges, IdsPaddingAndEmptyIndex) {
  KNNX_REQUIRE_GPU();
  const idx_t n = 3000;
  const auto base = random_vectors(n, kDim, 51);
  const auto queries = random_vectors(3, kDim, 52);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(3));
  for (idx_t& id : ids) id = id * 7 + 11;
  const int k = 8192;
  IndexFlat gpu(kDim, Metric::L2, Device::cuda(0)), cpu(kDim);
  const Neighbours empty = search(gpu, queries, kDim, k);
  for (std::size_t i = 0; i < empty.lab.size(); ++i) {
    ASSERT_EQ(empty.lab[i], -1);
    ASSERT_EQ(empty.dist[i], empty_distance(Metric::L2));
  }
  gpu.add_with_ids(n, base.data(), ids.data());
  cpu.add_with_ids(n, base.data(), ids.data());
  const Neighbours r = search(gpu, queries, kDim, k);
  expect_same(r, search(cpu, queries, kDim, k), k, "ids");
  for (idx_t q = 0; q < 3; ++q) {
    for (int j = 0; j < k; ++j) {
      const idx_t l = r.lab[static_cast<std::size_t>(q * k + j)];
      ASSERT_EQ(j < n, l >= 0) << "slot " << j;
    }
  }
  IndexIVFFlat ivf(kDim, 4, Metric::L2, Device::cuda(0));
  ivf.train(n, base.data());
  const Neighbours none = search(ivf, queries, kDim, k);
  for (const idx_t l : none.lab) ASSERT_EQ(l, -1);
}

// A 16 MiB workspace holds a few dozen queries' rows of scores: 100 queries run in chunks.
TEST(LargeKCudaEdges, SmallWorkspaceRunsInChunks) {
  KNNX_REQUIRE_GPU();
  const auto base = random_vectors(kRows, kDim, 61);
  const auto queries = random_vectors(100, kDim, 62);
  IndexFlat gpu(kDim, Metric::L2, Device::cuda(0)), cpu(kDim);
  gpu.add(kRows, base.data());
  cpu.add(kRows, base.data());
  IndexIVFFlat ivf(kDim, 16, Metric::L2, Device::cuda(0));
  ivf.train(kRows, base.data());
  ivf.add(kRows, base.data());
  SearchParams p;
  p.workspace_bytes = std::int64_t{16} << 20;
  const int k = 4096;
  expect_same(search(gpu, queries, kDim, k, &p), search(cpu, queries, kDim, k), k, "flat");
  SearchParamsIVF pi;
  pi.workspace_bytes = p.workspace_bytes;
  pi.nprobe = 16;
  expect_same(search(ivf, queries, kDim, k, &pi), search(cpu, queries, kDim, k), k, "ivf");
}

// KNNX_GPU_RADIX_MIN_K = 1 sends every k to the radix selection: the same results as the
// block selection, for flat (streaming and tiled sizes) and IVF.
TEST(LargeKCudaEdges, RadixKnobGivesTheBlockSelectionsResults) {
  KNNX_REQUIRE_GPU();
  const auto base = random_vectors(kRows, kDim, 71);
  const auto few = random_vectors(3, kDim, 72);
  const auto many = random_vectors(300, kDim, 73);
  IndexFlat gpu(kDim, Metric::L2, Device::cuda(0));
  gpu.add(kRows, base.data());
  IndexIVFFlat ivf(kDim, 16, Metric::InnerProduct, Device::cuda(0));
  ivf.train(kRows, base.data());
  ivf.add(kRows, base.data());
  for (const int k : {1, 10, 100, 2048}) {
    const Neighbours block_few = search(gpu, few, kDim, k), block_many = search(gpu, many, kDim, k);
    const Neighbours block_ivf = search(ivf, many, kDim, k);
    ConfigGuard guard;
    Config c = config();
    c.gpu_radix_min_k = 1;
    set_config(c);
    expect_same(search(gpu, few, kDim, k), block_few, k, "flat, few queries");
    expect_same(search(gpu, many, kDim, k), block_many, k, "flat, many queries");
    expect_same(search(ivf, many, kDim, k), block_ivf, k, "ivf");
  }
}

// The PQ scans select in shared memory: k past 2048 is refused, before anything runs.
TEST(LargeKCudaEdges, PqIndexesRefuseKPastTheBlockSelection) {
  KNNX_REQUIRE_GPU();
  const int d = 32;
  const auto base = random_vectors(5000, d, 81);
  const auto queries = random_vectors(2, d, 82);
  for (const char* spec : {"PQ8", "IVF16,PQ8"}) {
    SCOPED_TRACE(spec);
    const auto index = index_factory(d, spec, Metric::L2, Device::cuda(0));
    index->train(5000, base.data());
    index->add(5000, base.data());
    EXPECT_NO_THROW(search(*index, queries, d, 2048));
    EXPECT_THROW(search(*index, queries, d, 2049), NotSupported);
    EXPECT_EQ(index->ntotal(), 5000);
  }
}

}  // namespace
}  // namespace knnx
