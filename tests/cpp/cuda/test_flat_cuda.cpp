// GPU IndexFlat against a float64 brute force and against the CPU IndexFlat.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/synthetic.hpp"
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/flat/flat_kernels.hpp"
#endif

namespace knnx {
namespace {

using test::ConfigGuard;
using test::expect_exact;
using test::random_vectors;

struct Case {
  idx_t n;
  int d;
  int k;
  idx_t nq;
};

void run_case(Metric metric, const Case& c, std::uint64_t seed, double rel_tol = 1e-4) {
  const auto base = random_vectors(c.n, c.d, seed);
  const auto queries = random_vectors(c.nq, c.d, seed + 1);
  IndexFlat gpu(c.d, metric, Device::cuda(0));
  gpu.add(c.n, base.data());
  const std::size_t total = static_cast<std::size_t>(c.nq) * c.k;
  std::vector<float> dist(total, std::numeric_limits<float>::quiet_NaN());  // poison
  std::vector<idx_t> lab(total, -7);
  gpu.search(c.nq, queries.data(), c.k, dist.data(), lab.data());
  for (idx_t q = 0; q < c.nq; ++q) {
    expect_exact(metric, queries.data() + q * c.d, base, c.n, c.d, c.k, dist.data() + q * c.k,
                 lab.data() + q * c.k, rel_tol);
    if (::testing::Test::HasFailure()) {
      FAIL() << "metric " << to_string(metric) << " n=" << c.n << " d=" << c.d << " k=" << c.k
             << " nq=" << c.nq << " query " << q;
    }
  }
}

class FlatCudaSweep : public ::testing::TestWithParam<std::tuple<Metric, int, int>> {};

// d x k sweep on both search paths (few queries: streaming kernel; many: GEMM tiles).
TEST_P(FlatCudaSweep, MatchesFloat64BruteForce) {
  KNNX_REQUIRE_GPU();
  const auto [metric, d, k] = GetParam();
  const idx_t n = 5003;  // not a multiple of any tile or block
  run_case(metric, {n, d, k, 3}, 11);
  run_case(metric, {n, d, k, 37}, 12);
}

INSTANTIATE_TEST_SUITE_P(DimsAndK, FlatCudaSweep,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(1, 3, 64, 128, 129, 768, 1536),
                                            ::testing::Values(1, 10, 100, 1000, 2048)),
                         [](const auto& info) {
                           return fmt::format("{}_d{}_k{}", to_string(std::get<0>(info.param)),
                                              std::get<1>(info.param), std::get<2>(info.param));
                         });

TEST(FlatCuda, SmallTilesAndBatchesStillExact) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  Config c = config();
  c.flat_tile_rows = 1000;    // many tiles, the last one short
  c.flat_tile_queries = 300;  // several query batches of one block per query
  set_config(c);
  run_case(Metric::L2, {4099, 33, 50, 700}, 21);
  run_case(Metric::InnerProduct, {4099, 33, 50, 700}, 22);
  // Few queries per batch: tile rows split over several blocks, several tiles (small workspace).
  c.gpu_workspace_mb = 16;
  c.flat_tile_queries = 200;
  set_config(c);
  run_case(Metric::L2, {30011, 20, 10, 200}, 23);
  run_case(Metric::InnerProduct, {30011, 20, 100, 150}, 24);
}

