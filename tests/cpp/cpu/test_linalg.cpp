// CPU linear algebra (QR, projection, subspace-iteration SVD) against float64 references and
// LAPACK, the linear-algebra knobs, and argument checking of knnx/linalg.hpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "cpu/linalg.hpp"
#include "cpu/linalg_test_util.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"
#include "knnx/linalg.hpp"

namespace knnx {
namespace {

using test::normal_matrix;

template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception";
  return {};
}

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

struct Shape {
  idx_t m;
  idx_t k;
};

class CpuQr : public ::testing::TestWithParam<Shape> {};

TEST_P(CpuQr, OrthonormalAndReconstructs) {
  const auto [m, k] = GetParam();
  const std::vector<float> a = normal_matrix(m, k, 7 + m + k);
  const QrResult r = qr(m, k, a.data());
  ASSERT_EQ(r.q.size(), static_cast<std::size_t>(m * k));
  ASSERT_EQ(r.r.size(), static_cast<std::size_t>(k * k));
  EXPECT_LT(test::orthogonality_error(m, k, r.q.data()), 1e-5);
  EXPECT_LT(test::reconstruction_error(m, k, a.data(), r.q.data(), r.r.data()), 1e-5);
  for (idx_t i = 0; i < k; ++i) {
    for (idx_t j = 0; j < i; ++j) EXPECT_EQ(r.r[i * k + j], 0.0f) << i << "," << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuQr,
                         ::testing::Values(Shape{1, 1}, Shape{31, 1}, Shape{33, 31},
                                           Shape{1000, 33}, Shape{1031, 64}, Shape{64, 64}));

TEST(CpuLinalg, ProjectCoeffsMatchesFloat64) {
  for (const Shape s : {Shape{1, 1}, Shape{31, 7}, Shape{33, 33}, Shape{1000, 5}, Shape{100003, 3}}) {
    const std::vector<float> q = normal_matrix(s.k, s.m, 11);  // columns as rows
    const std::vector<float> v = normal_matrix(s.m, 1, 12);
    const std::vector<float> c = project_coeffs(s.m, s.k, q.data(), v.data());
    ASSERT_EQ(c.size(), static_cast<std::size_t>(s.k));
    for (idx_t j = 0; j < s.k; ++j) {
      double want = 0.0;
      for (idx_t i = 0; i < s.m; ++i) want += double(q[j * s.m + i]) * v[i];
      EXPECT_NEAR(c[j], want, 1e-5 * std::sqrt(double(s.m)) + 1e-6) << s.m << " x " << s.k;
    }
  }
}

// Singular values of a full LAPACK SVD in float64 (the reference).
std::vector<double> lapack_values(idx_t m, idx_t n, const std::vector<float>& a) {
  std::vector<double> ad(a.begin(), a.end()), u, s, vt;
  cpu::svd_small(static_cast<int>(m), static_cast<int>(n), ad, u, s, vt);
  return s;
}

void expect_svd_consistent(idx_t m, idx_t n, const std::vector<float>& a, const SvdResult& r,
                           double tol) {
  const int rank = r.rank;
  EXPECT_LT(test::orthogonality_error(m, rank, r.u.data()), tol);
  EXPECT_LT(test::orthogonality_error(n, rank, r.v.data()), tol);
  // A v_j = s_j u_j.
  for (int j = 0; j < rank; ++j) {
    double err = 0.0;
    for (idx_t i = 0; i < m; ++i) {
      double av = 0.0;
      for (idx_t l = 0; l < n; ++l) av += double(a[i * n + l]) * r.v[l * rank + j];
      err = std::max(err, std::abs(av - double(r.s[j]) * r.u[i * rank + j]));
    }
    EXPECT_LT(err, tol * r.s[0]) << "triplet " << j;
  }
}

TEST(CpuLinalg, SvdMatchesLapackOnKnownSpectrum) {
  const idx_t m = 1000, n = 64;
  const std::vector<double> spectrum = test::geometric_spectrum(n, 100.0, 0.8);
  const std::vector<float> a = test::matrix_with_spectrum(m, n, spectrum, 3);
  const std::vector<double> ref = lapack_values(m, n, a);
  SvdParams p;
  p.rank = 8;
  p.n_iter = 12;
  p.oversample = 8;
  const SvdResult r = svd(m, n, a.data(), p);
  ASSERT_EQ(r.s.size(), 8u);
  for (int j = 0; j < p.rank; ++j) {
    EXPECT_NEAR(r.s[j], ref[j], 1e-4 * ref[0]) << j;
    EXPECT_NEAR(r.s[j], spectrum[j], 1e-3 * spectrum[0]) << j;
    if (j > 0) EXPECT_GE(r.s[j - 1], r.s[j]);
  }
  expect_svd_consistent(m, n, a, r, 1e-3);
}

TEST(CpuLinalg, SvdAwkwardShapes) {
  for (const Shape s : {Shape{1, 1}, Shape{33, 1}, Shape{33, 31}, Shape{1031, 33}}) {
    const std::vector<float> a = normal_matrix(s.m, s.k, 5);
    const std::vector<double> ref = lapack_values(s.m, s.k, a);
    SvdParams p;
    p.rank = static_cast<int>(std::min<idx_t>(s.k, 4));
    p.oversample = static_cast<int>(s.k);  // p = n: the subspace is everything, so exact
    p.n_iter = 2;
    const SvdResult r = svd(s.m, s.k, a.data(), p);
    for (int j = 0; j < p.rank; ++j) EXPECT_NEAR(r.s[j], ref[j], 1e-4 * ref[0]) << s.m << "x" << s.k;
    expect_svd_consistent(s.m, s.k, a, r, 1e-3);
  }
}

TEST(CpuLinalg, SymmetricEigenDescending) {
  const int d = 17;
  const std::vector<float> g = normal_matrix(40, d, 9);
  std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
  for (int i = 0; i < 40; ++i) {
    for (int a = 0; a < d; ++a) {
      for (int b = 0; b < d; ++b) cov[a * d + b] += double(g[i * d + a]) * g[i * d + b];
    }
  }
  std::vector<double> values, vectors;
  cpu::symmetric_eigen(d, cov, values, vectors);
  for (int i = 1; i < d; ++i) EXPECT_GE(values[i - 1], values[i]);
  // cov v_i = lambda_i v_i.
  for (int i = 0; i < d; ++i) {
    for (int a = 0; a < d; ++a) {
      double cv = 0.0;
      for (int b = 0; b < d; ++b) cv += cov[a * d + b] * vectors[i * d + b];
      EXPECT_NEAR(cv, values[i] * vectors[i * d + a], 1e-9 * values[0]);
    }
  }
}

TEST(CpuLinalg, BadArgumentsAreNamed) {
  const std::vector<float> a(64, 1.0f);
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { qr(4, 8, a.data()); }), "k <= m"));
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { qr(0, 1, a.data()); }), "a"));
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { qr(8, 2, nullptr); }), "a must not be null"));
  std::vector<float> bad(a);
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(qr(8, 8, bad.data()), InvalidArgument);
  SvdParams p;
  p.rank = 9;
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { svd(8, 8, a.data(), p); }), "SvdParams.rank"));
  p.rank = 2;
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { svd(4, 8, a.data(), p); }), "n <= m"));
  p.n_iter = -1;
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { svd(8, 8, a.data(), p); }), "SvdParams.n_iter"));
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { project_coeffs(8, 2, a.data(), nullptr); }),
                  "v must not be null"));
  if (cuda_device_count() == 0) {
    // A missing device is an argument error (or NotSupported without the CUDA backend).
    EXPECT_THROW(qr(8, 8, a.data(), Device::cuda(0)), Error);
    EXPECT_THROW(get_gemm_tiles(0), Error);
  }
}

