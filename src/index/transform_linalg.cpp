// The public linear-algebra entry points (knnx/linalg.hpp): validation, then the CPU or CUDA
// implementation. The transforms call the same internals.
#include <fmt/format.h>

#include <climits>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/random.hpp"
#include "index/transform_internal.hpp"
#include "knnx/error.hpp"
#include "knnx/linalg.hpp"

namespace knnx {

using detail::require;

namespace detail {

void require_linalg_device(Device device) { (void)backend_for(device); }

void check_lapack_size(idx_t rows, idx_t cols, const char* name) {
  require(rows >= 1 && cols >= 1, "{} must have at least one row and column, got {} x {}", name,
          rows, cols);
  require(rows <= INT_MAX && cols <= INT_MAX && rows <= INT_MAX / cols,
          "{}: {} x {} exceeds the 2^31 elements BLAS/LAPACK can address", name, rows, cols);
}

std::vector<float> gaussian_block(idx_t rows, idx_t cols, std::uint64_t seed,
                                  std::uint64_t domain) {
  Rng rng(derive_seed(domain, seed, 0, 0));
  std::vector<float> out(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
  for (float& x : out) x = static_cast<float>(rng.normal());
  return out;
}

}  // namespace detail

GemmTiles get_gemm_tiles(int cuda_device) {
  const Device device = Device::cuda(cuda_device);
  return detail::backend_for(device).gemm_tiles(device.ordinal, detail::default_dense_knobs());
}

std::vector<float> project_coeffs(idx_t m, idx_t k, const float* q_cols, const float* v,
                                  Device device) {
  detail::check_lapack_size(m, k, "q_cols");
  detail::check_not_null(q_cols, "q_cols");
  detail::check_not_null(v, "v");
  detail::require_linalg_device(device);
  std::vector<float> c(static_cast<std::size_t>(k));
  detail::backend_for(device).project_coeffs(device.ordinal, m, k, q_cols, v, c.data(),
                                             detail::default_dense_knobs());
  return c;
}

QrResult qr(idx_t m, idx_t k, const float* a, Device device) {
  detail::check_lapack_size(m, k, "a");
  require(k <= m, "qr needs k <= m (a tall or square matrix), got m={} k={}", m, k);
  detail::check_not_null(a, "a");
  detail::check_finite_host(m, k, a, "a");
  detail::require_linalg_device(device);
  QrResult out;
  out.m = m;
  out.k = k;
  out.q.resize(static_cast<std::size_t>(m * k));
  out.r.resize(static_cast<std::size_t>(k * k));
  detail::backend_for(device).qr(device.ordinal, m, k, a, out.q.data(), out.r.data(),
                                 detail::default_dense_knobs());
  return out;
}

SvdResult svd(idx_t m, idx_t n, const float* a, const SvdParams& params) {
  detail::check_lapack_size(m, n, "a");
  require(n <= m, "svd needs a tall matrix (n <= m), got m={} n={}", m, n);
  require(params.rank >= 1 && params.rank <= n, "SvdParams.rank must be in [1, {}], got {}", n,
          params.rank);
  require(params.n_iter >= 0, "SvdParams.n_iter must be >= 0, got {}", params.n_iter);
  require(params.oversample >= 0, "SvdParams.oversample must be >= 0, got {}", params.oversample);
  detail::check_not_null(a, "a");
  detail::check_finite_host(m, n, a, "a");
  detail::require_linalg_device(params.device);
  const int p = static_cast<int>(std::min<idx_t>(n, idx_t{params.rank} + params.oversample));
  const std::vector<float> v0 = detail::gaussian_block(n, p, params.seed, detail::kSvdSeedDomain);
  SvdResult out;
  out.m = m;
  out.n = n;
  out.rank = params.rank;
  detail::SvdFactors r = detail::backend_for(params.device)
                             .svd(params.device.ordinal, m, n, a, params.rank, p, params.n_iter, v0,
                                  detail::default_dense_knobs());
  out.s = std::move(r.s);
  out.u = std::move(r.u);
  out.v = std::move(r.v);
  return out;
}

}  // namespace knnx
