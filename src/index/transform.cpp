// VectorTransform validation, the linear-map machinery (CPU BLAS or the GPU GEMM), and the
// transforms without training logic of their own: RandomRotation and L2Normalize.
#include "knnx/transform.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "cpu/linalg.hpp"
#include "index/transform_internal.hpp"
#include "knnx/error.hpp"

namespace knnx {

using detail::require;

namespace detail {

void affine_map(Device device, idx_t n, idx_t d_in, idx_t d_out, const float* x,
                const float* shift_in, const float* w, const float* shift_out, float* out) {
  backend_for(device).affine_map(device.ordinal, n, d_in, d_out, x, shift_in, w, shift_out, out,
                                 default_dense_knobs());
}

void gram(Device device, idx_t n, idx_t d, const float* x, const float* shift, float* out) {
  backend_for(device).gram(device.ordinal, n, d, x, shift, out, default_dense_knobs());
}

void gram_ab(Device device, idx_t n, idx_t da, idx_t db, const float* a, const float* b,
             float* out) {
  backend_for(device).gemm_at_b(device.ordinal, n, da, db, a, b, out, default_dense_knobs());
}

}  // namespace detail

// ---- VectorTransform ----------------------------------------------------------------------------

VectorTransform::VectorTransform(int d_in, int d_out, Device device)
    : d_in_(d_in), d_out_(d_out), device_(device) {
  detail::check_dim(d_in, "d_in");
  detail::check_dim(d_out, "d_out");
  detail::require_linalg_device(device);
}

VectorTransform::~VectorTransform() = default;

void VectorTransform::train(idx_t n, const float* x) {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::checked_elements(n, d_in_, "x");
  detail::check_finite_host(n, d_in_, x, "x");
  if (is_trained()) {
    std::lock_guard<std::mutex> lock(users_mutex_);
    for (const Index* user : users_) {
      const idx_t held = user->ntotal();
      require(held == 0,
              "the transform is trained and an IndexPreTransform using it holds {} vectors; "
              "re-training would change the map they were stored through (reset() that index "
              "first)",
              held);
    }
  }
  do_train(n, x);
}

void VectorTransform::apply(idx_t n, const float* x, float* out) const {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::check_not_null(out, "out");
  detail::checked_elements(n, std::max(d_in_, d_out_), "x");
  require(is_trained(), "the transform must be trained before apply");
  do_apply(n, x, out);
  // Finite inputs can still overflow float32 through a large matrix: say so here rather than
  // let the next stage blame its caller's queries.
  detail::check_finite_host(n, d_out_, out, "the transform's output (it overflows float32 for x)");
}

std::vector<float> VectorTransform::apply(idx_t n, const float* x) const {
  detail::check_count(n);
  std::vector<float> out(detail::checked_elements(n, d_out_, "out"));
  apply(n, x, out.data());
  return out;
}

void VectorTransform::reverse(idx_t n, const float* y, float* out) const {
  detail::check_count(n);
  detail::check_not_null(y, "y");
  detail::check_not_null(out, "out");
  detail::checked_elements(n, std::max(d_in_, d_out_), "y");
  require(is_trained(), "the transform must be trained before reverse");
  if (!reversible()) throw NotSupported("this transform has no reverse");
  do_reverse(n, y, out);
}

void VectorTransform::do_reverse(idx_t, const float*, float*) const {
  throw NotSupported("this transform has no reverse");
}

// ---- LinearTransform ----------------------------------------------------------------------------

namespace {

std::vector<float> transpose(const std::vector<float>& a, idx_t rows, idx_t cols) {
  std::vector<float> t(a.size());
  for (idx_t i = 0; i < rows; ++i) {
    for (idx_t j = 0; j < cols; ++j)
      t[static_cast<std::size_t>(j * rows + i)] = a[static_cast<std::size_t>(i * cols + j)];
  }
  return t;
}

}  // namespace

void LinearTransform::set_linear(std::vector<float> matrix, std::vector<float> mean,
                                 std::vector<float> reverse_matrix) {
  const idx_t di = d_in(), dout = d_out();
  matrix_t_ = transpose(matrix, dout, di);
  reverse_t_ = reverse_matrix.empty() ? std::vector<float>{} : transpose(reverse_matrix, di, dout);
  matrix_ = std::move(matrix);
  reverse_matrix_ = std::move(reverse_matrix);
  if (mean.empty()) {
    mean_.assign(static_cast<std::size_t>(di), 0.0f);
    neg_mean_.clear();
  } else {
    mean_ = std::move(mean);
    neg_mean_.resize(mean_.size());
    for (std::size_t i = 0; i < mean_.size(); ++i) neg_mean_[i] = -mean_[i];
  }
}

void LinearTransform::do_apply(idx_t n, const float* x, float* out) const {
  detail::affine_map(device(), n, d_in(), d_out(), x,
                     neg_mean_.empty() ? nullptr : neg_mean_.data(), matrix_t_.data(), nullptr,
                     out);
}

void LinearTransform::do_reverse(idx_t n, const float* y, float* out) const {
  detail::affine_map(device(), n, d_out(), d_in(), y, nullptr, reverse_t_.data(),
                     neg_mean_.empty() ? nullptr : mean_.data(), out);
}

// ---- RandomRotation -----------------------------------------------------------------------------

RandomRotation::RandomRotation(int d, std::uint64_t seed, Device device)
    : RandomRotation(d, d, seed, device) {}

RandomRotation::RandomRotation(NotDrawn, int d_in, int d_out, std::uint64_t seed, Device device)
    : LinearTransform(d_in, d_out, device), seed_(seed) {
  require(d_out <= d_in, "RandomRotation d_out must be <= d_in ({}), got {}", d_in, d_out);
}

RandomRotation::RandomRotation(int d_in, int d_out, std::uint64_t seed, Device device)
    : RandomRotation(NotDrawn{}, d_in, d_out, seed, device) {
  const int d = d_in;
  const std::vector<float> g = detail::gaussian_block(d, d, seed, detail::kRotationSeedDomain);
  std::vector<float> q(g.size()), r(g.size());
  cpu::qr(d, d, g.data(), q.data(), r.data());
  // Q diag(sign(r_ii)) is Haar-distributed; plain Householder Q is not.
  for (int j = 0; j < d; ++j) {
    if (r[static_cast<std::size_t>(j) * d + j] < 0.0f) {
      for (int i = 0; i < d; ++i)
        q[static_cast<std::size_t>(i) * d + j] = -q[static_cast<std::size_t>(i) * d + j];
    }
  }
  // A = Q^T would do as well; A = Q keeps the matrix as drawn (its first d_out rows). B = A^T.
  q.resize(static_cast<std::size_t>(d_out) * d);
  std::vector<float> qt = transpose(q, d_out, d);
  set_linear(std::move(q), {}, std::move(qt));
}

void RandomRotation::do_train(idx_t, const float*) {}

// ---- L2Normalize --------------------------------------------------------------------------------

L2Normalize::L2Normalize(int d, Device device) : VectorTransform(d, d, device) {}

void L2Normalize::do_train(idx_t, const float*) {}

void L2Normalize::do_apply(idx_t n, const float* x, float* out) const {
  detail::backend_for(device()).l2_normalize(device().ordinal, n, d_in(), x, out,
                                             detail::default_dense_knobs());
}

namespace detail {

int first_unbounded_transform(const std::vector<const VectorTransform*>& chain) {
  std::vector<double> bound(chain.empty() ? 0 : static_cast<std::size_t>(chain[0]->d_in()), 1.0);
  for (std::size_t s = 0; s < chain.size(); ++s) {
    const VectorTransform& t = *chain[s];
    if (!t.is_trained()) return -1;
    const auto d_in = static_cast<std::size_t>(t.d_in()),
               d_out = static_cast<std::size_t>(t.d_out());
    std::vector<double> next(d_out, 1.0);  // L2Normalize: every output component in [-1, 1]
    if (const auto* linear = dynamic_cast<const LinearTransform*>(&t)) {
      const std::vector<float>& a = linear->matrix();
      const std::vector<float>& mean = linear->mean();
      for (std::size_t i = 0; i < d_out; ++i) {
        double sum = 0;
        for (std::size_t j = 0; j < d_in; ++j)
          sum += std::abs(double{a[i * d_in + j]}) * (bound[j] + std::abs(double{mean[j]}));
        next[i] = sum;
      }
    }
    double norm2 = 0;
    for (double b : next) norm2 += b * b;
    if (!(norm2 <= kMaxSquaredNorm)) return static_cast<int>(s);
    bound = std::move(next);
  }
  return -1;
}

}  // namespace detail

}  // namespace knnx
