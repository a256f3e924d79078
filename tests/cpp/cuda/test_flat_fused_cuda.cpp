// GPU IndexFlat fast precision by the fused kernel (KNNX_FLAT_FAST_KERNEL=fused, fp16 and tf32
// operands) against the same index's exact search: recall, odd shapes, huge and tiny norms,
// non-finite rows, ties, and buffer overflow.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include "gpu_test_util.hpp"
#include "knnx/synthetic.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/flat/fused_fast.hpp"
#include "cuda/flat/fused_wgmma.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"
#endif

namespace knnx {
namespace {

using test::ConfigGuard;

// Many queries, so the batch has at least 2 queries a multiprocessor (fast mode's condition).
constexpr idx_t kManyQueries = 600;

// operands: fp16 (on warpgroup MMA where the device has it), fp16sync (on mma.sync) or tf32.
void use_fused(int cap = 0, std::string_view operands = "fp16") {
  Config c = config();
  c.flat_fast_kernel = "fused";
  c.flat_fused_cap = cap;
  c.flat_fused_operands = operands == "tf32" ? "tf32" : "fp16";
  c.flat_fused_mma = operands == "fp16sync" ? "sync" : "auto";
  set_config(c);
}

std::vector<float> mixture(idx_t n, int d, std::uint64_t seed, bool queries) {
  MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 64;
  spec.noise_stddev = 0.6f;
  spec.seed = seed;
  return queries ? make_mixture_queries(spec, n).data : make_mixture_base(spec, n).data;
}

// Recall of `got` against `want` (both [nq][k], distances ascending for L2, descending for IP):
// a returned label counts when it is among the exact labels or when its distance ties the
// exact k-th (duplicates and ties may swap labels). Labels must be distinct within a query.
double recall(Metric metric, const test::Neighbours& want, const test::Neighbours& got, int k) {
  const std::size_t nq = want.lab.size() / static_cast<std::size_t>(k);
  std::size_t hits = 0, total = 0;
  for (std::size_t q = 0; q < nq; ++q) {
    std::unordered_set<idx_t> exact, seen;
    float kth = 0;
    for (int j = 0; j < k; ++j) {
      const idx_t l = want.lab[q * k + j];
      if (l < 0) continue;
      exact.insert(l);
      kth = want.dist[q * k + j];
      ++total;
    }
    const float tol = 1e-5f * std::max(1.0f, std::abs(kth));
    for (int j = 0; j < k; ++j) {
      const idx_t l = got.lab[q * k + j];
      if (l < 0) continue;
      EXPECT_TRUE(seen.insert(l).second) << "query " << q << " returns label " << l << " twice";
      const float dd = got.dist[q * k + j];
      const bool within = metric == Metric::L2 ? dd <= kth + tol : dd >= kth - tol;
      if (exact.count(l) != 0 || within) ++hits;
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(total);
}

// Fused fast search of q against the index's exact search: fast precision is used, and recall
// is at least min_recall.
void expect_fused_recall(const IndexFlat& index, Metric metric, const std::vector<float>& q, int d,
                         int k, double min_recall = 0.999) {
  SearchParams fast;
  fast.precision = FlatPrecision::Fast;
  const idx_t nq = static_cast<idx_t>(q.size()) / d;
  EXPECT_EQ(index.precision_used(nq, k, &fast), FlatPrecision::Fast);
  const auto want = test::search(index, q, d, k);
  const auto got = test::search(index, q, d, k, &fast);
  EXPECT_GE(recall(metric, want, got, k), min_recall) << "k " << k;
}

class FlatFusedCuda : public ::testing::TestWithParam<std::tuple<const char*, Metric, int, int>> {};

// n not a multiple of the 128-row tile, d not a multiple of 8, of fp16's 16-column unit or of
// tf32's 32-float K stage; d 200 takes the tf32 kernel whatever the operands asked.
TEST_P(FlatFusedCuda, RecallAgainstExact) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  const auto [operands, metric, d, k] = GetParam();
  use_fused(0, operands);
  const idx_t n = 20011;
  IndexFlat index(d, metric, Device::cuda(0));
  const auto base = mixture(n, d, 5, false);
  index.add(n, base.data());
  expect_fused_recall(index, metric, mixture(kManyQueries, d, 5, true), d, k);
}

INSTANTIATE_TEST_SUITE_P(OperandsMetricsDimsK, FlatFusedCuda,
                         ::testing::Combine(::testing::Values("fp16", "fp16sync", "tf32"),
                                            ::testing::Values(Metric::L2, Metric::InnerProduct),
                                            ::testing::Values(3, 100, 128, 200),
                                            ::testing::Values(1, 10, 100, 256)),
                         [](const auto& info) {
                           return fmt::format("{}_{}_d{}_k{}", std::get<0>(info.param),
                                              to_string(std::get<1>(info.param)),
                                              std::get<2>(info.param), std::get<3>(info.param));
                         });

// The fused kernel's FP16 instructions and TF32.
constexpr const char* kOperands[] = {"fp16", "fp16sync", "tf32"};

// Edge cases on a GPU, with the fused kernel as the process default (restored after).
class FlatFusedCudaEdge : public ::testing::Test {
 protected:
  void SetUp() override {
    KNNX_REQUIRE_GPU();
    use_fused();
  }
  ConfigGuard guard_;
};

// A few rows with norms a thousand times the rest: the TF32 error bound scales with |x|, so
// neither they nor their neighbours are lost.
TEST_F(FlatFusedCudaEdge, HugeNormRows) {
  const int d = 64;
  const idx_t n = 9001;
  auto base = mixture(n, d, 7, false);
  for (idx_t r = 0; r < n; r += 97) {
    for (int j = 0; j < d; ++j) base[r * d + j] *= 1000.0f;
  }
  auto q = mixture(kManyQueries, d, 7, true);
  for (idx_t r = 0; r < kManyQueries; r += 50) {
    for (int j = 0; j < d; ++j) q[r * d + j] *= 1000.0f;
  }
  for (const char* operands : kOperands) {
    use_fused(0, operands);
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      SCOPED_TRACE(fmt::format("{} {}", operands, to_string(metric)));
      IndexFlat index(d, metric, Device::cuda(0));
      index.add(n, base.data());
      expect_fused_recall(index, metric, q, d, 10);
    }
  }
}

// FP16 operands are scaled by powers of two from the largest norms: data whose magnitudes
// would overflow fp16 (1e12) or fall below its normal range (1e-12) unscaled keeps its recall,
// and so does data whose rows span sixteen orders of magnitude, where the small rows' coordinates
// fall below fp16's normal range after scaling (the threshold's absolute term keeps them).
TEST_F(FlatFusedCudaEdge, Fp16ScalesExtremeMagnitudes) {
  for (const char* operands : {"fp16", "fp16sync"}) {
    SCOPED_TRACE(operands);
    use_fused(0, operands);
    const int d = 40;
    const idx_t n = 9001;
    const auto base = mixture(n, d, 15, false);
    const auto q = mixture(kManyQueries, d, 15, true);
    for (const float magnitude : {1e12f, 1e-12f}) {
      auto b = base, qq = q;
      for (float& v : b) v *= magnitude;
      for (float& v : qq) v *= magnitude;
      for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
        SCOPED_TRACE(fmt::format("{} x {}", to_string(metric), magnitude));
        IndexFlat index(d, metric, Device::cuda(0));
        index.add(n, b.data());
        expect_fused_recall(index, metric, qq, d, 10);
      }
    }
    auto spread = base;
    for (idx_t r = 0; r < n; ++r) {
      const float s = std::pow(10.0f, static_cast<float>(r % 17) - 8.0f);  // 1e-8 .. 1e8
      for (int j = 0; j < d; ++j) spread[r * d + j] *= s;
    }
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      SCOPED_TRACE(fmt::format("{}, rows 1e-8 .. 1e8", to_string(metric)));
      IndexFlat index(d, metric, Device::cuda(0));
      index.add(n, spread.data());
      expect_fused_recall(index, metric, q, d, 10);
    }
  }
}