// KNNX_FLAT_GEMM=3xtf32: the exact many-query path on split tf32 operands keeps float32-level
// distances against float64, over several tiles and query batches.
TEST(FlatCuda, Split3xTf32GemmMatchesFloat64) {
  KNNX_REQUIRE_GPU();
  // A fifth of the FP32 tests' tolerance: 1xTF32 (2^-11 per product) would not stay within it.
  constexpr double kTol = 2e-5;
  ConfigGuard guard;
  Config c = config();
  c.flat_gemm = "3xtf32";
  set_config(c);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    run_case(metric, {5003, 3, 10, 300}, 41, kTol);
    run_case(metric, {5003, 129, 1000, 300}, 42, kTol);
    run_case(metric, {5003, 768, 100, 300}, 43, kTol);
  }
  c.flat_tile_rows = 1000;  // the split base tile is rebuilt for each of several tiles
  c.flat_tile_queries = 300;
  set_config(c);
  run_case(Metric::L2, {4099, 64, 50, 700}, 44, kTol);
  // Values far from 1 in magnitude: the split is relative, so the error stays relative.
  const auto base = random_vectors(3001, 40, 45);
  const auto queries = random_vectors(300, 40, 46);
  std::vector<float> big_base(base), big_queries(queries);
  for (float& v : big_base) v *= 1e4f;
  for (float& v : big_queries) v *= 1e-3f;
  IndexFlat gpu(40, Metric::InnerProduct, Device::cuda(0));
  gpu.add(3001, big_base.data());
  std::vector<float> dist(300 * 10, std::numeric_limits<float>::quiet_NaN());
  std::vector<idx_t> lab(300 * 10, -7);
  gpu.search(300, big_queries.data(), 10, dist.data(), lab.data());
  for (idx_t q = 0; q < 300; ++q) {
    expect_exact(Metric::InnerProduct, big_queries.data() + q * 40, big_base, 3001, 40, 10,
                 dist.data() + q * 10, lab.data() + q * 10, kTol);
    if (::testing::Test::HasFailure()) FAIL() << "scaled inputs, query " << q;
  }
}

TEST(FlatCuda, KLargerThanNPadsResults) {
  KNNX_REQUIRE_GPU();
  run_case(Metric::L2, {17, 8, 100, 2}, 31);
  run_case(Metric::InnerProduct, {17, 8, 100, 20}, 32);
}

TEST(FlatCuda, EmptyIndexReturnsNoResults) {
  KNNX_REQUIRE_GPU();
  IndexFlat gpu(16, Metric::L2, Device::cuda(0));
  const auto q = random_vectors(3, 16, 1);
  std::vector<float> dist(30, 0.0f);
  std::vector<idx_t> lab(30, 5);
  gpu.search(3, q.data(), 10, dist.data(), lab.data());
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(lab[i], -1);
    EXPECT_EQ(dist[i], std::numeric_limits<float>::infinity());
  }
}

TEST(FlatCuda, EqualsCpuIndexWithIdsAndRemovals) {
  KNNX_REQUIRE_GPU();
  const int d = 48;
  const idx_t n = 3000;
  const auto base = random_vectors(n, d, 41);
  std::vector<idx_t> ids(n);
  for (idx_t i = 0; i < n; ++i) ids[i] = 1000000 + 3 * i;
  IndexFlat cpu(d, Metric::L2), gpu(d, Metric::L2, Device::cuda(0));
  cpu.add_with_ids(n, base.data(), ids.data());
  gpu.add_with_ids(n, base.data(), ids.data());
  std::vector<idx_t> gone = {ids[0], ids[5], ids[2999], 77};
  EXPECT_EQ(cpu.remove_ids(4, gone.data()), 3);
  EXPECT_EQ(gpu.remove_ids(4, gone.data()), 3);
  EXPECT_EQ(gpu.ntotal(), n - 3);
  const auto q = random_vectors(20, d, 42);
  for (idx_t nq : {idx_t(2), idx_t(20)}) {
    std::vector<float> dc(nq * 10), dg(nq * 10);
    std::vector<idx_t> lc(nq * 10), lg(nq * 10);
    cpu.search(nq, q.data(), 10, dc.data(), lc.data());
    gpu.search(nq, q.data(), 10, dg.data(), lg.data());
    for (idx_t i = 0; i < nq * 10; ++i) {
      EXPECT_EQ(lc[i], lg[i]) << i;
      EXPECT_NEAR(dc[i], dg[i], 1e-3f * std::max(1.0f, dc[i]));
    }
  }
  std::vector<float> rc(d), rg(d);
  cpu.reconstruct(ids[10], rc.data());
  gpu.reconstruct(ids[10], rg.data());
  EXPECT_EQ(rc, rg);
  EXPECT_EQ(gpu.vectors().size(), static_cast<std::size_t>((n - 3) * d));
}

