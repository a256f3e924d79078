// GPU linear algebra: every compiled GEMM tile against float64 and cuBLAS on awkward shapes,
// both QR projection kernels, Gram-Schmidt QR, the SVD (every Z-step variant) against LAPACK
// and the CPU, and the tile report. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <atomic>
#include <string>

#include <fmt/format.h>

#include "cpu/linalg_test_util.hpp"
#include "gpu_test_util.hpp"
#include "knnx/config.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/linalg.hpp"
#include "knnx/streams.hpp"
#include "knnx/transform.hpp"

#ifdef KNNX_WITH_CUDA
#include "core/gemm_tiles.hpp"
#include "cuda/gemm/gemm.hpp"
#include "cuda/linalg/linalg_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"
#endif

namespace knnx {
namespace {

using test::ConfigGuard;
using test::normal_matrix;

TEST(LinalgCuda, SkipsCleanlyWithoutDevice) {
  if (cuda_device_count() == 0) {
    const std::vector<float> a(4, 1.0f);
    EXPECT_THROW(qr(2, 2, a.data(), Device::cuda(0)), Error);
    GTEST_SKIP() << "no CUDA device";
  }
  SUCCEED();
}

#ifdef KNNX_WITH_CUDA

struct GemmShape {
  std::int64_t m, n, k;
};
const GemmShape kGemmShapes[] = {{1, 1, 1},     {31, 33, 1},   {33, 31, 65},   {1000, 33, 31},
                                 {1031, 257, 129}, {5, 3001, 7}, {4099, 64, 32}, {64, 20000, 16}};

// Runs C = A V or A^T B with a tile on the device, with beta = 0.5 over a known C.
std::vector<float> run_gemm(cuda::GemmOp op, detail::GemmTileShape tile, const GemmShape& s,
                            const std::vector<float>& a, const std::vector<float>& b,
                            const std::vector<float>& c0, float alpha, float beta,
                            bool use_cublas) {
  cuda::StreamContext ctx(0);
  const cudaStream_t st = ctx.stream();
  cuda::DeviceBuffer<float> a_d(a.size(), st), b_d(b.size(), st), c_d(c0.size(), st);
  KNNX_CUDA_CHECK(cudaMemcpyAsync(a_d.data(), a.data(), a.size() * 4, cudaMemcpyHostToDevice, st));
  KNNX_CUDA_CHECK(cudaMemcpyAsync(b_d.data(), b.data(), b.size() * 4, cudaMemcpyHostToDevice, st));
  KNNX_CUDA_CHECK(cudaMemcpyAsync(c_d.data(), c0.data(), c0.size() * 4, cudaMemcpyHostToDevice, st));
  if (op == cuda::GemmOp::AV) {
    if (use_cublas) {  // row-major C = A V is column-major C^T = V^T A^T
      KNNX_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, int(s.k), int(s.m),
                                    int(s.n), &alpha, b_d.data(), int(s.k), a_d.data(), int(s.n),
                                    &beta, c_d.data(), int(s.k)));
    } else {
      cuda::gemm_av(tile, s.m, s.n, s.k, alpha, a_d.data(), s.n, b_d.data(), s.k, beta, c_d.data(),
                    s.k, st, true);
    }
  } else {
    if (use_cublas) {  // row-major C = A^T B is column-major C^T = B^T A
      KNNX_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, int(s.k), int(s.n),
                                    int(s.m), &alpha, b_d.data(), int(s.k), a_d.data(), int(s.n),
                                    &beta, c_d.data(), int(s.k)));
    } else {
      cuda::gemm_at_b(tile, s.m, s.n, s.k, alpha, a_d.data(), s.n, b_d.data(), s.k, beta,
                      c_d.data(), s.k, st, true);
    }
  }
  std::vector<float> c(c0.size());
  KNNX_CUDA_CHECK(cudaMemcpyAsync(c.data(), c_d.data(), c.size() * 4, cudaMemcpyDeviceToHost, st));
  ctx.synchronize();
  return c;
}

