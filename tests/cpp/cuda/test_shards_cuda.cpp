// IndexShards and IndexReplicas on CUDA devices: two shards on one GPU (device merge with the
// shard results written in place) against the single GPU index, for Flat and IVF-Flat, L2 and
// inner product, k up to 1024, sizes not divisible by the shard count, add_with_ids and
// remove_ids; mixed CPU + GPU shards (host merge); and the same on 2 and 4 distinct GPUs (peer
// copies and NCCL), which skip unless that many devices are present.
#include <gtest/gtest.h>
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cuda/gpu_test_util.hpp"
#include "index/shard_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::expect_identical_up_to_ties;
using test::grid_vectors;
using test::Results;
using test::run_search;

constexpr int kDim = 32;
constexpr int kLists = 32;

#define KNNX_REQUIRE_GPUS(n)                                                                   \
  do {                                                                                         \
    if (::knnx::cuda_device_count() < (n)) GTEST_SKIP() << "needs " << (n) << " CUDA devices"; \
  } while (0)

std::unique_ptr<Index> make_index(bool ivf, Metric metric, Device device) {
  if (!ivf) return std::make_unique<IndexFlat>(kDim, metric, device);
  auto index = std::make_unique<IndexIVFFlat>(kDim, kLists, metric, device);
  index->set_centroids(grid_vectors(kLists, kDim, 99).data());
  index->set_n_probe(6);
  return index;
}

std::map<idx_t, const float*> by_label(const std::vector<float>& x, const std::vector<idx_t>& ids) {
  std::map<idx_t, const float*> m;
  for (std::size_t i = 0; i < ids.size(); ++i) m[ids[i]] = x.data() + i * kDim;
  return m;
}

// The single index on devices[0] against shards and replicas over `devices`: plain add, a
// second add, add_with_ids of shuffled ids, remove_ids; every k; every gather available.
void check_against_single(const std::vector<Device>& devices, bool ivf, Metric metric,
                          ShardGather gather) {
  SCOPED_TRACE(std::string(ivf ? "IVF " : "Flat ") + to_string(metric));
  const idx_t n = 20001;
  const idx_t nq = 300;  // past the streaming path's query count: the GEMM path runs too
  const std::vector<float> x = grid_vectors(n, kDim, 1);
  const std::vector<float> q = grid_vectors(nq, kDim, 2);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(3));
  for (idx_t& id : ids) id = 3 * id + 11;
  const auto base = by_label(x, ids);

  auto single = make_index(ivf, metric, devices.front());
  IndexShards shards(kDim, metric, devices, [&](Device d) { return make_index(ivf, metric, d); },
                     {gather});
  IndexReplicas replicas(kDim, metric, devices,
                         [&](Device d) { return make_index(ivf, metric, d); });
  const idx_t half = 7777;
  for (Index* index :
       {single.get(), static_cast<Index*>(&shards), static_cast<Index*>(&replicas)}) {
    index->add_with_ids(half, x.data(), ids.data());
    index->add_with_ids(n - half, x.data() + half * kDim, ids.data() + half);
  }
  test::expect_balanced(shards.shard_sizes());
  for (int k : {1, 10, 128, 1024}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    const Results want = run_search(*single, nq, q, k);
    expect_identical_up_to_ties(want, run_search(shards, nq, q, k), nq, k, metric, q, base, kDim);
    expect_identical_up_to_ties(want, run_search(replicas, nq, q, k), nq, k, metric, q, base, kDim);
    // One query (the streaming path) too.
    const Results one = run_search(*single, 1, q, k);
    expect_identical_up_to_ties(one, run_search(shards, 1, q, k), 1, k, metric, q, base, kDim);
  }
  std::vector<idx_t> gone(ids.begin(), ids.begin() + 5000);
  gone.push_back(2);  // absent
  EXPECT_EQ(shards.remove_ids(static_cast<idx_t>(gone.size()), gone.data()), 5000);
  EXPECT_EQ(replicas.remove_ids(static_cast<idx_t>(gone.size()), gone.data()), 5000);
  single->remove_ids(static_cast<idx_t>(gone.size()), gone.data());
  const Results want = run_search(*single, nq, q, 100);
  expect_identical_up_to_ties(want, run_search(shards, nq, q, 100), nq, 100, metric, q, base, kDim);
  expect_identical_up_to_ties(want, run_search(replicas, nq, q, 100), nq, 100, metric, q, base,
                              kDim);
  std::vector<float> got(kDim);
  shards.reconstruct(ids[9000], got.data());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), x.begin() + 9000 * kDim));
}