// ------------------------------------------------------------------------------------------
// Knobs of the linear-algebra module

struct ConfigRestore {
  Config saved = config();
  ~ConfigRestore() {
    for (const char* v : {"KNNX_GEMM_TILE_AV", "KNNX_GEMM_TILE_ATB", "KNNX_QR_DOT",
                          "KNNX_SVD_STREAMS"}) {
      ::unsetenv(v);
    }
    set_config(saved);
  }
};

TEST(LinalgKnobs, TileOverridesAcceptTheCompiledSet) {
  ConfigRestore restore;
  for (const char* tile : {"auto", "32x32", "64x64", "128x32", "128x64", "128x128"}) {
    Config c;
    c.gemm_tile_av = tile;
    c.gemm_tile_atb = tile;
    EXPECT_NO_THROW(set_config(c)) << tile;
    EXPECT_EQ(config().gemm_tile_av, tile);
    ::setenv("KNNX_GEMM_TILE_ATB", tile, 1);
    EXPECT_NO_THROW(reload_config_from_env()) << tile;
    EXPECT_EQ(config().gemm_tile_atb, tile);
  }
}

TEST(LinalgKnobs, BadValuesNameTheVariable) {
  ConfigRestore restore;
  const std::pair<const char*, const char*> cases[] = {
      {"KNNX_GEMM_TILE_AV", "96x96"},   {"KNNX_GEMM_TILE_AV", "128"},
      {"KNNX_GEMM_TILE_ATB", "64x64 "}, {"KNNX_GEMM_TILE_ATB", "AUTO"},
      {"KNNX_QR_DOT", "fast"},          {"KNNX_QR_DOT", ""},
      {"KNNX_SVD_STREAMS", "0"},        {"KNNX_SVD_STREAMS", "9"},
  };
  for (const auto& [name, value] : cases) {
    ::setenv(name, value, 1);
    const std::string msg = message_of<InvalidArgument>([] { reload_config_from_env(); });
    EXPECT_TRUE(has(msg, name)) << msg;
    EXPECT_TRUE(has(msg, std::string("\"") + value + "\"")) << msg;
    ::unsetenv(name);
  }
  Config c;
  c.gemm_tile_av = "256x256";
  const std::string msg = message_of<InvalidArgument>([&] { set_config(c); });
  EXPECT_TRUE(has(msg, "KNNX_GEMM_TILE_AV")) << msg;
  EXPECT_TRUE(has(msg, "128x128")) << "the message lists the accepted tiles: " << msg;
  c = Config{};
  c.qr_dot = "simd";
  EXPECT_TRUE(has(message_of<InvalidArgument>([&] { set_config(c); }), "KNNX_QR_DOT"));
}

}  // namespace
}  // namespace knnx