TEST(FlatCuda, ManySmallAddsGrowStorage) {
  KNNX_REQUIRE_GPU();
  const int d = 20;
  IndexFlat gpu(d, Metric::L2, Device::cuda(0));
  std::vector<float> all;
  for (int i = 0; i < 50; ++i) {
    const auto x = random_vectors(97, d, 100 + i);
    gpu.add(97, x.data());
    all.insert(all.end(), x.begin(), x.end());
  }
  ASSERT_EQ(gpu.ntotal(), 50 * 97);
  EXPECT_EQ(gpu.vectors(), all);
  const auto q = random_vectors(5, d, 7);
  std::vector<float> dist(5 * 10);
  std::vector<idx_t> lab(5 * 10);
  gpu.search(5, q.data(), 10, dist.data(), lab.data());
  for (int i = 0; i < 5; ++i) {
    expect_exact(Metric::L2, q.data() + i * d, all, 50 * 97, d, 10, dist.data() + i * 10,
                 lab.data() + i * 10, 1e-4);
  }
}

TEST(FlatCuda, FastModeRecall) {
  KNNX_REQUIRE_GPU();
  const int d = 128;
  const idx_t n = 20000, nq = 600;  // enough queries for the tensor-core path
  const int k = 10;
  // Clustered data makes near-ties common: the hard case for reduced precision.
  MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 50;
  spec.noise_stddev = 0.2f;
  spec.seed = 5;
  const auto base = make_mixture_base(spec, n).data;
  const auto q = make_mixture_queries(spec, nq).data;
  IndexFlat exact(d, Metric::L2, Device::cuda(0)), fast(d, Metric::L2, Device::cuda(0));
  exact.add(n, base.data());
  fast.add(n, base.data());
  fast.set_precision(FlatPrecision::Fast);
  std::vector<float> de(nq * k), df(nq * k);
  std::vector<idx_t> le(nq * k), lf(nq * k);
  exact.search(nq, q.data(), k, de.data(), le.data());
  fast.search(nq, q.data(), k, df.data(), lf.data());
  std::size_t hit = 0;
  for (idx_t i = 0; i < nq; ++i) {
    std::set<idx_t> truth(le.begin() + i * k, le.begin() + (i + 1) * k);
    for (int j = 0; j < k; ++j) hit += truth.count(lf[i * k + j]);
  }
  const double recall = double(hit) / double(nq * k);
  RecordProperty("fast_recall_at_10", std::to_string(recall));
  EXPECT_GE(recall, 0.999);
  // Re-ranking makes every returned distance exact.
  for (idx_t i = 0; i < nq * k; ++i) {
    if (lf[i] < 0) continue;
    const double truth =
        test::true_distance(Metric::L2, q.data() + (i / k) * d, base.data() + lf[i] * d, d);
    EXPECT_NEAR(df[i], truth, 1e-4 * std::max(1.0, truth));
  }
}

