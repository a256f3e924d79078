// GPU IndexScalarQuantizer and IndexIVFScalarQuantizer against their CPU counterparts with
// identical quantizers (trained on the CPU, moved to the GPU through an index file): every type
// (SQ8, SQ4, fp16, bf16), both metrics, flat and IVF (residual codes or not), several n_probe
// and k, an odd dimension, filters, range search, remove_ids, adds after a search, reconstruct,
// device arrays, files written on the GPU read on the CPU, and an index trained on the GPU.
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
using test::search;
using Type = ScalarQuantizer::Type;

// Quantized distances tie exactly between vectors with equal codes (often with 4-bit codes):
// the k-th result may be any of the tied ones.
void expect_same_sq(const Neighbours& a, const Neighbours& b, int k, const std::string& what) {
  test::expect_same(a, b, k, what.c_str(), /*ties_past_k=*/true);
}

constexpr int kDim = 32;
constexpr int kLists = 16;

using Data = test::ClusteredData;

// Clustered data of dimension kDim unless told.
Data clustered(idx_t n, idx_t nq, int dim = kDim) { return test::clustered(n, nq, dim); }

std::string name_of(Type type, Metric metric) {
  return std::string(ScalarQuantizer::type_name(type)) + " " + to_string(metric);
}

using test::moved;

std::unique_ptr<IndexScalarQuantizer> cpu_flat(const Data& data, Type type, Metric metric) {
  auto index = std::make_unique<IndexScalarQuantizer>(data.dim, type, metric);
  index->train(data.n(), data.base.data());
  index->add(data.n(), data.base.data());
  return index;
}

std::unique_ptr<IndexIVFScalarQuantizer> cpu_ivf(const Data& data, Type type, Metric metric,
                                                 bool by_residual) {
  auto index =
      std::make_unique<IndexIVFScalarQuantizer>(data.dim, kLists, type, metric, by_residual);
  index->train(data.n(), data.base.data());
  index->add(data.n(), data.base.data());
  return index;
}

// A radius between the rank-th and (rank + 1)-th distances of the first query.
float radius_between(const Index& index, const Data& data, int rank, const SearchParams* params) {
  const std::vector<float> q(data.queries.begin(), data.queries.begin() + data.dim);
  const Neighbours r = search(index, q, data.dim, rank + 1, params);
  return (r.dist[static_cast<std::size_t>(rank - 1)] + r.dist[static_cast<std::size_t>(rank)]) / 2;
}

// Range search, filters, removal, reconstruct, an add after a search and a file written on the
// GPU and read on the CPU, each compared with the CPU index after the same calls.
template <typename T>
void expect_same_lifecycle(T& cpu, T& gpu, const Data& data, const SearchParams* base,
                           SearchParams& filtered, const std::string& what) {
  const int d = data.dim, k = 10;
  const idx_t nq = data.nq();
  const float radius = radius_between(cpu, data, 100, base);
  test::expect_same_range(cpu.range_search(nq, data.queries.data(), radius, base),
                          gpu.range_search(nq, data.queries.data(), radius, base), radius,
                          what + " range");

  const IDSelectorRange range(500, 2500);
  filtered.sel = &range;
  expect_same_sq(search(cpu, data.queries, d, k, &filtered),
                 search(gpu, data.queries, d, k, &filtered), k, what + " range filter");
  test::expect_same_range(cpu.range_search(nq, data.queries.data(), radius, &filtered),
                          gpu.range_search(nq, data.queries.data(), radius, &filtered), radius,
                          what + " filtered range");
  std::vector<idx_t> few(30);
  std::iota(few.begin(), few.end(), idx_t{100});
  const IDSelectorBatch batch(few);
  filtered.sel = &batch;
  const Neighbours few_gpu = search(gpu, data.queries, d, 40, &filtered);
  expect_same_sq(search(cpu, data.queries, d, 40, &filtered), few_gpu, 40, what + " 30 ids, k 40");
  for (idx_t label : few_gpu.lab) {
    if (label >= 0) EXPECT_TRUE(batch.is_member(label)) << what;
  }

  std::vector<float> want(static_cast<std::size_t>(d)), got(static_cast<std::size_t>(d));
  for (idx_t id : {idx_t{0}, idx_t{777}, cpu.ntotal() - 1}) {
    cpu.reconstruct(id, want.data());
    gpu.reconstruct(id, got.data());
    EXPECT_EQ(want, got) << what << " reconstruct " << id;
  }

  const IDSelectorRange removed(0, 1000);
  EXPECT_EQ(cpu.remove_ids(removed), 1000);
  EXPECT_EQ(gpu.remove_ids(removed), 1000);
  EXPECT_EQ(gpu.ntotal(), cpu.ntotal());
  expect_same_sq(search(cpu, data.queries, d, k, base), search(gpu, data.queries, d, k, base), k,
                 what + " after remove_ids");

  const idx_t extra = static_cast<idx_t>(data.extra.size()) / d;
  cpu.add(extra, data.extra.data());
  gpu.add(extra, data.extra.data());
  EXPECT_EQ(gpu.ntotal(), cpu.ntotal());
  const Neighbours after_add = search(gpu, data.queries, d, k, base);
  expect_same_sq(search(cpu, data.queries, d, k, base), after_add, k, what + " after add");

  const std::unique_ptr<T> back = moved(gpu, Device::cpu(), "gpu_written.knnx");
  expect_same_sq(search(*back, data.queries, d, k, base), after_add, k,
                 what + " written on the GPU");
  const std::unique_ptr<T> again = moved(*back, Device::cuda(0), "cpu_written.knnx");
  expect_same_sq(search(*again, data.queries, d, k, base), after_add, k,
                 what + " read back on the GPU");
}

