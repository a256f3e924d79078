// GPU searches under a workspace bound: queries split into batches that fit give the results of
// one batch, for every scan of both metrics, and the host waits once per IVF search however
// many batches it runs; the shared scan's pieces of long lists fold into the exact results; and
// the metric dispatch that picks each kernel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <tuple>

#include "cuda/common/metric_dispatch.hpp"
#include "gpu_test_util.hpp"
#include "knnx/device_memory.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/search_params.hpp"

#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/runtime/stream_pool.hpp"
#endif

namespace knnx {
namespace {

using test::expect_same;
using test::Neighbours;
using test::random_vectors;
using test::search;

constexpr std::int64_t kSmallestWorkspace = 16 << 20;  // the field's lower bound

using test::host_syncs;
using test::NoSyncCheck;

// Bit-identical distances slot by slot, and the same labels except among rows at exactly equal
// distances (which of them a selection keeps, and in which order, is not specified; the last
// slot's row may tie with one left out).
void expect_identical(const Neighbours& a, const Neighbours& b, int k, const char* what) {
  ASSERT_EQ(a.dist, b.dist) << what;
  ASSERT_EQ(a.lab.size(), b.lab.size());
  for (std::size_t i = 0; i < a.lab.size(); ++i) {
    const std::size_t j = i % k;
    const bool tie_possible = j + 1 == static_cast<std::size_t>(k) ||
                              (j > 0 && a.dist[i] == a.dist[i - 1]) || a.dist[i] == a.dist[i + 1];
    if (!tie_possible) ASSERT_EQ(a.lab[i], b.lab[i]) << what << " slot " << i;
  }
}

// The same neighbours as an exact search up to tolerance: distances slot by slot, and labels
// except where the distance ties (within tolerance) with a neighbouring slot or, in the last
// slot, with a row left out (the k-th and (k+1)-th scores of k = 500 among 20,000 rows are often
// closer than float rounding between two summation orders).
void expect_same_as_exact(const Neighbours& exact, const Neighbours& got, int k, const char* what) {
  ASSERT_EQ(exact.lab.size(), got.lab.size());
  for (std::size_t i = 0; i < exact.lab.size(); ++i) {
    const float tol = 1e-4f * std::max(1.0f, std::abs(exact.dist[i]));
    ASSERT_NEAR(exact.dist[i], got.dist[i], tol) << what << " slot " << i;
    const std::size_t j = i % k;
    const bool tie_possible = j + 1 == static_cast<std::size_t>(k) ||
                              (j > 0 && std::abs(exact.dist[i] - exact.dist[i - 1]) <= tol) ||
                              std::abs(exact.dist[i] - exact.dist[i + 1]) <= tol;
    if (!tie_possible) ASSERT_EQ(exact.lab[i], got.lab[i]) << what << " slot " << i;
  }
}

TEST(MetricDispatch, GivesTheMetricAtCompileTime) {
  const auto l2 = cuda::dispatch_metric(Metric::L2, [](auto m) { return decltype(m)::value; });
  const auto ip =
      cuda::dispatch_metric(Metric::InnerProduct, [](auto m) { return decltype(m)::value; });
  EXPECT_EQ(l2, Metric::L2);
  EXPECT_EQ(ip, Metric::InnerProduct);
  static_assert(cuda::kIsL2<Metric::L2> && !cuda::kIsL2<Metric::InnerProduct>);
  const bool l2_flag = cuda::dispatch_metric(Metric::L2, [](auto m) {
    constexpr bool flag = cuda::kIsL2<decltype(m)::value>;  // usable as a template argument
    return flag;
  });
  EXPECT_TRUE(l2_flag);
}

// How an IVF search scans its lists: (scan_fused, shared_scan, k).
struct Scan {
  const char* name;
  bool fused;
  int shared;
  int k;
};

// All lists probed, so the search is exact and the coarse order cannot change the candidates;
// d = 13 is padded to 16 on the device.
class IvfCudaBatches : public ::testing::TestWithParam<std::tuple<Metric, Scan>> {
 protected:
  static constexpr int d = 13, n_lists = 64;
  static constexpr idx_t n = 20000, nq = 2000;

