// Vectors and queries in device memory are checked on the device as host ones are on the host:
// NaN/Inf and rows whose squared L2 norm is above kMaxSquaredNorm are refused by add, search
// and range_search of GPU Flat and IVF indexes (InvalidArgument naming the reason), and the
// index is unchanged and keeps answering. Host queries above the bound are refused with the row
// named, from the same device check. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
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

// A device copy of a host vector, freed on destruction.
template <typename T>
class DeviceCopy {
 public:
  explicit DeviceCopy(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&ptr_, sizeof(T) * n_), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), sizeof(T) * n_, cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceCopy(std::size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(&ptr_, sizeof(T) * n_), cudaSuccess);
  }
  ~DeviceCopy() { cudaFree(ptr_); }
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  T* get() const { return ptr_; }

 private:
  std::size_t n_;
  T* ptr_ = nullptr;
};

void expect_refusal(const std::function<void()>& call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one naming \"" << part << "\"";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

class DeviceInput : public ::testing::TestWithParam<std::tuple<bool, Metric, int>> {};

TEST_P(DeviceInput, NormBoundAndNonFiniteValuesAreRefusedOnTheDevice) {
  KNNX_REQUIRE_GPU();
  const auto [ivf, metric, d] = GetParam();
  const idx_t n = 2000, nq = 7;
  const int k = 5;
  const auto base = random_vectors(n, d, 71);
  std::unique_ptr<Index> index;
  if (ivf) {
    auto i = std::make_unique<IndexIVFFlat>(d, 16, metric, Device::cuda(0));
    i->train(n, base.data());
    i->set_n_probe(4);
    index = std::move(i);
  } else {
    index = std::make_unique<IndexFlat>(d, metric, Device::cuda(0));
  }
  index->add(n, base.data());
  const auto q = random_vectors(nq, d, 72);
  std::vector<float> before_d(nq * k), after_d(nq * k);
  std::vector<idx_t> before_l(nq * k), after_l(nq * k);
  index->search(nq, q.data(), k, before_d.data(), before_l.data());

  // Row 3 just above the bound (each value sqrt(bound / d) * 1.001), the others ordinary; the
  // same rows scaled to just below the bound are accepted.
  const float above = static_cast<float>(std::sqrt(kMaxSquaredNorm / d) * 1.001);
  const float below = static_cast<float>(std::sqrt(kMaxSquaredNorm / d) * 0.999);
  std::vector<float> big = q;
  for (int j = 0; j < d; ++j) big[static_cast<std::size_t>(3 * d + j)] = above;
  DeviceCopy<float> big_dev(big);
  DeviceCopy<float> dd(static_cast<std::size_t>(nq * k));
  DeviceCopy<idx_t> ld(static_cast<std::size_t>(nq * k));
  const std::string norm_reason = "squared L2 norm";
  expect_refusal([&] { index->search(nq, big_dev.get(), k, dd.get(), ld.get()); }, norm_reason);
  expect_refusal([&] { index->add(nq, big_dev.get()); }, norm_reason);
  // Host queries above the bound: the device check flags them, the host names the row.
  expect_refusal([&] { index->search(nq, big.data(), k, after_d.data(), after_l.data()); },
                 "queries row 3");
  expect_refusal([&] { index->range_search(nq, big.data(), 1.0f); }, "queries row 3");
  EXPECT_EQ(index->ntotal(), n);

  std::vector<float> nan = q;
  nan[static_cast<std::size_t>(2 * d + 1)] = std::numeric_limits<float>::quiet_NaN();
  DeviceCopy<float> nan_dev(nan);
  expect_refusal([&] { index->search(nq, nan_dev.get(), k, dd.get(), ld.get()); }, "non-finite");
  expect_refusal([&] { index->add(nq, nan_dev.get()); }, "non-finite");
  EXPECT_EQ(index->ntotal(), n);

  index->search(nq, q.data(), k, after_d.data(), after_l.data());
  EXPECT_EQ(after_l, before_l);
  EXPECT_EQ(after_d, before_d);

  // Just below the bound: stored from device memory, and searched with finite distances.
  std::vector<float> edge = q;
  for (int j = 0; j < d; ++j) edge[static_cast<std::size_t>(3 * d + j)] = below;
  DeviceCopy<float> edge_dev(edge);
  index->add(nq, edge_dev.get());
  EXPECT_EQ(index->ntotal(), n + nq);
  index->search(nq, edge_dev.get(), k, dd.get(), ld.get());
  std::vector<float> dist(nq * k);
  ASSERT_EQ(cudaMemcpy(dist.data(), dd.get(), sizeof(float) * dist.size(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (const float v : dist) EXPECT_TRUE(std::isfinite(v)) << v;
}

INSTANTIATE_TEST_SUITE_P(Kinds, DeviceInput,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(5, 64)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "ivf_" : "flat_") +
                                  (std::get<1>(info.param) == Metric::L2 ? "l2_d" : "ip_d") +
                                  std::to_string(std::get<2>(info.param));
                         });

#else

TEST(DeviceInput, NeedsCudaBuild) { GTEST_SKIP() << "built without CUDA"; }

#endif

}  // namespace
}  // namespace knnx