class SqCudaSweep : public ::testing::TestWithParam<std::tuple<Type, Metric>> {};

TEST_P(SqCudaSweep, FlatEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const auto [type, metric] = GetParam();
  const std::string what = "IndexScalarQuantizer " + name_of(type, metric);
  const Data data = clustered(4000, 30);
  const auto cpu = cpu_flat(data, type, metric);
  const auto gpu = moved(*cpu, Device::cuda(0), "sq.knnx");
  for (int k : {1, 10, 300, 2048}) {
    expect_same_sq(search(*cpu, data.queries, kDim, k), search(*gpu, data.queries, kDim, k), k,
                   what);
  }
  // Past the block selection's k the GPU refuses before anything runs; the CPU answers.
  EXPECT_THROW(search(*gpu, data.queries, kDim, 2049), NotSupported);
  search(*cpu, data.queries, kDim, 2049);
  SearchParams filtered;
  expect_same_lifecycle(*cpu, *gpu, data, nullptr, filtered, what);
}

TEST_P(SqCudaSweep, IvfEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const auto [type, metric] = GetParam();
  for (bool by_residual : {true, false}) {
    const std::string what = "IndexIVFScalarQuantizer " + name_of(type, metric) +
                             (by_residual ? " residual" : " direct");
    const Data data = clustered(4000, 30);
    const auto cpu = cpu_ivf(data, type, metric, by_residual);
    const auto gpu = moved(*cpu, Device::cuda(0), "ivf_sq.knnx");
    EXPECT_EQ(gpu->list_sizes(), cpu->list_sizes()) << what;
    EXPECT_EQ(gpu->list_ids(3), cpu->list_ids(3)) << what;
    for (int n_probe : {1, 5, kLists}) {
      SearchParamsIVF params;
      params.nprobe = n_probe;
      for (int k : {1, 10, 200}) {
        expect_same_sq(search(*cpu, data.queries, kDim, k, &params),
                       search(*gpu, data.queries, kDim, k, &params), k,
                       what + " nprobe " + std::to_string(n_probe));
      }
    }
    SearchParamsIVF params;
    params.nprobe = 6;
    SearchParamsIVF filtered;
    filtered.nprobe = 6;
    expect_same_lifecycle(*cpu, *gpu, data, &params, filtered, what);
  }
}

INSTANTIATE_TEST_SUITE_P(TypesAndMetrics, SqCudaSweep,
                         ::testing::Combine(::testing::Values(Type::QT_8bit, Type::QT_4bit,
                                                              Type::QT_fp16, Type::QT_bf16),
                                            ::testing::Values(Metric::L2, Metric::InnerProduct)));

// An odd dimension: 4-bit codes end on a half-used byte, fp16 rows on a half-used word.
TEST(SqCuda, OddDimensionEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const int dim = 37;
  const Data data = clustered(2000, 20, dim);
  for (Type type : {Type::QT_8bit, Type::QT_4bit, Type::QT_fp16, Type::QT_bf16}) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      const std::string what = "d 37 " + name_of(type, metric);
      const auto cpu = cpu_flat(data, type, metric);
      const auto gpu = moved(*cpu, Device::cuda(0), "sq37.knnx");
      expect_same_sq(search(*cpu, data.queries, dim, 20), search(*gpu, data.queries, dim, 20), 20,
                     what);
      const auto cpu_i = cpu_ivf(data, type, metric, true);
      const auto gpu_i = moved(*cpu_i, Device::cuda(0), "ivf_sq37.knnx");
      SearchParamsIVF params;
      params.nprobe = 4;
      expect_same_sq(search(*cpu_i, data.queries, dim, 20, &params),
                     search(*gpu_i, data.queries, dim, 20, &params), 20, what + " IVF");
    }
  }
}

// The smallest workspace (16 MiB) cuts a search with k = 2048 into batches without changing
// its results.
TEST(SqCuda, BatchedSearchEqualsOneBatch) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(4000, 200);
  const auto cpu = cpu_ivf(data, Type::QT_8bit, Metric::L2, true);
  const auto gpu = moved(*cpu, Device::cuda(0), "ivf_sq.knnx");
  const int k = 2048;
  SearchParamsIVF whole;
  whole.nprobe = kLists;
  const Neighbours want = search(*gpu, data.queries, kDim, k, &whole);
  SearchParamsIVF small = whole;
  small.workspace_bytes = std::int64_t{16} << 20;
  expect_same_sq(want, search(*gpu, data.queries, kDim, k, &small), k, "16 MiB workspace");
  expect_same_sq(search(*cpu, data.queries, kDim, k, &whole), want, k, "CPU");
}