class GemmCuda : public ::testing::TestWithParam<int> {};

TEST_P(GemmCuda, EveryShapeMatchesFloat64AndCublas) {
  KNNX_REQUIRE_GPU();
  const detail::GemmTileShape tile = detail::kGemmTileShapes[GetParam()];
  for (const cuda::GemmOp op : {cuda::GemmOp::AV, cuda::GemmOp::AtB}) {
    for (const GemmShape& s : kGemmShapes) {
      const bool av = op == cuda::GemmOp::AV;
      const std::vector<float> a = normal_matrix(s.m, s.n, 1);
      const std::vector<float> b = normal_matrix(av ? s.n : s.m, s.k, 2);
      const std::int64_t rows = av ? s.m : s.n;
      const std::vector<float> c0 = normal_matrix(rows, s.k, 3);
      const std::vector<double> ref =
          av ? test::ref_ab(s.m, s.n, s.k, a.data(), b.data())
             : test::ref_atb(s.m, s.n, s.k, a.data(), b.data());
      const std::int64_t depth = av ? s.n : s.m;
      const double tol = 1e-5 * std::sqrt(double(depth)) * 4 + 1e-5;
      const std::string what = fmt::format("{} {} m={} n={} k={}", av ? "AV" : "AtB",
                                           cuda::gemm_tile_name(tile), s.m, s.n, s.k);
      // alpha = 1, beta = 0 over NaN: C is not read.
      const std::vector<float> nan_c(c0.size(), std::nanf(""));
      const std::vector<float> c = run_gemm(op, tile, s, a, b, nan_c, 1.0f, 0.0f, false);
      const std::vector<float> cb = run_gemm(op, tile, s, a, b, nan_c, 1.0f, 0.0f, true);
      double worst = 0.0, worst_cublas = 0.0;
      for (std::size_t i = 0; i < c.size(); ++i) {
        worst = std::max(worst, std::abs(c[i] - ref[i]));
        worst_cublas = std::max(worst_cublas, std::abs(double(c[i]) - cb[i]));
      }
      EXPECT_LT(worst, tol) << what;
      EXPECT_LT(worst_cublas, 2 * tol) << what;
      // alpha = -2, beta = 0.5 accumulates into C.
      const std::vector<float> c2 = run_gemm(op, tile, s, a, b, c0, -2.0f, 0.5f, false);
      double worst2 = 0.0;
      for (std::size_t i = 0; i < c2.size(); ++i) {
        worst2 = std::max(worst2, std::abs(c2[i] - (-2.0 * ref[i] + 0.5 * c0[i])));
      }
      EXPECT_LT(worst2, 2 * tol + 1e-5) << what << " (alpha, beta)";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tiles, GemmCuda, ::testing::Range(0, detail::kGemmTileCount),
                         [](const auto& info) {
                           return cuda::gemm_tile_name(detail::kGemmTileShapes[info.param]);
                         });

TEST(LinalgCuda, ProjectionKernelsMatchFloat64) {
  KNNX_REQUIRE_GPU();
  for (const auto [m, k] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {31, 7}, {33, 33},
                            {1000, 5}, {1000, 300}, {100003, 3}, {1 << 20, 2}}) {
    const std::vector<float> q = normal_matrix(k, m, 11);
    const std::vector<float> v = normal_matrix(m, 1, 12);
    std::vector<double> want(static_cast<std::size_t>(k), 0.0);
    for (std::int64_t j = 0; j < k; ++j) {
      for (std::int64_t i = 0; i < m; ++i) want[j] += double(q[j * m + i]) * v[i];
    }
    const double tol = 2e-6 * std::sqrt(double(m)) * 4 + 1e-5;
    for (const cuda::QrDot dot : {cuda::QrDot::Simple, cuda::QrDot::Warp}) {
      cuda::StreamContext ctx(0);
      const cudaStream_t s = ctx.stream();
      cuda::DeviceBuffer<float> q_d(q.size(), s), v_d(v.size(), s), c_d(k, s);
      KNNX_CUDA_CHECK(cudaMemcpyAsync(q_d.data(), q.data(), q.size() * 4, cudaMemcpyHostToDevice, s));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(v_d.data(), v.data(), v.size() * 4, cudaMemcpyHostToDevice, s));
      cuda::launch_project_coeffs(dot, q_d.data(), m, k, m, v_d.data(), c_d.data(), s, true);
      std::vector<float> c(static_cast<std::size_t>(k));
      KNNX_CUDA_CHECK(cudaMemcpyAsync(c.data(), c_d.data(), c.size() * 4, cudaMemcpyDeviceToHost, s));
      ctx.synchronize();
      for (std::int64_t j = 0; j < k; ++j) {
        EXPECT_NEAR(c[j], want[j], tol) << (dot == cuda::QrDot::Warp ? "warp" : "simple") << " m="
                                        << m << " k=" << k << " j=" << j;
      }
    }
  }
}