  void SetUp() override {
    KNNX_REQUIRE_GPU();
    std::tie(metric, scan) = GetParam();
    base = random_vectors(n, d, 11);
    queries = random_vectors(nq, d, 12);
    gpu = std::make_unique<IndexIVFFlat>(d, n_lists, metric, Device::cuda(0));
    gpu->train(n, base.data());
    gpu->add(n, base.data());
    params.nprobe = n_lists;
    params.scan_fused = scan.fused;
    params.shared_scan = scan.shared;
  }

  Metric metric = Metric::L2;
  Scan scan{};
  std::vector<float> base, queries;
  std::unique_ptr<IndexIVFFlat> gpu;
  SearchParamsIVF params;
};

// Under the smallest workspace every scan needs several batches (asserted through the scratch
// sizes below), and gives the one-batch results: each (row, query) score is computed the same
// way whatever the batch, so distances match bit for bit.
TEST_P(IvfCudaBatches, SmallWorkspaceGivesOneBatchResults) {
  KNNX_REQUIRE_GPU();
  // Scratch of one batch of all queries, at least: shared, nq x n_probe x k partials (8 bytes
  // each); per-query, nq x 3 chunks of k; unfused, nq x n candidates.
  const double one_batch_bytes = scan.shared == 1 ? double(nq) * n_lists * scan.k * 8
                                 : scan.fused     ? double(nq) * 3 * scan.k * 8
                                                  : double(nq) * n * 8;
  ASSERT_GT(one_batch_bytes, double(kSmallestWorkspace)) << scan.name;
  const Neighbours one = search(*gpu, queries, d, scan.k, &params);
  params.workspace_bytes = kSmallestWorkspace;
  const Neighbours batched = search(*gpu, queries, d, scan.k, &params);
  expect_identical(one, batched, scan.k, scan.name);
  IndexFlat cpu(d, metric);
  cpu.add(n, base.data());
  expect_same_as_exact(search(cpu, queries, d, scan.k), batched, scan.k, scan.name);
}

// The host waits once per search (cuda::host_syncs_on_this_thread counts the waits): in one
// batch or in the batches of the smallest workspace, with host or with device queries and
// results (the call returns with the results written, so a device caller waits too).
TEST_P(IvfCudaBatches, OneHostWaitPerSearch) {
  KNNX_REQUIRE_GPU();
  const NoSyncCheck no_sync_check;
  const auto waits = [&](const SearchParamsIVF& p) {
    search(*gpu, queries, d, scan.k, &p);  // streams and pools of a first use set up
    const std::uint64_t before = host_syncs();
    search(*gpu, queries, d, scan.k, &p);
    return host_syncs() - before;
  };
  EXPECT_LE(waits(params), 1u) << scan.name << " in one batch";
  SearchParamsIVF batched = params;
  batched.workspace_bytes = kSmallestWorkspace;  // batches: see SmallWorkspaceGivesOneBatchResults
  EXPECT_LE(waits(batched), 1u) << scan.name << " in batches";
#ifdef KNNX_WITH_CUDA
  const std::size_t out = static_cast<std::size_t>(nq) * scan.k;
  const auto q = allocate_device_memory(Device::cuda(0), sizeof(float) * queries.size());
  const auto dist = allocate_device_memory(Device::cuda(0), sizeof(float) * out);
  const auto lab = allocate_device_memory(Device::cuda(0), sizeof(idx_t) * out);
  ASSERT_EQ(
      cudaMemcpy(q.get(), queries.data(), sizeof(float) * queries.size(), cudaMemcpyHostToDevice),
      cudaSuccess);
  const std::uint64_t before = host_syncs();
  gpu->search(nq, static_cast<const float*>(q.get()), scan.k, static_cast<float*>(dist.get()),
              static_cast<idx_t*>(lab.get()), &params);
  EXPECT_LE(host_syncs() - before, 1u) << scan.name << " with device arrays";
  Neighbours got{std::vector<float>(out), std::vector<idx_t>(out)};
  copy_device_to_host(got.dist.data(), dist.get(), sizeof(float) * out, Device::cuda(0));
  copy_device_to_host(got.lab.data(), lab.get(), sizeof(idx_t) * out, Device::cuda(0));
  expect_identical(search(*gpu, queries, d, scan.k, &params), got, scan.k, scan.name);
#endif
}

INSTANTIATE_TEST_SUITE_P(MetricsAndScans, IvfCudaBatches,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(Scan{"shared", true, 1, 32},
                                                              Scan{"per_query", true, 0, 500},
                                                              Scan{"unfused", false, 0, 32})),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == Metric::L2 ? "L2_"
                                                                                    : "IP_") +
                                  std::get<1>(info.param).name;
                         });