// Every stored vector repeated 40 times: all neighbours tie in groups.
TEST_F(FlatFusedCudaEdge, DuplicatesAndTies) {
  const int d = 24;
  const idx_t distinct = 251, copies = 40, n = distinct * copies;
  const auto one = mixture(distinct, d, 9, false);
  std::vector<float> base;
  for (idx_t c = 0; c < copies; ++c) base.insert(base.end(), one.begin(), one.end());
  const auto q = mixture(kManyQueries, d, 9, true);
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    SCOPED_TRACE(to_string(metric));
    IndexFlat index(d, metric, Device::cuda(0));
    index.add(n, base.data());
    for (int k : {1, 10, 100}) expect_fused_recall(index, metric, q, d, k);
  }
}

// A candidate buffer of one entry overflows for every query at k 10: each is searched again by
// the exact path, so the results are the exact search's.
TEST_F(FlatFusedCudaEdge, OverflowFallsBackToExact) {
  use_fused(1);
  const int d = 48;
  const idx_t n = 5003;
  const auto base = mixture(n, d, 11, false);
  const auto q = mixture(kManyQueries, d, 11, true);
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    SCOPED_TRACE(to_string(metric));
    IndexFlat index(d, metric, Device::cuda(0));
    index.add(n, base.data());
    SearchParams fast;
    fast.precision = FlatPrecision::Fast;
    const auto want = test::search(index, q, d, 10);
    const auto got = test::search(index, q, d, 10, &fast);
    EXPECT_EQ(got.lab, want.lab);
    EXPECT_EQ(got.dist, want.dist);
  }
  // A buffer just short of what some queries need: those fall back, the rest stay fast, and
  // recall holds over all of them.
  use_fused(30);  // k' is 26: rows tied within the TF32 bound push some queries past 30
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  index.add(n, base.data());
  expect_fused_recall(index, Metric::L2, q, d, 10);
}

