// GPU IndexPQ and IndexIVFPQ against their CPU counterparts with identical quantizers (trained
// on the CPU, moved to the GPU through an index file): both metrics, several M, n_probe and k,
// with and without the precomputed L2 table (per-list, or summed into each row's term), blocks
// scanning one or several probed lists, tables in shared and in global memory, filters,
// remove_ids, adds after a search, device arrays, and files written on the GPU read on the CPU;
// recall against exact neighbours as the CPU index's.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"
#include "quantized_test_util.hpp"
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace knnx {
namespace {

using test::Neighbours;
// PQ distances tie exactly between vectors with equal codes (often, with few sub-quantizers):
// the k-th result may be any of the tied ones.
void expect_same_pq(const Neighbours& a, const Neighbours& b, int k, const char* what) {
  test::expect_same(a, b, k, what, /*ties_past_k=*/true);
}
using test::search;

constexpr int kDim = 32;

using Data = test::ClusteredData;

// Clustered data of dimension kDim unless told.
Data clustered(idx_t n, idx_t nq, int dim = kDim) { return test::clustered(n, nq, dim); }

ProductQuantizerParams quick_pq() {
  ProductQuantizerParams p;
  p.kmeans_iter = 8;
  return p;
}

using test::moved;

std::unique_ptr<IndexPQ> cpu_pq(const Data& data, Metric metric, int M, int dim = kDim) {
  auto index = std::make_unique<IndexPQ>(dim, M, 8, metric);
  index->set_pq_params(quick_pq());
  index->train(data.n(), data.base.data());
  index->add(data.n(), data.base.data());
  return index;
}

std::unique_ptr<IndexIVFPQ> cpu_ivf_pq(const Data& data, Metric metric, int M, int n_lists,
                                       int dim = kDim) {
  auto index = std::make_unique<IndexIVFPQ>(dim, n_lists, M, 8, metric);
  index->set_pq_params(quick_pq());
  index->train(data.n(), data.base.data());
  index->add(data.n(), data.base.data());
  return index;
}

// Filters, removal, an add after a search and a file written on the GPU and read on the CPU,
// each compared with the CPU index after the same calls.
template <typename T>
void expect_same_lifecycle(T& cpu, T& gpu, const Data& data, int k, const SearchParams* base,
                           SearchParams& filtered) {
  const IDSelectorRange range(1000, 4000);
  filtered.sel = &range;
  expect_same_pq(search(cpu, data.queries, kDim, k, &filtered),
                 search(gpu, data.queries, kDim, k, &filtered), k, "range filter");
  std::vector<idx_t> few(40);
  std::iota(few.begin(), few.end(), idx_t{200});
  const IDSelectorBatch batch(few);
  filtered.sel = &batch;
  const Neighbours few_gpu = search(gpu, data.queries, kDim, 50, &filtered);
  expect_same_pq(search(cpu, data.queries, kDim, 50, &filtered), few_gpu, 50, "40 ids, k 50");
  for (std::size_t i = 0; i < few_gpu.lab.size(); ++i) {
    if (few_gpu.lab[i] >= 0) EXPECT_TRUE(batch.is_member(few_gpu.lab[i]));
  }

  const IDSelectorRange removed(0, 1500);
  EXPECT_EQ(cpu.remove_ids(removed), 1500);
  EXPECT_EQ(gpu.remove_ids(removed), 1500);
  EXPECT_EQ(gpu.ntotal(), cpu.ntotal());
  expect_same_pq(search(cpu, data.queries, kDim, k, base), search(gpu, data.queries, kDim, k, base),
                 k, "after remove_ids");

  const idx_t extra = static_cast<idx_t>(data.extra.size()) / kDim;
  cpu.add(extra, data.extra.data());
  gpu.add(extra, data.extra.data());
  EXPECT_EQ(gpu.ntotal(), cpu.ntotal());
  const Neighbours after_add = search(gpu, data.queries, kDim, k, base);
  expect_same_pq(search(cpu, data.queries, kDim, k, base), after_add, k, "after add");

  const std::unique_ptr<T> back = moved(gpu, Device::cpu(), "gpu_written.knnx");
  expect_same_pq(search(*back, data.queries, kDim, k, base), after_add, k, "written on the GPU");
  const std::unique_ptr<T> again = moved(*back, Device::cuda(0), "cpu_written.knnx");
  expect_same_pq(search(*again, data.queries, kDim, k, base), after_add, k, "read back on the GPU");
}

class PqCudaSweep : public ::testing::TestWithParam<std::tuple<Metric, int>> {};

TEST_P(PqCudaSweep, EqualsCpu) {
  KNNX_REQUIRE_GPU();
  const auto [metric, M] = GetParam();
  const Data data = clustered(6000, 40);
  const auto cpu = cpu_pq(data, metric, M);
  const auto gpu = moved(*cpu, Device::cuda(0), "pq.knnx");
  EXPECT_EQ(gpu->codes(), cpu->codes());
  for (int k : {1, 10, 300, 2048}) {
    expect_same_pq(search(*cpu, data.queries, kDim, k), search(*gpu, data.queries, kDim, k), k,
                   "IndexPQ");
  }
  SearchParams filtered;
  expect_same_lifecycle(*cpu, *gpu, data, 10, nullptr, filtered);
}

INSTANTIATE_TEST_SUITE_P(MetricsAndM, PqCudaSweep,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(4, 8, 32)));

class IvfPqCudaSweep : public ::testing::TestWithParam<std::tuple<Metric, int, bool>> {};

TEST_P(IvfPqCudaSweep, EqualsCpu) {
  KNNX_REQUIRE_GPU();
  const auto [metric, M, precompute] = GetParam();
  const int n_lists = 24;
  const Data data = clustered(6000, 40);
  auto cpu = cpu_ivf_pq(data, metric, M, n_lists);
  cpu->set_use_precomputed_table(precompute);
  const auto gpu = moved(*cpu, Device::cuda(0), "ivf_pq.knnx");
  gpu->set_use_precomputed_table(precompute);
  EXPECT_EQ(gpu->precomputed_table_in_use(), cpu->precomputed_table_in_use());
  EXPECT_EQ(gpu->precomputed_table_in_use(), precompute && metric == Metric::L2);
  EXPECT_EQ(gpu->list_sizes(), cpu->list_sizes());
  EXPECT_EQ(gpu->list_codes(3), cpu->list_codes(3));
  EXPECT_EQ(gpu->list_ids(3), cpu->list_ids(3));
  for (int n_probe : {1, 5, n_lists}) {
    SearchParamsIVF params;
    params.nprobe = n_probe;
    for (int k : {1, 10, 200, 2048}) {
      expect_same_pq(search(*cpu, data.queries, kDim, k, &params),
                     search(*gpu, data.queries, kDim, k, &params), k, "IndexIVFPQ");
    }
  }
  SearchParamsIVF params;
  params.nprobe = 6;
  SearchParamsIVF filtered;
  filtered.nprobe = 6;
  expect_same_lifecycle(*cpu, *gpu, data, 10, &params, filtered);
}

INSTANTIATE_TEST_SUITE_P(MetricsMAndTables, IvfPqCudaSweep,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(4, 8, 16), ::testing::Bool()));

