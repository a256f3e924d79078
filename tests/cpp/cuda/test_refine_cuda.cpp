// IndexRefineFlat over a GPU base index with its exact vectors on the device
// (RefineStorage::Device): the same base candidates re-ranked on the device give the host
// re-ranking's results within float rounding (L2 and inner product, several k and k_factor,
// ids of their own), through adds, removals and a file round trip; device arrays in and out; k
// past the block selection refused; vectors mapped from a file (mmap) answer as host ones.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"
#include "quantized_test_util.hpp"
#include "temp_dir.hpp"
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace knnx {
namespace {

using test::Neighbours;
using test::search;

constexpr int kDim = 24;

// A CPU IndexRefineFlat of spec (ending in ",RFlat") holding the data with a gap and ids of its
// own, k_factor 3.
std::unique_ptr<IndexRefineFlat> cpu_refine(const test::ClusteredData& data, const char* spec,
                                            Metric metric) {
  std::unique_ptr<Index> made = index_factory(data.dim, spec, metric);
  auto* refine = dynamic_cast<IndexRefineFlat*>(made.get());
  EXPECT_NE(refine, nullptr);
  made.release();
  std::unique_ptr<IndexRefineFlat> index(refine);
  index->train(data.n(), data.base.data());
  index->add(data.n(), data.base.data());
  const idx_t gone[] = {3, 17, 400};
  index->remove_ids(3, gone);
  std::vector<idx_t> ids(100);
  for (idx_t i = 0; i < 100; ++i) ids[static_cast<std::size_t>(i)] = 50000 + 7 * i;
  index->add_with_ids(100, data.extra.data(), ids.data());
  index->set_k_factor(3.0f);
  return index;
}

TEST(RefineCuda, DeviceStorageMatchesHostReranking) {
  KNNX_REQUIRE_GPU();
  const test::ClusteredData data = test::clustered(3000, 50, kDim);
  for (const char* spec : {"IVF16,SQ8,RFlat", "SQ8,RFlat", "IVF16,PQ8,RFlat"}) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      const std::string what = std::string(spec) + " " + to_string(metric);
      SCOPED_TRACE(what);
      const auto cpu = cpu_refine(data, spec, metric);
      auto gpu = test::moved(*cpu, Device::cuda(0), "refine.knnx");
      ASSERT_EQ(gpu->refine_storage(), RefineStorage::Host);
      SearchParamsRefine wide;
      wide.k_factor = 8.0f;
      std::vector<Neighbours> want;
      for (int k : {1, 10, 100}) want.push_back(search(*gpu, data.queries, kDim, k));
      want.push_back(search(*gpu, data.queries, kDim, 10, &wide));
      gpu->set_refine_storage(RefineStorage::Device);
      ASSERT_EQ(gpu->refine_storage(), RefineStorage::Device);
      std::size_t i = 0;
      for (int k : {1, 10, 100}) {
        test::expect_same(want[i++], search(*gpu, data.queries, kDim, k), k, what.c_str());
      }
      test::expect_same(want[i], search(*gpu, data.queries, kDim, 10, &wide), 10, what.c_str());

      // Adds and removals reach both copies; back on the host the results stay the same.
      const idx_t gone[] = {50007, 5, 6};
      EXPECT_EQ(gpu->remove_ids(3, gone), 3);
      gpu->add(200, data.extra.data() + 100 * kDim);
      const Neighbours on_device = search(*gpu, data.queries, kDim, 20);
      gpu->set_refine_storage(RefineStorage::Host);
      test::expect_same(search(*gpu, data.queries, kDim, 20), on_device, 20, what.c_str());
      std::vector<float> row(kDim), want_row(kDim);
      gpu->set_refine_storage(RefineStorage::Device);
      gpu->reconstruct(50014, row.data());
      cpu->reconstruct(50014, want_row.data());
      EXPECT_EQ(row, want_row);
      // Saved from the device, read on the CPU: the exact vectors came back.
      const auto back = test::moved(*gpu, Device::cpu(), "back.knnx");
      EXPECT_EQ(back->refine_index().vectors(), gpu->refine_index().vectors());
    }
  }
}