// Fast precision runs where it gains (many queries, k up to KNNX_FLAT_FAST_MAX_K); elsewhere
// the search runs exact, returns what an exact search returns, and precision_used says so.
TEST(FlatCuda, FastPrecisionRunsOnlyWhereItGains) {
  KNNX_REQUIRE_GPU();
  ConfigGuard restore;
  const int d = 64;
  const idx_t n = 20000, many = 1200;  // over 2 queries a multiprocessor on any current GPU
  const auto base = random_vectors(n, d, 71);
  const auto q = random_vectors(many, d, 72);
  IndexFlat exact(d, Metric::L2, Device::cuda(0));
  exact.add(n, base.data());
  SearchParams fast;
  fast.precision = FlatPrecision::Fast;
  EXPECT_EQ(exact.precision_used(many, 10, &fast), FlatPrecision::Fast);
  EXPECT_EQ(exact.precision_used(many, 10), FlatPrecision::Exact);      // the index's own: Exact
  EXPECT_EQ(exact.precision_used(4, 10, &fast), FlatPrecision::Exact);  // streaming kernel
  EXPECT_EQ(exact.precision_used(many, 4096, &fast), FlatPrecision::Exact);  // radix selection
  // Where fast runs, its distances (re-ranked from the rows) differ from the exact path's
  // (from the GEMM) somewhere, which gives the equality checks below their meaning.
  EXPECT_NE(test::search(exact, q, d, 10, &fast).dist, test::search(exact, q, d, 10).dist);
  const int k_past = config().flat_fast_max_k + 1;
  EXPECT_EQ(exact.precision_used(many, k_past, &fast), FlatPrecision::Exact);
  for (const auto& [nq, k] : {std::pair<idx_t, int>{many, k_past}, {4, 10}}) {
    SCOPED_TRACE(fmt::format("nq {} k {}", nq, k));
    const std::vector<float> qs(q.begin(), q.begin() + nq * d);
    const auto want = test::search(exact, qs, d, k);
    const auto got = test::search(exact, qs, d, k, &fast);
    EXPECT_EQ(got.lab, want.lab);
    EXPECT_EQ(got.dist, want.dist);
  }
  Config c = config();
  c.flat_fast_max_k = 0;
  set_config(c);
  EXPECT_EQ(exact.precision_used(many, 10, &fast), FlatPrecision::Exact);
  const auto want = test::search(exact, q, d, 10);
  const auto got = test::search(exact, q, d, 10, &fast);
  EXPECT_EQ(got.lab, want.lab);
  EXPECT_EQ(got.dist, want.dist);
}

class FlatCudaOneQuery : public ::testing::TestWithParam<std::tuple<Metric, int, int>> {};