// Many queries, so that a block scans several of its query's probed lists (all of them up to
// a dozen lists of ~170 rows at a time while two waves of blocks still fill the device): the
// tables built once a query, and for L2 with the precomputed table, the per-row terms (M 32
// and 48: a float after the codes) or the per-list table added per list (M 16); without it,
// the residual tables built per (query, list). Then the rows' terms after remove_ids and an
// add, and recomputed over the stored rows when the table is switched off and on again.
class IvfPqCudaGrouped : public ::testing::TestWithParam<std::tuple<Metric, int, bool>> {};

TEST_P(IvfPqCudaGrouped, EqualsCpu) {
  KNNX_REQUIRE_GPU();
  const auto [metric, M, precompute] = GetParam();
  const int dim = 96, n_lists = 24;
  const Data data = clustered(4000, 400, dim);
  auto cpu = cpu_ivf_pq(data, metric, M, n_lists, dim);
  cpu->set_use_precomputed_table(precompute);
  auto gpu = moved(*cpu, Device::cuda(0), "ivf_pq_grouped.knnx");
  gpu->set_use_precomputed_table(precompute);
  EXPECT_EQ(gpu->precomputed_table_in_use(), precompute && metric == Metric::L2);
  EXPECT_EQ(gpu->list_codes(5), cpu->list_codes(5));
  const auto compare = [&](const char* what) {
    for (int n_probe : {1, 5, n_lists}) {
      SearchParamsIVF params;
      params.nprobe = n_probe;
      for (int k : {10, 100}) {
        expect_same_pq(search(*cpu, data.queries, dim, k, &params),
                       search(*gpu, data.queries, dim, k, &params), k, what);
      }
    }
  };
  compare("grouped lists");

  const IDSelectorRange range(500, 2500);
  SearchParamsIVF filtered;
  filtered.nprobe = 7;
  filtered.sel = &range;
  expect_same_pq(search(*cpu, data.queries, dim, 10, &filtered),
                 search(*gpu, data.queries, dim, 10, &filtered), 10, "grouped lists, filtered");

  const IDSelectorRange removed(0, 1000);
  EXPECT_EQ(cpu->remove_ids(removed), 1000);
  EXPECT_EQ(gpu->remove_ids(removed), 1000);
  const idx_t extra = static_cast<idx_t>(data.extra.size()) / dim;
  cpu->add(extra, data.extra.data());
  gpu->add(extra, data.extra.data());
  compare("after remove_ids and add");

  gpu->set_use_precomputed_table(!precompute);
  gpu->set_use_precomputed_table(precompute);
  EXPECT_EQ(gpu->precomputed_table_in_use(), precompute && metric == Metric::L2);
  compare("table switched off and on");
}