#ifdef KNNX_WITH_CUDA
// KNNX_FLAT_FAST_KERNEL=auto (the default) returns what the fused kernel returns on FP16
// operands for k up to kFusedFp16AutoMaxK (kFusedAutoMaxK on warpgroup MMA), on TF32 operands up
// to kFusedAutoMaxK, and what the cuBLAS tiles return past it or past 128 dimensions.
TEST_F(FlatFusedCudaEdge, AutoChoosesByKAndDims) {
  for (const int d : {64, 200}) {
    const idx_t n = 20011;
    IndexFlat index(d, Metric::L2, Device::cuda(0));
    const auto base = mixture(n, d, 19, false);
    index.add(n, base.data());
    const auto q = mixture(kManyQueries, d, 19, true);
    SearchParams fast;
    fast.precision = FlatPrecision::Fast;
    for (const int k : {cuda::kFusedFp16AutoMaxK, cuda::kFusedFp16AutoMaxK + 1,
                        cuda::kFusedAutoMaxK, cuda::kFusedAutoMaxK + 1}) {
      SCOPED_TRACE(fmt::format("d {} k {}", d, k));
      Config c = config();
      c.flat_fast_kernel = "auto";
      set_config(c);
      const auto got = test::search(index, q, d, k, &fast);
      const bool fused = d <= 128 && k <= cuda::kFusedAutoMaxK;
      // FP16's reach depends on the instruction (KNNX_FLAT_FUSED_MMA=auto: wgmma where the
      // device has it; these rows' copy fits the default workspace).
      const int fp16_max_k =
          cuda::fused_wgmma_device(0) ? cuda::kFusedAutoMaxK : cuda::kFusedFp16AutoMaxK;
      c.flat_fast_kernel = fused ? "fused" : "gemm";
      c.flat_fused_operands = k <= fp16_max_k ? "fp16" : "tf32";
      set_config(c);
      const auto want = test::search(index, q, d, k, &fast);
      EXPECT_EQ(got.lab, want.lab);
      EXPECT_EQ(got.dist, want.dist);
    }
  }
}
#endif