TEST(RefineCuda, DeviceArraysInAndOut) {
  KNNX_REQUIRE_GPU();
#ifdef KNNX_WITH_CUDA
  const test::ClusteredData data = test::clustered(2000, 40, kDim);
  for (RefineStorage storage : {RefineStorage::Host, RefineStorage::Device}) {
    SCOPED_TRACE(to_string(storage));
    auto gpu = test::moved(*cpu_refine(data, "IVF16,SQ8,RFlat", Metric::L2), Device::cuda(0),
                           "refine.knnx");
    gpu->set_refine_storage(storage);
    const int k = 10;
    const idx_t nq = data.nq();
    const Neighbours want = search(*gpu, data.queries, kDim, k);
    float *d_q = nullptr, *d_dist = nullptr;
    idx_t* d_lab = nullptr;
    ASSERT_EQ(cudaMalloc(&d_q, sizeof(float) * data.queries.size()), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_dist, sizeof(float) * nq * k), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&d_lab, sizeof(idx_t) * nq * k), cudaSuccess);
    cudaMemcpy(d_q, data.queries.data(), sizeof(float) * data.queries.size(),
               cudaMemcpyHostToDevice);
    gpu->search(nq, d_q, k, d_dist, d_lab);
    Neighbours got{std::vector<float>(nq * k), std::vector<idx_t>(nq * k)};
    cudaMemcpy(got.dist.data(), d_dist, sizeof(float) * nq * k, cudaMemcpyDeviceToHost);
    cudaMemcpy(got.lab.data(), d_lab, sizeof(idx_t) * nq * k, cudaMemcpyDeviceToHost);
    test::expect_same(want, got, k, "device arrays");
    // Device rows added: both copies take them (ids from one past the largest, 50000 + 7 * 99).
    gpu->add(5, d_q);
    EXPECT_EQ(gpu->ntotal(), 2000 - 3 + 100 + 5);
    EXPECT_EQ(gpu->base_index().ntotal(), gpu->ntotal());
    std::vector<float> row(kDim);
    gpu->reconstruct(50000 + 7 * 99 + 1, row.data());
    EXPECT_EQ(row, std::vector<float>(data.queries.begin(), data.queries.begin() + kDim));
    cudaFree(d_q);
    cudaFree(d_dist);
    cudaFree(d_lab);
  }
#endif
}

TEST(RefineCuda, KPastTheBlockSelectionIsRefused) {
  KNNX_REQUIRE_GPU();
  const std::vector<float> x = test::random_vectors(3000, kDim, 5);
  IndexRefineFlat index(std::make_unique<IndexFlat>(kDim, Metric::L2, Device::cuda(0)), 1.0f,
                        RefineStorage::Device);
  index.add(3000, x.data());
  const std::vector<float> q(x.begin(), x.begin() + kDim);
  EXPECT_NO_THROW(search(index, q, kDim, 2048));
  EXPECT_THROW(search(index, q, kDim, 2049), NotSupported);
  index.set_refine_storage(RefineStorage::Host);
  EXPECT_NO_THROW(search(index, q, kDim, 2049));
}

TEST(RefineCuda, MappedVectorsOverAGpuBaseAnswerAsHostOnes) {
  KNNX_REQUIRE_GPU();
  const test::ClusteredData data = test::clustered(2000, 30, kDim);
  const test::TempDir dir("knnx_refine_cuda");
  const std::string path = dir.file("refine.knnx");
  write_index(*cpu_refine(data, "IVF16,SQ8,RFlat", Metric::InnerProduct), path);
  const std::unique_ptr<Index> host = read_index(path, Device::cuda(0));
  std::unique_ptr<Index> mapped = read_index(path, Device::cuda(0), ReadIndexOptions{.mmap = true});
  auto& refine = dynamic_cast<IndexRefineFlat&>(*mapped);
  ASSERT_EQ(refine.refine_storage(), RefineStorage::Mapped);
  const Neighbours want = search(*host, data.queries, kDim, 10);
  const Neighbours got = search(*mapped, data.queries, kDim, 10);
  EXPECT_EQ(got.lab, want.lab);
  EXPECT_EQ(got.dist, want.dist);
  refine.set_refine_storage(RefineStorage::Device);
  test::expect_same(want, search(*mapped, data.queries, kDim, 10), 10, "mapped to device");
}

}  // namespace
}  // namespace knnx