INSTANTIATE_TEST_SUITE_P(MetricsMAndTables, IvfPqCudaGrouped,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(16, 32, 48), ::testing::Bool()));

// M = 256 sub-quantizers make 256 KiB tables, more than a block's shared memory: the scans read
// each query's table in global memory, and form per-list tables (L2 without the precomputed
// table) in global slots, in waves of blocks under a small workspace.
TEST(PqCuda, TablesInGlobalMemoryEqualCpu) {
  KNNX_REQUIRE_GPU();
  const int dim = 256, M = 256;
  const Data data = clustered(700, 12, dim);
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    const auto cpu = cpu_pq(data, metric, M, dim);
    const auto gpu = moved(*cpu, Device::cuda(0), "pq256.knnx");
    expect_same_pq(search(*cpu, data.queries, dim, 10), search(*gpu, data.queries, dim, 10), 10,
                   "IndexPQ, global tables");
    auto cpu_ivf = cpu_ivf_pq(data, metric, M, 4, dim);
    const auto gpu_ivf = moved(*cpu_ivf, Device::cuda(0), "ivf_pq256.knnx");
    SearchParamsIVF params;
    params.nprobe = 3;
    const Neighbours want = search(*cpu_ivf, data.queries, dim, 10, &params);
    expect_same_pq(want, search(*gpu_ivf, data.queries, dim, 10, &params), 10,
                   "IndexIVFPQ, global tables");
    params.workspace_bytes = std::int64_t{16} << 20;  // per-list tables: 16 slots, 3 waves
    expect_same_pq(want, search(*gpu_ivf, data.queries, dim, 10, &params), 10,
                   "IndexIVFPQ, global tables in waves");
    if (metric == Metric::L2) {  // per-(query, list) residual tables in the global slots
      cpu_ivf->set_use_precomputed_table(false);
      gpu_ivf->set_use_precomputed_table(false);
      EXPECT_FALSE(gpu_ivf->precomputed_table_in_use());
      expect_same_pq(search(*cpu_ivf, data.queries, dim, 10, &params),
                     search(*gpu_ivf, data.queries, dim, 10, &params), 10,
                     "IndexIVFPQ, residual tables in global slots, in waves");
    }
  }
}

// The smallest workspace (16 MiB) cuts a search with k = 2048 into batches of about 37 queries
// without changing its results.
TEST(PqCuda, BatchedSearchEqualsOneBatch) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(6000, 300);
  const auto cpu = cpu_ivf_pq(data, Metric::L2, 8, 24);
  const auto gpu = moved(*cpu, Device::cuda(0), "ivf_pq.knnx");
  const int k = 2048;
  SearchParamsIVF whole;
  whole.nprobe = 24;
  const Neighbours want = search(*gpu, data.queries, kDim, k, &whole);
  SearchParamsIVF small = whole;
  small.workspace_bytes = std::int64_t{16} << 20;
  expect_same_pq(want, search(*gpu, data.queries, kDim, k, &small), k, "16 MiB workspace");
  expect_same_pq(search(*cpu, data.queries, kDim, k, &whole), want, k, "CPU");
}