#ifdef KNNX_WITH_CUDA
// KNNX_FLAT_FUSED_MMA=auto takes warpgroup MMA where the device has it and the rows' FP16 copy
// fits a quarter of the workspace, mma.sync elsewhere: its results are those of the instruction
// the rule names. Asking for wgmma on a device without it is an error that says so.
TEST_F(FlatFusedCudaEdge, MmaRuleFollowsDeviceAndWorkspace) {
  const int d = 64;
  const idx_t n = 200003;  // FP16 copy: 200003 x 64 x 2 bytes plus 1,563 tiles of terms, ~27.2 MB
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  const auto base = mixture(n, d, 21, false);
  index.add(n, base.data());
  const auto q = mixture(kManyQueries, d, 21, true);
  const bool has_wgmma = cuda::fused_wgmma_device(0);
  const auto search_with = [&](const char* mma, std::int64_t workspace) {
    Config c = config();
    c.flat_fused_mma = mma;
    set_config(c);
    SearchParams fast;
    fast.precision = FlatPrecision::Fast;
    fast.workspace_bytes = workspace;
    return test::search(index, q, d, 10, &fast);
  };
  const std::int64_t roomy = std::int64_t{512} << 20;
  // A quarter of 100 MB does not hold the copy; the rest holds the fused pipeline's buffers for
  // a few hundred queries at a time.
  const std::int64_t tight = std::int64_t{100} << 20;
  const auto sync_roomy = search_with("sync", roomy);
  const auto auto_roomy = search_with("auto", roomy);
  const auto sync_tight = search_with("sync", tight);
  const auto auto_tight = search_with("auto", tight);
  EXPECT_EQ(auto_tight.lab, sync_tight.lab);
  EXPECT_EQ(auto_tight.dist, sync_tight.dist);
  if (has_wgmma) {
    const auto wgmma_roomy = search_with("wgmma", roomy);
    EXPECT_EQ(auto_roomy.lab, wgmma_roomy.lab);
    EXPECT_EQ(auto_roomy.dist, wgmma_roomy.dist);
    // Both instructions find every true neighbour the re-rank needs.
    EXPECT_GE(recall(Metric::L2, sync_roomy, wgmma_roomy, 10), 0.999);
  } else {
    EXPECT_EQ(auto_roomy.lab, sync_roomy.lab);
    EXPECT_EQ(auto_roomy.dist, sync_roomy.dist);
    try {
      search_with("wgmma", roomy);
      ADD_FAILURE() << "wgmma on a device without it did not throw";
    } catch (const NotSupported& e) {
      EXPECT_NE(std::string(e.what()).find("KNNX_FLAT_FUSED_MMA=wgmma"), std::string::npos)
          << e.what();
    }
  }
}
#endif

// One query (and a few) run exact, as precision_used says; a large batch with several chunks of
// the fused pipeline (a small workspace) keeps its recall.
TEST_F(FlatFusedCudaEdge, FewQueriesAndSmallWorkspace) {
  const int d = 32;
  const idx_t n = 30000;
  const auto base = mixture(n, d, 13, false);
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  index.add(n, base.data());
  SearchParams fast;
  fast.precision = FlatPrecision::Fast;
  const auto one = mixture(1, d, 13, true);
  EXPECT_EQ(index.precision_used(1, 10, &fast), FlatPrecision::Exact);
  const auto want = test::search(index, one, d, 10);
  const auto got = test::search(index, one, d, 10, &fast);
  EXPECT_EQ(got.lab, want.lab);
  EXPECT_EQ(got.dist, want.dist);
  // Under 256 MiB the tiled plan still batches about 1,000 queries (fast precision), while
  // buffers of 65,536 candidates a query split each batch into several chunks of the fused
  // pipeline.
  use_fused(65536);
  Config c = config();
  c.gpu_workspace_mb = 256;
  set_config(c);
  expect_fused_recall(index, Metric::L2, mixture(3000, d, 13, true), d, 10);
}