TEST(LinalgCuda, PublicProjectionFollowsTheKnob) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  const std::int64_t m = 5000, k = 9;
  const std::vector<float> q = normal_matrix(k, m, 4);
  const std::vector<float> v = normal_matrix(m, 1, 5);
  const std::vector<float> cpu = project_coeffs(m, k, q.data(), v.data());
  for (const char* mode : {"auto", "simple", "warp"}) {
    Config c = config();
    c.qr_dot = mode;
    set_config(c);
    const std::vector<float> gpu = project_coeffs(m, k, q.data(), v.data(), Device::cuda(0));
    for (std::int64_t j = 0; j < k; ++j) EXPECT_NEAR(gpu[j], cpu[j], 1e-3) << mode;
  }
}

struct QrShape {
  idx_t m, k;
};

TEST(LinalgCuda, GramSchmidtQrIsOrthonormalAndReconstructs) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  for (const char* mode : {"simple", "warp"}) {
    Config c = config();
    c.qr_dot = mode;
    set_config(c);
    for (const QrShape s : {QrShape{1, 1}, QrShape{31, 1}, QrShape{33, 31}, QrShape{1000, 33},
                            QrShape{4099, 64}, QrShape{64, 64}}) {
      const std::vector<float> a = normal_matrix(s.m, s.k, 21 + s.m);
      const QrResult r = qr(s.m, s.k, a.data(), Device::cuda(0));
      EXPECT_LT(test::orthogonality_error(s.m, s.k, r.q.data()), 2e-5) << mode << " " << s.m << "x" << s.k;
      EXPECT_LT(test::reconstruction_error(s.m, s.k, a.data(), r.q.data(), r.r.data()), 2e-5)
          << mode << " " << s.m << "x" << s.k;
      for (idx_t i = 0; i < s.k; ++i) {
        for (idx_t j = 0; j < i; ++j) EXPECT_EQ(r.r[i * s.k + j], 0.0f);
      }
    }
  }
}

TEST(LinalgCuda, QrOfIllConditionedColumnsStaysOrthogonal) {
  KNNX_REQUIRE_GPU();
  // Columns with singular values over 5 decades: one Gram-Schmidt pass loses orthogonality in
  // proportion to the condition number; the second pass restores it.
  const idx_t m = 2000, k = 24;
  const std::vector<float> a =
      test::matrix_with_spectrum(m, k, test::geometric_spectrum(k, 1.0, 0.6), 8);
  const QrResult r = qr(m, k, a.data(), Device::cuda(0));
  EXPECT_LT(test::orthogonality_error(m, k, r.q.data()), 5e-5);
  EXPECT_LT(test::reconstruction_error(m, k, a.data(), r.q.data(), r.r.data()), 2e-5);
}

