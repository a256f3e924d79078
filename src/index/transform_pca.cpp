// PCA: mean and covariance of the training rows (the covariance as a GEMM on the transform's
// device), then a float64 symmetric eigen-decomposition on the host.
#include <cmath>
#include <limits>

#include "core/check.hpp"
#include "cpu/linalg.hpp"
#include "index/transform_internal.hpp"
#include "knnx/transform.hpp"

namespace knnx {

using detail::require;

PCA::PCA(int d_in, int d_out, PcaParams params)
    : LinearTransform(d_in, d_out, params.device), params_(params) {
  require(d_out <= d_in, "PCA d_out must be <= d_in ({}), got {}", d_in, d_out);
  require(params.whiten_eps >= 0.0f && std::isfinite(params.whiten_eps),
          "PcaParams.whiten_eps must be finite and >= 0, got {}", params.whiten_eps);
}

void PCA::do_train(idx_t n, const float* x) {
  const int d = d_in();
  const int k = d_out();
  std::vector<double> mean_d(static_cast<std::size_t>(d), 0.0);
  for (idx_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) mean_d[static_cast<std::size_t>(j)] += x[i * d + j];
  }
  std::vector<float> mean(static_cast<std::size_t>(d)), neg_mean(static_cast<std::size_t>(d));
  for (int j = 0; j < d; ++j) {
    mean[static_cast<std::size_t>(j)] = static_cast<float>(mean_d[static_cast<std::size_t>(j)] / double(n));
    neg_mean[static_cast<std::size_t>(j)] = -mean[static_cast<std::size_t>(j)];
  }
  std::vector<float> g(static_cast<std::size_t>(d) * d);
  detail::gram(device(), n, d, x, neg_mean.data(), g.data());
  std::vector<double> cov(g.size());
  for (int a = 0; a < d; ++a) {
    for (int b = 0; b < d; ++b) {
      // Symmetrised: the two triangles of a float GEMM may differ in the last bit.
      cov[static_cast<std::size_t>(a) * d + b] =
          0.5 * (double(g[static_cast<std::size_t>(a) * d + b]) + g[static_cast<std::size_t>(b) * d + a]) / double(n);
    }
  }
  std::vector<double> values, vectors;
  cpu::symmetric_eigen(d, cov, values, vectors);

  std::vector<float> a(static_cast<std::size_t>(k) * d), b(static_cast<std::size_t>(d) * k);
  for (int i = 0; i < k; ++i) {
    double* v = vectors.data() + static_cast<std::size_t>(i) * d;
    int big = 0;
    for (int j = 1; j < d; ++j) {
      if (std::abs(v[j]) > std::abs(v[big])) big = j;
    }
    const double sign = v[big] < 0.0 ? -1.0 : 1.0;
    double scale = 1.0, unscale = 1.0;
    if (params_.whiten) {
      const double var = std::max(0.0, values[static_cast<std::size_t>(i)]) + params_.whiten_eps;
      scale = var > 0.0 ? 1.0 / std::sqrt(var) : 0.0;  // a zero-variance direction outputs 0
      unscale = std::sqrt(var);
    }
    for (int j = 0; j < d; ++j) {
      a[static_cast<std::size_t>(i) * d + j] = static_cast<float>(sign * scale * v[j]);
      b[static_cast<std::size_t>(j) * k + i] = static_cast<float>(sign * unscale * v[j]);
    }
  }
  eigenvalues_.assign(values.begin(), values.end());
  set_linear(std::move(a), std::move(mean), std::move(b));
}

}  // namespace knnx