#ifdef KNNX_WITH_CUDA
// The candidate-count rules (host arithmetic; no device needed).
TEST(FlatFusedCudaRules, KeptSampleAndBufferSizes) {
  EXPECT_EQ(cuda::fused_kept(1, 2), 17);  // at least k + 16
  EXPECT_EQ(cuda::fused_kept(10, 20), 26);
  EXPECT_EQ(cuda::fused_kept(100, 200), 200);  // overfetch x k once it is larger
  EXPECT_EQ(cuda::fused_kept(4090, 4096), 4096);
  // 1M rows, k' 26: a sample of 16,384 rows (every 61st), 1,587 expected candidates, 4x that.
  const cuda::FusedFastShape big = cuda::fused_fast_shape(1'000'000, 26, 0);
  EXPECT_EQ(big.sample, 16384);
  EXPECT_EQ(big.stride, 61);
  EXPECT_EQ(big.cap, 6368);
  // Fewer rows than the sample: every row is sampled, the buffer need not exceed the rows.
  const cuda::FusedFastShape small = cuda::fused_fast_shape(20011, 512, 0);
  EXPECT_EQ(small.sample, 20011);
  EXPECT_EQ(small.stride, 1);
  EXPECT_EQ(small.cap, 2048);
  EXPECT_GE(cuda::fused_fast_shape(100, 26, 0).cap, 100);
  EXPECT_EQ(cuda::fused_fast_shape(1'000'000, 26, 1).cap, 1);  // KNNX_FLAT_FUSED_CAP
  // The TF32 error bound: about 2^-9 |q||x| for an inner product, twice that for L2.
  const float ip = cuda::fused_margin_coef(Metric::InnerProduct, 128);
  EXPECT_NEAR(ip, 2.0 * (1.0 / 1024 + 1.0 / 4194304 + 128.0 / 16777216), 1e-9);
  EXPECT_FLOAT_EQ(cuda::fused_margin_coef(Metric::L2, 128), 2 * ip);
}
#endif

#ifdef KNNX_WITH_CUDA
// The candidate kernels themselves, with an open threshold (+inf: every row passes), so that
// every score of the tiles comes back through the candidate buffers and is compared with a
// float64 product within the fused error bound. This pins each kernel's fragment, swizzle and
// descriptor layouts, the rows past n and past a slice, and the queries past nq.
// WgmmaCall: the wgmma kernel with its epilogue's second step out of line (as for a low
// expected candidate rate).
enum class CandidateKernel { Tf32, Fp16Sync, Wgmma, WgmmaCall };

std::string_view kernel_name(CandidateKernel k) {
  switch (k) {
    case CandidateKernel::Tf32:
      return "tf32";
    case CandidateKernel::Fp16Sync:
      return "fp16sync";
    case CandidateKernel::Wgmma:
      return "wgmma";
    case CandidateKernel::WgmmaCall:
      return "wgmmacall";
  }
  return "?";
}

