// GPU faults: when device memory runs out in the middle of add, search or train, the call
// throws OutOfMemory and the index is exactly as it was (same ntotal, training state and answer
// to a fixed search), and it works again once memory is back. Device memory is exhausted by
// allocating nearly all that is free before the call. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace knnx {
namespace {

using test::random_vectors;

#ifdef KNNX_WITH_CUDA

using test::DeviceMemoryHog;

struct State {
  idx_t ntotal;
  bool trained;
  std::vector<float> distances;
  std::vector<idx_t> labels;
  bool operator==(const State&) const = default;
};

State state_of(const Index& index, const std::vector<float>& q, idx_t nq, int k) {
  State s{index.ntotal(), index.is_trained(), {}, {}};
  if (s.trained) {
    s.distances.resize(static_cast<std::size_t>(nq * k));
    s.labels.resize(static_cast<std::size_t>(nq * k));
    index.search(nq, q.data(), k, s.distances.data(), s.labels.data());
  }
  return s;
}

TEST(FaultsCuda, IvfAddOutOfMemoryLeavesIndexUnchanged) {
  KNNX_REQUIRE_GPU();
  const int d = 256;
  const idx_t n = 2000;
  const auto base = random_vectors(n, d, 71);
  const auto q = random_vectors(4, d, 72);
  IndexIVFFlat index(d, 16, Metric::L2, Device::cuda(0));
  index.set_n_probe(4);
  index.train(n, base.data());
  index.add(n, base.data());
  const State before = state_of(index, q, 4, 10);

  const idx_t big = (std::int64_t{512} << 20) / (d * 4);  // 512 MiB of vectors
  std::vector<float> more(static_cast<std::size_t>(big) * d, 0.25f);
  {
    DeviceMemoryHog hog(std::size_t{64} << 20);
    ASSERT_TRUE(hog.holding());
    EXPECT_THROW(index.add(big, more.data()), OutOfMemory);
    EXPECT_EQ(index.ntotal(), n);
  }
  EXPECT_TRUE(state_of(index, q, 4, 10) == before);
  index.add(big, more.data());  // works once memory is back
  EXPECT_EQ(index.ntotal(), n + big);
}

TEST(FaultsCuda, FlatSearchOutOfMemoryLeavesIndexUnchanged) {
  KNNX_REQUIRE_GPU();
  const int d = 128;
  const idx_t n = 50000;
  const auto base = random_vectors(n, d, 73);
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  index.add(n, base.data());
  const idx_t nq = 20000;  // a search of this size needs far more than the memory left below
  const auto q = random_vectors(nq, d, 74);
  const auto q_small = random_vectors(4, d, 75);
  const State before = state_of(index, q_small, 4, 10);
  std::vector<float> dist(static_cast<std::size_t>(nq) * 100);
  std::vector<idx_t> lab(static_cast<std::size_t>(nq) * 100);
  {
    DeviceMemoryHog hog(std::size_t{1} << 20);
    ASSERT_TRUE(hog.holding());
    EXPECT_THROW(index.search(nq, q.data(), 100, dist.data(), lab.data()), OutOfMemory);
  }
  EXPECT_TRUE(state_of(index, q_small, 4, 10) == before);
  index.search(nq, q.data(), 100, dist.data(), lab.data());  // works once memory is back
  EXPECT_GE(lab[0], 0);
}

TEST(FaultsCuda, IvfTrainOutOfMemoryLeavesIndexUntrained) {
  KNNX_REQUIRE_GPU();
  const int d = 256;
  const idx_t n = 400000;  // 400 MiB of training vectors: k-means copies them to the device
  const auto x = random_vectors(n, d, 76);
  IndexIVFFlat index(d, 64, Metric::L2, Device::cuda(0));
  KMeansParams params = index.kmeans_params();
  params.max_points_per_centroid = 1 << 20;  // k-means on every vector, not a sample
  params.n_iter = 2;
  index.set_kmeans_params(params);
  {
    DeviceMemoryHog hog(std::size_t{64} << 20);
    ASSERT_TRUE(hog.holding());
    EXPECT_THROW(index.train(n, x.data()), OutOfMemory);
  }
  EXPECT_FALSE(index.is_trained());
  EXPECT_EQ(index.ntotal(), 0);
  index.train(n, x.data());  // works once memory is back
  EXPECT_TRUE(index.is_trained());
}

#endif  // KNNX_WITH_CUDA

// Runs in every build, so the file always has a case: without a device the GPU constructors
// refuse cleanly rather than failing later.
TEST(FaultsCuda, NoDeviceIsRefusedAtConstruction) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(IndexFlat(8, Metric::L2, Device::cuda(0)), Error);
  EXPECT_THROW(IndexIVFFlat(8, 4, Metric::L2, Device::cuda(0)), Error);
}

}  // namespace
}  // namespace knnx
