// GPU searches under the workspace bound (core/workspace.hpp): 200,000 queries under the
// smallest bound (16 MiB, hundreds of batches) give the results of a 1 GiB bound on Flat,
// IVF-Flat, IVF-PQ and SQ; a million queries run in the default bound on a device with little
// memory free (one batch of them used to need more than was left); and an explicit bound too
// small for one query is refused, naming what it needs.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/search_params.hpp"

namespace knnx {
namespace {

using test::expect_same;
using test::Neighbours;
using test::random_vectors;
using test::search;

constexpr std::int64_t kSmallest = std::int64_t{16} << 20;  // the smallest bound
constexpr std::int64_t kLarge = std::int64_t{1} << 30;

constexpr int kDim = 8;
constexpr int kK = 10;
constexpr idx_t kRows = 4000;
constexpr idx_t kQueries = 200000;

const std::vector<float>& base() {
  static const std::vector<float> b = random_vectors(kRows, kDim, 81);
  return b;
}
const std::vector<float>& queries() {
  static const std::vector<float> q = random_vectors(kQueries, kDim, 82);
  return q;
}

// The index searched with the smallest and with a large explicit bound: the same neighbours.
// The 200,000 x 10 host results (24 MB) exceed the smallest bound, so their device copy is made
// one batch at a time there, and whole under the large one. Batches of other sizes may take
// other GEMM kernels (flat, coarse), whose rounding can swap the k-th result with the first one
// left out when their distances tie to rounding: the k-th label may differ, its distance not.
template <typename Params>
void expect_bound_independent(const Index& index, Params params, const char* what) {
  params.workspace_bytes = kLarge;
  const Neighbours large = search(index, queries(), kDim, kK, &params);
  params.workspace_bytes = kSmallest;
  const Neighbours small = search(index, queries(), kDim, kK, &params);
  expect_same(large, small, kK, what, /*ties_past_k=*/true);
}

TEST(WorkspaceCuda, FlatSmallestBoundGivesTheLargeBoundsResults) {
  KNNX_REQUIRE_GPU();
  IndexFlat index(kDim, Metric::L2, Device::cuda(0));
  index.add(kRows, base().data());
  expect_bound_independent(index, SearchParams{}, "flat");
}

// Every list probed: the candidates do not depend on the coarse search's batches.
TEST(WorkspaceCuda, IvfFlatSmallestBoundGivesTheLargeBoundsResults) {
  KNNX_REQUIRE_GPU();
  IndexIVFFlat index(kDim, 16, Metric::L2, Device::cuda(0));
  index.train(kRows, base().data());
  index.add(kRows, base().data());
  SearchParamsIVF params;
  params.nprobe = 16;
  expect_bound_independent(index, params, "ivf-flat");
}

TEST(WorkspaceCuda, IvfPqSmallestBoundGivesTheLargeBoundsResults) {
  KNNX_REQUIRE_GPU();
  IndexIVFPQ index(kDim, 16, 4, 8, Metric::L2, Device::cuda(0));
  index.train(kRows, base().data());
  index.add(kRows, base().data());
  SearchParamsIVF params;
  params.nprobe = 16;
  expect_bound_independent(index, params, "ivf-pq");
}

TEST(WorkspaceCuda, SqSmallestBoundGivesTheLargeBoundsResults) {
  KNNX_REQUIRE_GPU();
  IndexScalarQuantizer index(kDim, ScalarQuantizer::Type::QT_8bit, Metric::L2, Device::cuda(0));
  index.train(kRows, base().data());
  index.add(kRows, base().data());
  expect_bound_independent(index, SearchParams{}, "sq8");
}

#ifdef KNNX_WITH_CUDA
// A million queries with about 256 MiB of device memory free: the default bound (a quarter of
// it) splits them into batches. One batch of all of them, as the fixed 1536 MiB default allowed,
// needs about 600 MB for the IVF scan alone (16 probes x k = 4 partial pairs a query).
TEST(WorkspaceCuda, MillionQueriesRunInTheDefaultBoundWithLittleMemoryFree) {
  KNNX_REQUIRE_GPU();
  const test::ConfigGuard restore;
  Config c = config();
  c.gpu_workspace_mb = 0;  // the default bound, whatever the environment says
  set_config(c);
  const idx_t nq = 1000000;
  const int k = 4;
  const auto q = random_vectors(nq, kDim, 83);
  IndexFlat flat(kDim, Metric::L2, Device::cuda(0));
  flat.add(kRows, base().data());
  IndexIVFFlat ivf(kDim, 16, Metric::L2, Device::cuda(0));
  ivf.train(kRows, base().data());
  ivf.add(kRows, base().data());
  SearchParamsIVF all_lists;
  all_lists.nprobe = 16;
  const Neighbours flat_want = search(flat, q, kDim, k);
  const Neighbours ivf_want = search(ivf, q, kDim, k, &all_lists);
  {
    test::DeviceMemoryHog hog(std::size_t{256} << 20);
    ASSERT_TRUE(hog.holding());
    // The default bound is measured at most every 50 ms: let the hog be seen.
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    expect_same(flat_want, search(flat, q, kDim, k), k, "flat, 1M queries", true);
    expect_same(ivf_want, search(ivf, q, kDim, k, &all_lists), k, "ivf-flat, 1M queries", true);
  }
}
#endif

// Radix selection (large k) needs a query's scores over every stored row at once: 4.5M rows are
// 18 MB a query, more than the smallest bound holds. Refused under that explicit bound, naming
// the bytes needed; run under the default one.
TEST(WorkspaceCuda, ExplicitBoundTooSmallForOneQueryIsRefused) {
  KNNX_REQUIRE_GPU();
  const test::ConfigGuard restore;
  Config c = config();
  c.gpu_radix_min_k = 1;  // radix selection for every k
  c.gpu_workspace_mb = 0;
  set_config(c);
  const int d = 4, k = 16;
  const idx_t n = 4500000;
  const auto x = random_vectors(n, d, 84);
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  index.add(n, x.data());
  const auto q = random_vectors(3, d, 85);
  SearchParams small;
  small.workspace_bytes = kSmallest;
  std::vector<float> dist(3 * k);
  std::vector<idx_t> lab(3 * k);
  try {
    index.search(3, q.data(), k, dist.data(), lab.data(), &small);
    FAIL() << "a 16 MiB bound was accepted";
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("too small for one query"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MiB"), std::string::npos) << msg;
  }
  IndexFlat cpu(d, Metric::L2);
  cpu.add(n, x.data());
  expect_same(search(cpu, q, d, k), search(index, q, d, k), k, "default bound", true);
}

}  // namespace
}  // namespace knnx