float host_key_to_float(std::uint32_t key) {  // cuda/select/radix_key.cuh, on the host
  const std::uint32_t u = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

class FusedCandidateKernels
    : public ::testing::TestWithParam<std::tuple<CandidateKernel, Metric, int>> {};

TEST_P(FusedCandidateKernels, EveryScoreWithAnOpenThreshold) {
  KNNX_REQUIRE_GPU();
  const auto [kernel, metric, d] = GetParam();  // d: a multiple of 4, so rows are unpadded
  const bool wgmma = kernel == CandidateKernel::Wgmma || kernel == CandidateKernel::WgmmaCall;
  if (wgmma && !cuda::fused_wgmma_device(0)) {
    GTEST_SKIP() << "no warpgroup MMA on this device";
  }
  const int n = 1000, nq = 200, splits = 3, cap = n;  // slices of 384 rows; 2 query tiles
  std::mt19937 rng(static_cast<std::uint32_t>(d * 31 + static_cast<int>(metric)));
  std::normal_distribution<float> normal;
  std::vector<float> base(static_cast<std::size_t>(n) * d), q(static_cast<std::size_t>(nq) * d);
  for (float& v : base) v = normal(rng);
  for (float& v : q) v = normal(rng);
  const auto norms_of = [d](const std::vector<float>& x) {
    std::vector<float> out(x.size() / d);
    for (std::size_t r = 0; r < out.size(); ++r) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += double(x[r * d + j]) * x[r * d + j];
      out[r] = static_cast<float>(s);
    }
    return out;
  };
  const std::vector<float> norms = norms_of(base), qnorms = norms_of(q);

  cuda::StreamContext ctx(0);
  const cudaStream_t s = ctx.stream();
  const auto upload = [s](const std::vector<float>& h) {
    cuda::DeviceBuffer<float> b(h.size(), s);
    KNNX_CUDA_CHECK(
        cudaMemcpyAsync(b.data(), h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice, s));
    return b;
  };
  auto base_d = upload(base), q_d = upload(q), norms_d = upload(norms), qnorms_d = upload(qnorms);
  auto thr_d = upload(std::vector<float>(nq, INFINITY));
  auto qscale_d = upload(std::vector<float>(nq, 0.0f));
  cuda::DeviceBuffer<std::uint32_t> max_norm2(2, s);
  KNNX_CUDA_CHECK(cudaMemsetAsync(max_norm2.data(), 0, 2 * sizeof(std::uint32_t), s));
  cuda::launch_max_norm2(qnorms_d.data(), nq, max_norm2.data(), s, true);
  cuda::launch_max_norm2(norms_d.data(), n, max_norm2.data() + 1, s, true);
  cuda::DeviceBuffer<int> counts(nq, s);
  cuda::DeviceBuffer<std::uint32_t> keys(static_cast<std::size_t>(nq) * cap, s);
  cuda::DeviceBuffer<std::int32_t> rows(static_cast<std::size_t>(nq) * cap, s);
  KNNX_CUDA_CHECK(cudaMemsetAsync(counts.data(), 0, sizeof(int) * nq, s));
  KNNX_CUDA_CHECK(cudaMemsetAsync(keys.data(), 0xFF, sizeof(std::uint32_t) * keys.size(), s));
  KNNX_CUDA_CHECK(cudaMemsetAsync(rows.data(), 0xFF, sizeof(std::int32_t) * rows.size(), s));
  const cuda::FusedWgmmaRows half_rows = cuda::fused_wgmma_rows_shape(n, d);
  cuda::DeviceBuffer<__half> xh(static_cast<std::size_t>(n) * half_rows.dk, s);
  cuda::DeviceBuffer<float2> terms(static_cast<std::size_t>(half_rows.tiles) * 128, s);
  cuda::DeviceBuffer<float> tile_norms(static_cast<std::size_t>(half_rows.tiles), s);
  switch (kernel) {
    case CandidateKernel::Tf32:
    case CandidateKernel::Fp16Sync:
      cuda::launch_fused_candidates(base_d.data(), norms_d.data(), n, d, q_d.data(), nq,
                                    thr_d.data(), qscale_d.data(), metric,
                                    kernel == CandidateKernel::Tf32 ? nullptr : max_norm2.data(),
                                    cap, splits, counts.data(), keys.data(), rows.data(), s, true);
      break;
    case CandidateKernel::Wgmma:
    case CandidateKernel::WgmmaCall:
      cuda::launch_fused_wgmma_rows(base_d.data(), norms_d.data(), n, d, metric, max_norm2.data(),
                                    half_rows, xh.data(), terms.data(), tile_norms.data(), s, true);
      cuda::launch_fused_candidates_wgmma(xh.data(), terms.data(), tile_norms.data(), half_rows, n,
                                          d, q_d.data(), nq, thr_d.data(), qscale_d.data(), metric,
                                          max_norm2.data(), cap,
                                          kernel == CandidateKernel::WgmmaCall ? 0.0 : 1.0, splits,
                                          counts.data(), keys.data(), rows.data(), s, true);
      break;
  }
  std::vector<int> h_counts(nq);
  std::vector<std::uint32_t> h_keys(keys.size());
  std::vector<std::int32_t> h_rows(rows.size());
  KNNX_CUDA_CHECK(
      cudaMemcpyAsync(h_counts.data(), counts.data(), sizeof(int) * nq, cudaMemcpyDeviceToHost, s));
  KNNX_CUDA_CHECK(
      cudaMemcpyAsync(h_keys.data(), keys.data(), 4 * h_keys.size(), cudaMemcpyDeviceToHost, s));
  KNNX_CUDA_CHECK(
      cudaMemcpyAsync(h_rows.data(), rows.data(), 4 * h_rows.size(), cudaMemcpyDeviceToHost, s));
  ctx.synchronize();

  const double coef = cuda::fused_margin_coef(metric, d);
  int wrong = 0;
  for (int qi = 0; qi < nq; ++qi) {
    ASSERT_EQ(h_counts[qi], n) << "query " << qi << ": every row passes an open threshold";
    std::vector<char> seen(n, 0);
    for (int e = 0; e < cap; ++e) {
      const std::int32_t r = h_rows[static_cast<std::size_t>(qi) * cap + e];
      ASSERT_TRUE(r >= 0 && r < n) << "query " << qi << " entry " << e << " row " << r;
      ASSERT_FALSE(seen[r]) << "query " << qi << " row " << r << " twice";
      seen[r] = 1;
      double dot = 0;
      for (int j = 0; j < d; ++j) dot += double(q[qi * d + j]) * base[r * d + j];
      const double want = metric == Metric::L2 ? norms[r] - 2 * dot : -dot;
      const double got = host_key_to_float(h_keys[static_cast<std::size_t>(qi) * cap + e]);
      const double bound = coef * std::sqrt(double(qnorms[qi]) * norms[r]) + 1e-5;
      if (!(std::abs(got - want) <= bound) && ++wrong <= 8) {
        // Which (query, row) the score belongs to, if any: a layout error shows as a mapping.
        double nearest = INFINITY;
        int nq_at = -1, nr_at = -1;
        for (int q2 = 0; q2 < nq && wrong <= 2; ++q2) {
          for (int r2 = 0; r2 < n; ++r2) {
            double dot2 = 0;
            for (int j = 0; j < d; ++j) dot2 += double(q[q2 * d + j]) * base[r2 * d + j];
            const double w2 = metric == Metric::L2 ? norms[r2] - 2 * dot2 : -dot2;
            if (std::abs(w2 - got) < nearest) {
              nearest = std::abs(w2 - got);
              nq_at = q2;
              nr_at = r2;
            }
          }
        }
        ADD_FAILURE() << "query " << qi << " row " << r << ": score " << got << ", float64 " << want
                      << ", bound " << bound << "; nearest float64 score: query " << nq_at
                      << " row " << nr_at << " (off by " << nearest << ")";
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "scores outside the bound";
}

INSTANTIATE_TEST_SUITE_P(
    KernelsMetricsDims, FusedCandidateKernels,
    ::testing::Combine(::testing::Values(CandidateKernel::Tf32, CandidateKernel::Fp16Sync,
                                         CandidateKernel::Wgmma, CandidateKernel::WgmmaCall),
                       ::testing::Values(Metric::L2, Metric::InnerProduct),
                       ::testing::Values(32, 40, 128)),
    [](const auto& info) {
      return fmt::format("{}_{}_d{}", kernel_name(std::get<0>(info.param)),
                         to_string(std::get<1>(info.param)), std::get<2>(info.param));
    });
#endif

}  // namespace
}  // namespace knnx