TEST(LinalgCuda, SvdVariantsAgreeWithLapackAndCpu) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  const idx_t m = 6000, n = 96;
  const std::vector<double> spectrum = test::geometric_spectrum(n, 50.0, 0.85);
  const std::vector<float> a = test::matrix_with_spectrum(m, n, spectrum, 13);
  SvdParams p;
  p.rank = 10;
  p.n_iter = 12;
  p.oversample = 10;
  const SvdResult cpu = svd(m, n, a.data(), p);
  p.device = Device::cuda(0);
  struct Variant {
    int band, streams;
  };
  for (const Variant var : {Variant{0, 1}, Variant{1000, 1}, Variant{777, 3}, Variant{0, 4}}) {
    Config c = config();
    c.svd_band = var.band;
    c.svd_streams = var.streams;
    set_config(c);
    const SvdResult gpu = svd(m, n, a.data(), p);
    for (int j = 0; j < p.rank; ++j) {
      EXPECT_NEAR(gpu.s[j], spectrum[j], 1e-3 * spectrum[0]) << var.band << "/" << var.streams;
      EXPECT_NEAR(gpu.s[j], cpu.s[j], 1e-3 * spectrum[0]) << var.band << "/" << var.streams;
      // Same singular vectors up to sign.
      double dot = 0.0;
      for (idx_t i = 0; i < n; ++i) dot += double(gpu.v[i * p.rank + j]) * cpu.v[i * p.rank + j];
      EXPECT_NEAR(std::abs(dot), 1.0, 1e-3) << "v " << j;
    }
    EXPECT_LT(test::orthogonality_error(m, p.rank, gpu.u.data()), 1e-4);
    EXPECT_LT(test::orthogonality_error(n, p.rank, gpu.v.data()), 1e-4);
  }
}

TEST(LinalgCuda, TileReportFollowsOverrides) {
  KNNX_REQUIRE_GPU();
  ConfigGuard guard;
  Config c = config();
  c.gemm_tile_av = "auto";
  c.gemm_tile_atb = "auto";
  set_config(c);
  const GemmTiles table = get_gemm_tiles(0);
  EXPECT_EQ(table.av_source.rfind("table sm_", 0), 0u) << table.av_source;
  EXPECT_GE(table.sm_major, 7);
  EXPECT_EQ(table.av, cuda::gemm_tile_name(cuda::gemm_table_tile(
                          cuda::GemmOp::AV, table.sm_major, table.sm_minor, 1000)));
  EXPECT_EQ(table.atb_narrow, cuda::gemm_tile_name(cuda::gemm_table_tile(
                                  cuda::GemmOp::AtB, table.sm_major, table.sm_minor, 16)));
  EXPECT_EQ(table.narrow_columns, 32);
  c.gemm_tile_av = "32x32";
  c.gemm_tile_atb = "128x32";
  set_config(c);
  const GemmTiles forced = get_gemm_tiles(0);
  EXPECT_EQ(forced.av, "32x32");
  EXPECT_EQ(forced.av_narrow, "32x32");
  EXPECT_EQ(forced.atb, "128x32");
  EXPECT_EQ(forced.atb_narrow, "128x32");
  EXPECT_EQ(forced.av_source, "KNNX_GEMM_TILE_AV");
  EXPECT_EQ(forced.atb_source, "KNNX_GEMM_TILE_ATB");
  // A forced tile is the one the public entry points run: results do not change.
  const idx_t m = 300, k = 20;
  const std::vector<float> a = normal_matrix(m, k, 17);
  const QrResult r = qr(m, k, a.data(), Device::cuda(0));
  EXPECT_LT(test::reconstruction_error(m, k, a.data(), r.q.data(), r.r.data()), 2e-5);
}

// ---- transforms: CPU and GPU agree ---------------------------------------------------------------

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]));
  return worst;
}

std::vector<float> skewed(idx_t n, int d, std::uint64_t seed) {
  std::vector<float> x = normal_matrix(n, d, seed);
  for (idx_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) x[i * d + j] = x[i * d + j] * (8.0f / float(1 + j)) + 1.0f;
  }
  return RandomRotation(d, 3).apply(n, x.data());
}