class IvfCudaSharedPieces : public ::testing::TestWithParam<Metric> {};

// Few lists of ~2,000 rows and rows_per_chunk at its floor (256): the shared scan cuts every
// list into about 8 pieces, whose best k fold into one list per (query, probe) under a lock on
// the device. Every list probed, so the search is exact: the CPU flat index is the reference,
// and the per-query scan (no pieces) gives the same neighbours, in one batch or several.
TEST_P(IvfCudaSharedPieces, FoldedPiecesGiveTheExactNeighbours) {
  KNNX_REQUIRE_GPU();
  const NoSyncCheck no_sync_check;
  const Metric metric = GetParam();
  const int d = 24, n_lists = 8, k = 20;
  const idx_t n = 16000, nq = 300;
  const auto base = random_vectors(n, d, 51);
  const auto queries = random_vectors(nq, d, 52);
  IndexIVFFlat gpu(d, n_lists, metric, Device::cuda(0));
  gpu.train(n, base.data());
  gpu.add(n, base.data());
  SearchParamsIVF params;
  params.nprobe = n_lists;
  params.shared_scan = 0;
  const Neighbours per_query = search(gpu, queries, d, k, &params);
  params.shared_scan = 1;
  params.rows_per_chunk = 256;
  const std::uint64_t before = host_syncs();
  const Neighbours pieces = search(gpu, queries, d, k, &params);
  EXPECT_LE(host_syncs() - before, 1u);
  IndexFlat cpu(d, metric);
  cpu.add(n, base.data());
  expect_same_as_exact(search(cpu, queries, d, k), pieces, k, "pieces vs exact");
  expect_same(per_query, pieces, k, "pieces vs per-query scan");
  params.workspace_bytes = kSmallestWorkspace;
  expect_same(per_query, search(gpu, queries, d, k, &params), k, "pieces in batches");
}

INSTANTIATE_TEST_SUITE_P(Metrics, IvfCudaSharedPieces,
                         ::testing::Values(Metric::L2, Metric::InnerProduct), [](const auto& info) {
                           return std::string(info.param == Metric::L2 ? "L2" : "IP");
                         });

class FlatCudaBatches : public ::testing::TestWithParam<Metric> {};

// 2,000 queries against 20,000 rows: one batch by default, dozens of GEMM-tile batches under
// the smallest workspace (two 20,000-column tile rows per query alone are 160 KB). Batches of
// different sizes may take different GEMM kernels, so distances agree to rounding.
TEST_P(FlatCudaBatches, SmallWorkspaceGivesOneBatchResults) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const int d = 13, k = 10;
  const idx_t n = 20000, nq = 2000;
  const auto base = random_vectors(n, d, 21);
  const auto queries = random_vectors(nq, d, 22);
  IndexFlat gpu(d, metric, Device::cuda(0));
  gpu.add(n, base.data());
  const Neighbours one = search(gpu, queries, d, k);
  SearchParams params;
  params.workspace_bytes = kSmallestWorkspace;
  const Neighbours batched = search(gpu, queries, d, k, &params);
  expect_same(one, batched, k, "batched");
  IndexFlat cpu(d, metric);
  cpu.add(n, base.data());
  expect_same(search(cpu, queries, d, k), batched, k, "cpu");
}

// The few-query streaming path, the other flat kernel the metric picks.
TEST_P(FlatCudaBatches, StreamingPathRanksByTheMetric) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const int d = 13, k = 10;
  const idx_t n = 20000, nq = 5;
  const auto base = random_vectors(n, d, 31);
  const auto queries = random_vectors(nq, d, 32);
  IndexFlat gpu(d, metric, Device::cuda(0));
  gpu.add(n, base.data());
  IndexFlat cpu(d, metric);
  cpu.add(n, base.data());
  expect_same(search(cpu, queries, d, k), search(gpu, queries, d, k), k, "stream");
}

INSTANTIATE_TEST_SUITE_P(Metrics, FlatCudaBatches,
                         ::testing::Values(Metric::L2, Metric::InnerProduct), [](const auto& info) {
                           return std::string(info.param == Metric::L2 ? "L2" : "IP");
                         });

}  // namespace
}  // namespace knnx