void check_all(const std::vector<Device>& devices, ShardGather gather) {
  for (bool ivf : {false, true}) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      check_against_single(devices, ivf, metric, gather);
    }
  }
}

TEST(ShardsCuda, TwoShardsOnOneGpu) {
  KNNX_REQUIRE_GPU();
  IndexShards probe(kDim, "Flat", {Device::cuda(0), Device::cuda(0)});
  EXPECT_STREQ(probe.gather_method(), "peer");  // one device: nothing to send
  check_all({Device::cuda(0), Device::cuda(0)}, ShardGather::Auto);
}

TEST(ShardsCuda, ThreeShardsOnOneGpu) {
  KNNX_REQUIRE_GPU();
  check_against_single({Device::cuda(0), Device::cuda(0), Device::cuda(0)}, false, Metric::L2,
                       ShardGather::Peer);
  check_against_single({Device::cuda(0), Device::cuda(0), Device::cuda(0)}, true,
                       Metric::InnerProduct, ShardGather::Peer);
}

TEST(ShardsCuda, MixedCpuAndGpuShardsMergeOnTheHost) {
  KNNX_REQUIRE_GPU();
  IndexShards mixed(kDim, "Flat", {Device::cuda(0), Device::cpu()});
  EXPECT_STREQ(mixed.gather_method(), "host");
  check_against_single({Device::cuda(0), Device::cpu()}, false, Metric::L2, ShardGather::Auto);
  check_against_single({Device::cuda(0), Device::cpu()}, true, Metric::L2, ShardGather::Auto);
}

TEST(ShardsCuda, TrainOnGpuSharesCentroids) {
  KNNX_REQUIRE_GPU();
  const std::vector<float> x = grid_vectors(8000, kDim, 4);
  IndexShards shards(kDim, "IVF32,Flat", {Device::cuda(0), Device::cuda(0)});
  shards.train(8000, x.data());
  EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(shards.shard(1)).centroids(),
            dynamic_cast<const IndexIVFFlat&>(shards.shard(0)).centroids());
}

#ifdef KNNX_WITH_CUDA  // device pointers need the CUDA runtime (CPU-only builds link without it)
TEST(ShardsCuda, DevicePointersAreRefused) {
  KNNX_REQUIRE_GPU();
  IndexShards shards(kDim, "Flat", {Device::cuda(0), Device::cuda(0)});
  const std::vector<float> x = grid_vectors(100, kDim, 5);
  shards.add(100, x.data());
  float* dq = nullptr;
  ASSERT_EQ(cudaMalloc(&dq, sizeof(float) * kDim), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dq, x.data(), sizeof(float) * kDim, cudaMemcpyHostToDevice), cudaSuccess);
  std::vector<float> d(10);
  std::vector<idx_t> l(10);
  EXPECT_THROW(shards.search(1, dq, 10, d.data(), l.data()), InvalidArgument);
  EXPECT_THROW(shards.add(1, dq), InvalidArgument);
  EXPECT_EQ(shards.ntotal(), 100);
  cudaFree(dq);
}
#endif

TEST(ShardsCuda, TwoGpus) {
  KNNX_REQUIRE_GPUS(2);
  check_all({Device::cuda(0), Device::cuda(1)}, ShardGather::Peer);
  if (nccl_compiled()) {
    IndexShards probe(kDim, "Flat", {Device::cuda(0), Device::cuda(1)});
    EXPECT_STREQ(probe.gather_method(), "nccl");
    check_all({Device::cuda(0), Device::cuda(1)}, ShardGather::Nccl);
  }
  // Repeated devices across GPUs: two shards on each.
  check_against_single({Device::cuda(0), Device::cuda(1), Device::cuda(0), Device::cuda(1)}, false,
                       Metric::L2, ShardGather::Auto);
}

TEST(ShardsCuda, FourGpus) {
  KNNX_REQUIRE_GPUS(4);
  const std::vector<Device> four = {Device::cuda(0), Device::cuda(1), Device::cuda(2),
                                    Device::cuda(3)};
  check_all(four, ShardGather::Peer);
  if (nccl_compiled()) check_all(four, ShardGather::Nccl);
}

}  // namespace
}  // namespace knnx