TEST(TransformCuda, PcaMatchesCpu) {
  KNNX_REQUIRE_GPU();
  const int d = 48, k = 12;
  const idx_t n = 20000;
  const std::vector<float> x = skewed(n, d, 1);
  for (const bool whiten : {false, true}) {
    PcaParams pc;
    pc.whiten = whiten;
    PcaParams pg = pc;
    pg.device = Device::cuda(0);
    PCA cpu(d, k, pc), gpu(d, k, pg);
    cpu.train(n, x.data());
    gpu.train(n, x.data());
    for (int i = 0; i < d; ++i) {
      EXPECT_NEAR(gpu.eigenvalues()[i], cpu.eigenvalues()[i], 1e-4 * cpu.eigenvalues()[0]);
    }
    // Well-separated eigenvalues (scales 8/(1+j)): the sign-fixed components agree.
    EXPECT_LT(max_abs_diff(gpu.matrix(), cpu.matrix()), whiten ? 1e-3 : 1e-4);
    const std::vector<float> yc = cpu.apply(n, x.data());
    const std::vector<float> yg = gpu.apply(n, x.data());
    EXPECT_LT(max_abs_diff(yc, yg), whiten ? 1e-2 : 1e-2);
    std::vector<float> bc(x.size()), bg(x.size());
    cpu.reverse(n, yc.data(), bc.data());
    gpu.reverse(n, yg.data(), bg.data());
    EXPECT_LT(max_abs_diff(bc, bg), 1e-2);
  }
}

TEST(TransformCuda, RotationNormalizeAndOpq) {
  KNNX_REQUIRE_GPU();
  const int d = 32;
  const idx_t n = 5000;
  const std::vector<float> x = skewed(n, d, 2);
  RandomRotation rc(d, 11), rg(d, 11, Device::cuda(0));
  EXPECT_EQ(rc.matrix(), rg.matrix());
  EXPECT_LT(max_abs_diff(rc.apply(n, x.data()), rg.apply(n, x.data())), 1e-4);
  L2Normalize nc(d), ng(d, Device::cuda(0));
  EXPECT_LT(max_abs_diff(nc.apply(n, x.data()), ng.apply(n, x.data())), 1e-6);

  OpqParams p;
  p.n_iter = 6;
  p.ksub = 32;
  p.kmeans_iter = 6;
  p.device = Device::cuda(0);
  OPQ opq(d, 4, p);
  opq.train(n, x.data());
  const std::vector<float>& r = opq.matrix();
  double worst = 0.0;
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < d; ++j) {
      double s = 0.0;
      for (int l = 0; l < d; ++l) s += double(r[i * d + l]) * r[j * d + l];
      worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  EXPECT_LT(worst, 1e-4);
  EXPECT_LT(opq.objective().back(), opq.objective().front());
}

TEST(TransformCuda, PreTransformGpuIndexMatchesCpu) {
  KNNX_REQUIRE_GPU();
  const int d = 64, k = 10;
  const idx_t n = 10000, nq = 100;
  const std::vector<float> x = skewed(n, d, 5);
  const std::vector<float> q = skewed(nq, d, 6);
  PcaParams pg;
  pg.device = Device::cuda(0);
  IndexPreTransform gpu(std::make_shared<PCA>(d, 16, pg),
                        std::make_unique<IndexFlat>(16, Metric::L2, Device::cuda(0)));
  IndexPreTransform cpu(std::make_shared<PCA>(d, 16), std::make_unique<IndexFlat>(16));
  for (IndexPreTransform* index : {&gpu, &cpu}) {
    index->train(n, x.data());
    index->add(n, x.data());
  }
  std::vector<float> dg(nq * k), dc(nq * k);
  std::vector<idx_t> lg(nq * k), lc(nq * k);
  gpu.search(nq, q.data(), k, dg.data(), lg.data());
  cpu.search(nq, q.data(), k, dc.data(), lc.data());
  int same = 0;
  for (idx_t i = 0; i < nq * k; ++i) {
    EXPECT_NEAR(dg[i], dc[i], 1e-3 * (1.0 + dc[i]));
    same += lg[i] == lc[i];
  }
  EXPECT_GE(same, nq * k * 95 / 100);  // ties and rounding may swap near-equal neighbours
  std::vector<float> rg(d), rc(d);
  gpu.reconstruct(3, rg.data());
  cpu.reconstruct(3, rc.data());
  for (int j = 0; j < d; ++j) EXPECT_NEAR(rg[j], rc[j], 1e-2);
}