// Trained and filled on the GPU (k-means there), recall@10 against the exact neighbours is the
// CPU index's (trained alike on the CPU) within 0.05, and at full probe as IndexPQ's.
TEST(PqCuda, RecallAgainstExactAsCpu) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(8000, 200);
  IndexFlat exact(kDim, Metric::L2);
  exact.add(data.n(), data.base.data());
  const Neighbours truth = search(exact, data.queries, kDim, 10);
  const idx_t nq = static_cast<idx_t>(data.queries.size()) / kDim;
  const auto recall = [&](const Index& index, const SearchParams* params) {
    const Neighbours got = search(index, data.queries, kDim, 10, params);
    return recall_at_k(nq, got.lab.data(), 10, truth.lab.data(), 10, 10);
  };
  for (Device device : {Device::cpu(), Device::cuda(0)}) {
    IndexIVFPQ index(kDim, 32, 16, 8, Metric::L2, device);
    index.set_pq_params(quick_pq());
    index.train(data.n(), data.base.data());
    index.add(data.n(), data.base.data());
    SearchParamsIVF params;
    params.nprobe = 8;
    const double r = recall(index, &params);
    RecordProperty(device.is_cpu() ? "recall_cpu" : "recall_gpu", std::to_string(r));
    EXPECT_GT(r, 0.5) << device.to_string();
  }
  const auto cpu = cpu_ivf_pq(data, Metric::L2, 16, 32);
  const auto gpu = moved(*cpu, Device::cuda(0), "ivf_pq.knnx");
  SearchParamsIVF params;
  params.nprobe = 8;
  EXPECT_NEAR(recall(*gpu, &params), recall(*cpu, &params), 0.01);
}

// Device vectors and queries are read in place; device results are written in place.
#ifdef KNNX_WITH_CUDA
// Range search runs on the CPU indexes only; on a device it is refused, naming the device.
TEST(PqCuda, RangeSearchIsRefusedOnTheDevice) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(3000, 20);
  const auto pq = cpu_pq(data, Metric::L2, 8);
  const auto ivf = cpu_ivf_pq(data, Metric::L2, 8, 16);
  EXPECT_NO_THROW(pq->range_search(20, data.queries.data(), 1.0f));
  EXPECT_NO_THROW(ivf->range_search(20, data.queries.data(), 1.0f));
  const auto gpu_pq = moved(*pq, Device::cuda(0), "pq.knnx");
  const auto gpu_ivf = moved(*ivf, Device::cuda(0), "ivf_pq.knnx");
  for (const Index* index :
       {static_cast<const Index*>(gpu_pq.get()), static_cast<const Index*>(gpu_ivf.get())}) {
    try {
      index->range_search(20, data.queries.data(), 1.0f);
      ADD_FAILURE() << "range_search on a device did not throw";
    } catch (const NotSupported& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA device 0"), std::string::npos) << e.what();
    }
  }
}

TEST(PqCuda, DeviceArrays) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(3000, 20);
  const auto cpu = cpu_ivf_pq(data, Metric::L2, 8, 16);
  const auto gpu = moved(*cpu, Device::cuda(0), "ivf_pq.knnx");
  const idx_t nq = 20, extra = 500;
  const int k = 10;
  float *d_extra = nullptr, *d_queries = nullptr, *d_dist = nullptr;
  idx_t* d_lab = nullptr;
  ASSERT_EQ(cudaMalloc(&d_extra, sizeof(float) * data.extra.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_queries, sizeof(float) * data.queries.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_dist, sizeof(float) * nq * k), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_lab, sizeof(idx_t) * nq * k), cudaSuccess);
  cudaMemcpy(d_extra, data.extra.data(), sizeof(float) * data.extra.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(d_queries, data.queries.data(), sizeof(float) * data.queries.size(),
             cudaMemcpyHostToDevice);
  cudaMemset(d_dist, 0xFF, sizeof(float) * nq * k);  // poison
  cudaMemset(d_lab, 0xFF, sizeof(idx_t) * nq * k);
  cpu->add(extra, data.extra.data());
  gpu->add(extra, d_extra);
  gpu->search(nq, d_queries, k, d_dist, d_lab);
  Neighbours got{std::vector<float>(nq * k), std::vector<idx_t>(nq * k)};
  cudaMemcpy(got.dist.data(), d_dist, sizeof(float) * nq * k, cudaMemcpyDeviceToHost);
  cudaMemcpy(got.lab.data(), d_lab, sizeof(idx_t) * nq * k, cudaMemcpyDeviceToHost);
  cudaFree(d_extra);
  cudaFree(d_queries);
  cudaFree(d_dist);
  cudaFree(d_lab);
  expect_same_pq(search(*cpu, data.queries, kDim, k), got, k, "device arrays");

  std::vector<float> bad = data.queries;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dist(nq * k);
  std::vector<idx_t> lab(nq * k);
  EXPECT_THROW(gpu->search(nq, bad.data(), k, dist.data(), lab.data()), InvalidArgument);
  EXPECT_EQ(gpu->ntotal(), cpu->ntotal());
}
#endif

}  // namespace
}  // namespace knnx