// Trained and filled on the GPU (k-means there), recall@10 against the exact neighbours is the
// CPU index's (trained alike on the CPU) within 0.05.
TEST(SqCuda, TrainedOnTheGpuRecallAsCpu) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(6000, 100);
  IndexFlat exact(kDim, Metric::L2);
  exact.add(data.n(), data.base.data());
  const Neighbours truth = search(exact, data.queries, kDim, 10);
  SearchParamsIVF params;
  params.nprobe = 6;
  double recall[2] = {0.0, 0.0};
  int i = 0;
  for (Device device : {Device::cpu(), Device::cuda(0)}) {
    IndexIVFScalarQuantizer index(kDim, kLists, Type::QT_8bit, Metric::L2, true, device);
    index.train(data.n(), data.base.data());
    index.add(data.n(), data.base.data());
    const Neighbours got = search(index, data.queries, kDim, 10, &params);
    recall[i] = recall_at_k(data.nq(), got.lab.data(), 10, truth.lab.data(), 10, 10);
    RecordProperty(device.is_cpu() ? "recall_cpu" : "recall_gpu", std::to_string(recall[i]));
    EXPECT_GT(recall[i], 0.7) << device.to_string();
    ++i;
  }
  EXPECT_NEAR(recall[1], recall[0], 0.05);
}

#ifdef KNNX_WITH_CUDA
// Device vectors (train and add) and queries are read in place; device results are written in
// place; a NaN query is refused and changes nothing.
TEST(SqCuda, DeviceArrays) {
  KNNX_REQUIRE_GPU();
  const Data data = clustered(3000, 20);
  const idx_t nq = data.nq(), extra = 500;
  const int k = 10;
  float *d_base = nullptr, *d_extra = nullptr, *d_queries = nullptr, *d_dist = nullptr;
  idx_t* d_lab = nullptr;
  ASSERT_EQ(cudaMalloc(&d_base, sizeof(float) * data.base.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_extra, sizeof(float) * data.extra.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_queries, sizeof(float) * data.queries.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_dist, sizeof(float) * nq * k), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_lab, sizeof(idx_t) * nq * k), cudaSuccess);
  cudaMemcpy(d_base, data.base.data(), sizeof(float) * data.base.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(d_extra, data.extra.data(), sizeof(float) * data.extra.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(d_queries, data.queries.data(), sizeof(float) * data.queries.size(),
             cudaMemcpyHostToDevice);
  cudaMemset(d_dist, 0xFF, sizeof(float) * nq * k);  // poison
  cudaMemset(d_lab, 0xFF, sizeof(idx_t) * nq * k);
  IndexScalarQuantizer cpu(kDim, Type::QT_8bit, Metric::L2);
  IndexScalarQuantizer gpu(kDim, Type::QT_8bit, Metric::L2, Device::cuda(0));
  cpu.train(data.n(), data.base.data());
  gpu.train(data.n(), d_base);
  EXPECT_EQ(gpu.quantizer().vmin(), cpu.quantizer().vmin());
  EXPECT_EQ(gpu.quantizer().vdiff(), cpu.quantizer().vdiff());
  cpu.add(data.n(), data.base.data());
  gpu.add(data.n(), d_base);
  cpu.add(extra, data.extra.data());
  gpu.add(extra, d_extra);
  gpu.search(nq, d_queries, k, d_dist, d_lab);
  Neighbours got{std::vector<float>(nq * k), std::vector<idx_t>(nq * k)};
  cudaMemcpy(got.dist.data(), d_dist, sizeof(float) * nq * k, cudaMemcpyDeviceToHost);
  cudaMemcpy(got.lab.data(), d_lab, sizeof(idx_t) * nq * k, cudaMemcpyDeviceToHost);
  const float radius = radius_between(cpu, data, 50, nullptr);
  const RangeSearchResult range = gpu.range_search(nq, d_queries, radius);
  cudaFree(d_base);
  cudaFree(d_extra);
  cudaFree(d_queries);
  cudaFree(d_dist);
  cudaFree(d_lab);
  expect_same_sq(search(cpu, data.queries, kDim, k), got, k, "device arrays");
  test::expect_same_range(cpu.range_search(nq, data.queries.data(), radius), range, radius,
                          "device queries, range");

  std::vector<float> bad = data.queries;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dist(nq * k);
  std::vector<idx_t> lab(nq * k);
  EXPECT_THROW(gpu.search(nq, bad.data(), k, dist.data(), lab.data()), InvalidArgument);
  EXPECT_THROW(gpu.range_search(nq, bad.data(), 1.0f), InvalidArgument);
  EXPECT_EQ(gpu.ntotal(), cpu.ntotal());
}

#endif

}  // namespace
}  // namespace knnx