// One query takes the streaming kernel with as many parts as the device holds blocks at once
// (rows 200,003 / 660 parts on an H100: 304 rows a part, a round and a partial one, the last
// part shorter): k from 1 to 300, on both sides of the last-block merge's bound (parts x k <=
// 8192) and of the minimum part length (4k rows), unfiltered and filtered (a third of the
// rows; 0.5 %, where most warps' rows of a round are all excluded; a range of 100 rows, fewer
// than the largest k, in one or two parts), at dims whose rows are read in less than one, one,
// and a step and a half of float4s a lane; with each way of keeping reads in flight
// (KNNX_FLAT_STREAM_RING; -1, the automatic choice, keeps the registers for parts this short).
TEST_P(FlatCudaOneQuery, ManyPartsMatchFloat64) {
  KNNX_REQUIRE_GPU();
  const auto [metric, d, ring] = GetParam();
  ConfigGuard restore;
  Config c = config();
  c.flat_stream_ring = ring;
  set_config(c);
  const idx_t n = 200'003;
  const auto base = random_vectors(n, d, 71);
  const auto queries = random_vectors(2, d, 72);
  IndexFlat gpu(d, metric, Device::cuda(0));
  gpu.add(n, base.data());

  std::mt19937_64 rng(73);
  std::vector<idx_t> third, sparse;
  for (idx_t i = 0; i < n; ++i) {
    const auto r = rng() % 1000;
    if (r < 333) third.push_back(i);
    if (r < 5) sparse.push_back(i);
  }
  const IDSelectorBatch third_sel(third), sparse_sel(sparse);
  const IDSelectorRange range_sel(123'456, 123'556);
  const std::pair<const char*, const IDSelector*> selections[] = {
      {"all", nullptr}, {"third", &third_sel}, {"sparse", &sparse_sel}, {"range", &range_sel}};

  for (idx_t qi = 0; qi < 2; ++qi) {
    const float* q = queries.data() + qi * d;
    for (const auto& [name, sel] : selections) {
      const test::ExactReference ref(metric, q, base, n, d, sel);
      for (int k : {1, 7, 10, 13, 64, 100, 257, 300}) {
        SearchParams params;
        params.sel = sel;
        std::vector<float> dist(static_cast<std::size_t>(k), std::nanf(""));  // poison
        std::vector<idx_t> lab(static_cast<std::size_t>(k), -7);
        gpu.search(1, q, k, dist.data(), lab.data(), sel != nullptr ? &params : nullptr);
        const std::string what =
            fmt::format("{} d{} ring {} query {} {} k{}", to_string(metric), d, ring, qi, name, k);
        ref.expect(k, dist.data(), lab.data(), 1e-4, what);
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

// A base whose one-query parts are long enough (over 1,024 rows) for the automatic choice to
// take the shared-memory ring where three blocks a multiprocessor fit (k 1 and 10) and not
// where they do not (k 1000), unfiltered and filtered, both metrics.
TEST(FlatCudaOneQueryAuto, LongPartsMatchFloat64) {
  KNNX_REQUIRE_GPU();
  ConfigGuard restore;
  Config c = config();
  c.flat_stream_ring = -1;
  set_config(c);
  const idx_t n = 600'000;
  const int d = 32;
  const auto base = random_vectors(n, d, 81);
  const auto query = random_vectors(1, d, 82);
  std::vector<idx_t> third;
  for (idx_t i = 0; i < n; i += 3) third.push_back(i);
  const IDSelectorBatch third_sel(third);
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexFlat gpu(d, metric, Device::cuda(0));
    gpu.add(n, base.data());
    for (const IDSelector* sel :
         {static_cast<const IDSelector*>(nullptr), static_cast<const IDSelector*>(&third_sel)}) {
      const test::ExactReference ref(metric, query.data(), base, n, d, sel);
      for (int k : {1, 10, 1000}) {
        SearchParams params;
        params.sel = sel;
        std::vector<float> dist(static_cast<std::size_t>(k), std::nanf(""));  // poison
        std::vector<idx_t> lab(static_cast<std::size_t>(k), -7);
        gpu.search(1, query.data(), k, dist.data(), lab.data(), sel != nullptr ? &params : nullptr);
        ref.expect(k, dist.data(), lab.data(), 1e-4,
                   fmt::format("{} {} k{}", to_string(metric), sel ? "third" : "all", k));
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dims, FlatCudaOneQuery,
                         ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(30, 128, 200),
                                            ::testing::Values(-1, 0, 3, 4)),
                         [](const auto& info) {
                           const int ring = std::get<2>(info.param);
                           return fmt::format("{}_d{}_ring{}", to_string(std::get<0>(info.param)),
                                              std::get<1>(info.param),
                                              ring < 0 ? "auto" : std::to_string(ring));
                         });

#ifdef KNNX_WITH_CUDA
// The one-query search splits the rows into as many parts as the device runs streaming blocks at
// once; on sm_90, at a small k (whose selection buffers take little shared memory), the
// register-prefetch kernel's launch bounds hold it to 48 registers, five 256-thread blocks a
// multiprocessor, and the rings' shared memory (64 and 48 KB a block) allow three and four.
TEST(FlatCuda, StreamKernelBlocksPerMultiprocessor) {
  KNNX_REQUIRE_GPU();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  const std::pair<int, int> ring_blocks[] = {{0, 5}, {3, 4}, {4, 3}};
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    for (bool filtered : {false, true}) {
      for (const auto& [ring, sm90_blocks] : ring_blocks) {
        for (int k : {1, 10, 100, 1000, 2048}) {
          const int blocks = cuda::flat_stream_blocks_per_sm(metric, k, filtered, ring);
          EXPECT_GE(blocks, 1) << k;
          EXPECT_LE(blocks, prop.maxThreadsPerMultiProcessor / 256) << k;
          EXPECT_EQ(blocks, cuda::flat_stream_blocks_per_sm(metric, k, filtered, ring)) << k;
        }
        if (prop.major == 9) {
          EXPECT_EQ(cuda::flat_stream_blocks_per_sm(metric, 10, filtered, ring), sm90_blocks)
              << ring;
        }
      }
    }
  }
  EXPECT_THROW(cuda::flat_stream_blocks_per_sm(Metric::L2, 10, false, 2), InvalidArgument);
}

TEST(FlatCuda, DevicePointersInAndOut) {
  KNNX_REQUIRE_GPU();
  const int d = 64, k = 16;
  const idx_t n = 2000, nq = 12;
  const auto base = random_vectors(n, d, 51);
  const auto q = random_vectors(nq, d, 52);
  IndexFlat gpu(d, Metric::InnerProduct, Device::cuda(0));
  float* xb = nullptr;
  float* qd = nullptr;
  float* dd = nullptr;
  idx_t* ld = nullptr;
  ASSERT_EQ(cudaMalloc(&xb, sizeof(float) * n * d), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&qd, sizeof(float) * nq * d), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dd, sizeof(float) * nq * k), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&ld, sizeof(idx_t) * nq * k), cudaSuccess);
  cudaMemcpy(xb, base.data(), sizeof(float) * n * d, cudaMemcpyHostToDevice);
  cudaMemcpy(qd, q.data(), sizeof(float) * nq * d, cudaMemcpyHostToDevice);
  cudaMemset(dd, 0xFF, sizeof(float) * nq * k);  // poison
  gpu.add(n, xb);
  gpu.search(nq, qd, k, dd, ld);
  std::vector<float> dist(nq * k);
  std::vector<idx_t> lab(nq * k);
  cudaMemcpy(dist.data(), dd, sizeof(float) * nq * k, cudaMemcpyDeviceToHost);
  cudaMemcpy(lab.data(), ld, sizeof(idx_t) * nq * k, cudaMemcpyDeviceToHost);
  for (idx_t i = 0; i < nq; ++i) {
    expect_exact(Metric::InnerProduct, q.data() + i * d, base, n, d, k, dist.data() + i * k,
                 lab.data() + i * k, 1e-4);
  }
  // A NaN in device memory is found on the device and rejected.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  cudaMemcpy(qd + 5, &nan, sizeof(float), cudaMemcpyHostToDevice);
  EXPECT_THROW(gpu.search(nq, qd, k, dd, ld), InvalidArgument);
  EXPECT_THROW(gpu.add(nq, qd), InvalidArgument);
  EXPECT_EQ(gpu.ntotal(), n);
  cudaFree(xb);
  cudaFree(qd);
  cudaFree(dd);
  cudaFree(ld);
}

TEST(FlatCuda, OutOfMemoryLeavesIndexUnchanged) {
  KNNX_REQUIRE_GPU();
  const int d = 256;
  const idx_t n = 1000;
  const auto base = random_vectors(n, d, 61);
  IndexFlat gpu(d, Metric::L2, Device::cuda(0));
  gpu.add(n, base.data());
  const auto q = random_vectors(4, d, 62);
  std::vector<float> before_d(40), after_d(40);
  std::vector<idx_t> before_l(40), after_l(40);
  gpu.search(4, q.data(), 10, before_d.data(), before_l.data());

  // Take nearly all free device memory, then ask the index to grow past what is left.
  const idx_t big = (std::int64_t(256) << 20) / (d * 4);  // needs 256 MiB more than is free
  std::vector<float> more(static_cast<std::size_t>(big) * d, 0.5f);
  {
    test::DeviceMemoryHog hog(std::size_t{64} << 20);
    ASSERT_TRUE(hog.holding());
    EXPECT_THROW(gpu.add(big, more.data()), OutOfMemory);
  }
  EXPECT_EQ(gpu.ntotal(), n);
  gpu.search(4, q.data(), 10, after_d.data(), after_l.data());
  EXPECT_EQ(before_l, after_l);
  EXPECT_EQ(before_d, after_d);
  gpu.add(big, more.data());  // and it works once memory is back
  EXPECT_EQ(gpu.ntotal(), n + big);
}
#endif

TEST(FlatCuda, NonexistentDeviceIsRejected) {
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(IndexFlat(8, Metric::L2, Device::cuda(0)), NotSupported);
    return;
  }
  EXPECT_THROW(IndexFlat(8, Metric::L2, Device::cuda(cuda_device_count() + 3)), InvalidArgument);
}

}  // namespace
}  // namespace knnx