// ---- streams --------------------------------------------------------------------------------------

TEST(StreamsCuda, CallbackFiresAfterQueuedWork) {
  KNNX_REQUIRE_GPU();
  StreamSet set(3, Device::cuda(0));
  ASSERT_EQ(set.size(), 3);
  const std::size_t count = 1 << 22;
  cuda::DeviceBuffer<float> buf(count, static_cast<cudaStream_t>(set.native(1)));
  std::vector<float> host(count, 1.0f);
  KNNX_CUDA_CHECK(cudaMemsetAsync(buf.data(), 0, count * 4, static_cast<cudaStream_t>(set.native(1))));
  KNNX_CUDA_CHECK(cudaMemcpyAsync(host.data(), buf.data(), count * 4, cudaMemcpyDeviceToHost,
                                  static_cast<cudaStream_t>(set.native(1))));
  std::atomic<int> fired{0};
  std::atomic<bool> zeros{false};
  set.on_complete(1, [&] {
    zeros = host.front() == 0.0f && host.back() == 0.0f;
    fired.fetch_add(1);
  });
  set.on_complete(0, [&] { fired.fetch_add(1); });
  set.synchronize();
  EXPECT_EQ(fired.load(), 2);
  EXPECT_TRUE(zeros.load());
}

TEST(StreamsCuda, BatchedGpuSearchMatchesOneSearch) {
  KNNX_REQUIRE_GPU();
  const int d = 64, k = 10;
  const idx_t n = 50000, nq = 10000;
  const std::vector<float> x = normal_matrix(n, d, 1);
  const std::vector<float> q = normal_matrix(nq, d, 2);
  IndexFlat index(d, Metric::L2, Device::cuda(0));
  index.add(n, x.data());
  std::vector<float> ref_d(nq * k), dist(nq * k);
  std::vector<idx_t> ref_l(nq * k), lab(nq * k);
  index.search(nq, q.data(), k, ref_d.data(), ref_l.data());
  for (const idx_t chunk : {idx_t{1}, idx_t{777}, idx_t{4096}, idx_t{0}}) {
    if (chunk == 1) {  // exercise the tiny-chunk path on a prefix only
      std::vector<float> d1(64 * k);
      std::vector<idx_t> l1(64 * k);
      BatchedSearchOptions o;
      o.chunk_queries = 1;
      search_batched_async(index, 64, q.data(), k, d1.data(), l1.data(), {}, o).wait();
      for (idx_t i = 0; i < 64 * k; ++i) EXPECT_NEAR(d1[i], ref_d[i], 1e-3 * (1.0 + ref_d[i]));
      continue;
    }
    std::fill(lab.begin(), lab.end(), -7);
    std::atomic<idx_t> delivered{0};
    BatchedSearchOptions o;
    o.chunk_queries = chunk;
    BatchedSearch s = search_batched_async(
        index, nq, q.data(), k, dist.data(), lab.data(),
        [&](idx_t, idx_t count) { delivered.fetch_add(count); }, o);
    s.wait();
    EXPECT_EQ(delivered.load(), nq) << chunk;
    int same = 0;
    for (idx_t i = 0; i < nq * k; ++i) {
      EXPECT_NEAR(dist[i], ref_d[i], 1e-3 * (1.0 + ref_d[i])) << chunk;
      same += lab[i] == ref_l[i];
    }
    EXPECT_GE(same, nq * k * 99 / 100) << chunk;
  }
}

#endif  // KNNX_WITH_CUDA

}  // namespace
}  // namespace knnx
