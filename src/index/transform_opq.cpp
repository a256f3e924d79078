// OPQ: alternating per-sub-space k-means (knnx::KMeans on the transform's device) and the
// orthogonal Procrustes rotation update (X^T Y on the device, its SVD in float64 on the host).
#include <algorithm>

#include "core/check.hpp"
#include "core/random.hpp"
#include "core/sampling.hpp"
#include "cpu/linalg.hpp"
#include "index/transform_internal.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/transform.hpp"

namespace knnx {

using detail::require;

OPQ::OPQ(int d, int m, OpqParams params) : OPQ(d, d, m, params) {}

OPQ::OPQ(int d_in, int d_out, int m, OpqParams params)
    : LinearTransform(d_in, d_out, params.device), m_(m), params_(params) {
  require(d_out <= d_in, "OPQ d_out must be <= d_in ({}), got {}", d_in, d_out);
  require(m >= 1 && m <= d_out && d_out % m == 0,
          "OPQ m must divide d_out ({}) into sub-spaces, got m={}", d_out, m);
  require(params.n_iter >= 1, "OpqParams.n_iter must be >= 1, got {}", params.n_iter);
  require(params.ksub >= 1, "OpqParams.ksub must be >= 1, got {}", params.ksub);
  require(params.kmeans_iter >= 1, "OpqParams.kmeans_iter must be >= 1, got {}",
          params.kmeans_iter);
  require(params.max_train_points >= params.ksub,
          "OpqParams.max_train_points must be >= ksub ({}), got {}", params.ksub,
          params.max_train_points);
}

void OPQ::do_train(idx_t n, const float* x) {
  const int d = d_in();
  const int dout = d_out();
  const int dsub = dout / m_;
  const int ksub = params_.ksub;
  require(n >= ksub, "OPQ training needs n >= ksub ({}) rows, got {}", ksub, n);
  // A seeded sample when there are more rows than needed.
  std::vector<float> sample;
  idx_t ns = n;
  if (n > params_.max_train_points) {
    ns = params_.max_train_points;
    detail::Rng rng(detail::derive_seed(detail::kOpqSeedDomain, params_.seed, 1, 0));
    std::vector<idx_t> rows = detail::sample_without_replacement(n, ns, rng);
    std::sort(rows.begin(), rows.end());
    sample.resize(static_cast<std::size_t>(ns) * d);
    for (idx_t i = 0; i < ns; ++i) {
      std::copy(x + rows[static_cast<std::size_t>(i)] * d,
                x + (rows[static_cast<std::size_t>(i)] + 1) * d, sample.begin() + i * d);
    }
    x = sample.data();
  }

  // R (dout x d) starts as a random rotation; rt = R^T is the GEMM operand (rotated = X R^T).
  RandomRotation start(d, dout, detail::derive_seed(detail::kOpqSeedDomain, params_.seed, 0, 0),
                       Device::cpu());
  std::vector<float> r = start.matrix();
  std::vector<float> rotated(static_cast<std::size_t>(ns) * dout), quantised(rotated.size());
  std::vector<float> sub(static_cast<std::size_t>(ns) * dsub);
  std::vector<idx_t> labels(static_cast<std::size_t>(ns));
  std::vector<float> rt(r.size()), xty(static_cast<std::size_t>(d) * dout);
  objective_.clear();
  for (int it = 0; it < params_.n_iter; ++it) {
    for (int i = 0; i < dout; ++i) {
      for (int j = 0; j < d; ++j)
        rt[static_cast<std::size_t>(j) * dout + i] = r[static_cast<std::size_t>(i) * d + j];
    }
    detail::affine_map(device(), ns, d, dout, x, nullptr, rt.data(), nullptr, rotated.data());
    double err = 0.0;
    for (int s = 0; s < m_; ++s) {
      for (idx_t i = 0; i < ns; ++i) {
        std::copy(rotated.begin() + i * dout + s * dsub,
                  rotated.begin() + i * dout + (s + 1) * dsub, sub.begin() + i * dsub);
      }
      KMeansParams kp;
      kp.n_iter = params_.kmeans_iter;
      kp.seed =
          detail::derive_seed(detail::kOpqSeedDomain, params_.seed,
                              2 + static_cast<std::uint64_t>(s), static_cast<std::uint64_t>(it));
      kp.max_points_per_centroid = static_cast<int>(std::min<idx_t>(ns, 1 << 30) / ksub + 1);
      kp.min_points_per_centroid = 0;
      kp.device = device();
      KMeans km(dsub, ksub, Metric::L2, kp);
      km.train(ns, sub.data());
      km.assign(ns, sub.data(), labels.data());
      const std::vector<float>& c = km.centroids();
      for (idx_t i = 0; i < ns; ++i) {
        const float* centroid = c.data() + labels[static_cast<std::size_t>(i)] * dsub;
        for (int j = 0; j < dsub; ++j) {
          const float q = centroid[j];
          const double diff =
              double(rotated[static_cast<std::size_t>(i * dout + s * dsub + j)]) - q;
          err += diff * diff;
          quantised[static_cast<std::size_t>(i * dout + s * dsub + j)] = q;
        }
      }
    }
    objective_.push_back(err / double(ns));
    // Procrustes: min over O (d x dout, orthonormal columns) of ||X O - Y||, O = U V^T with the
    // thin SVD X^T Y = U S V^T; R = O^T. X^T Y is the A^T B product with A = X (ns x d) and
    // B = Y (ns x dout).
    detail::gram_ab(device(), ns, d, dout, x, quantised.data(), xty.data());
    std::vector<double> xty_d(xty.begin(), xty.end()), u, sv, vt;
    cpu::svd_small(d, dout, xty_d, u, sv, vt);
    for (int i = 0; i < dout; ++i) {
      for (int j = 0; j < d; ++j) {
        double o = 0.0;  // O(j, i) = sum_l U(j, l) Vt(l, i); R(i, j) = O(j, i)
        for (int l = 0; l < dout; ++l)
          o += u[static_cast<std::size_t>(j) * d + l] * vt[static_cast<std::size_t>(l) * dout + i];
        r[static_cast<std::size_t>(i) * d + j] = static_cast<float>(o);
      }
    }
  }
  std::vector<float> rtr(r.size());
  for (int i = 0; i < dout; ++i) {
    for (int j = 0; j < d; ++j)
      rtr[static_cast<std::size_t>(j) * dout + i] = r[static_cast<std::size_t>(i) * d + j];
  }
  set_linear(std::move(r), {}, std::move(rtr));
}

}  // namespace knnx
