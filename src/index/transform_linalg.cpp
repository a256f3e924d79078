// The public linear-algebra entry points (knnx/linalg.hpp): validation, then the CPU or CUDA
// implementation. The transforms call the same internals.
#include "knnx/linalg.hpp"

#include <fmt/format.h>

#include <climits>

#include "core/check.hpp"
#include "core/random.hpp"
#include "cpu/linalg.hpp"
#include "index/transform_internal.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"
#ifdef KNNX_WITH_CUDA
#include "cuda/gemm/gemm.hpp"
#include "cuda/linalg/linalg_cuda.hpp"
#include "cuda/runtime/device_info.hpp"
#endif

namespace knnx {

using detail::require;

namespace detail {

void require_linalg_device(Device device) {
  if (device.is_cpu()) return;
#ifdef KNNX_WITH_CUDA
  const int count = cuda::device_count();
  require(device.ordinal >= 0 && device.ordinal < count,
          "device {} does not exist ({} CUDA device(s) present)", device.to_string(), count);
#else
  throw NotSupported(fmt::format("device {} requested, but this build of knnx has no CUDA backend",
                                 device.to_string()));
#endif
}

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
  detail::require_linalg_device(Device::cuda(cuda_device));
  GemmTiles out;
#ifdef KNNX_WITH_CUDA
  const Config c = config();
  const cudaDeviceProp& prop = cuda::device_properties(cuda_device);
  out.sm_major = prop.major;
  out.sm_minor = prop.minor;
  const std::string table = fmt::format("table sm_{}{}", prop.major, prop.minor);
  const cuda::GemmTileChoice av = cuda::resolve_gemm_tile(cuda::GemmOp::AV, c.gemm_tile_av, cuda_device);
  const cuda::GemmTileChoice atb =
      cuda::resolve_gemm_tile(cuda::GemmOp::AtB, c.gemm_tile_atb, cuda_device);
  out.av = cuda::gemm_tile_name(av.wide);
  out.av_narrow = cuda::gemm_tile_name(av.narrow);
  out.atb = cuda::gemm_tile_name(atb.wide);
  out.atb_narrow = cuda::gemm_tile_name(atb.narrow);
  out.narrow_columns = static_cast<int>(cuda::kNarrowColumns);
  out.av_source = c.gemm_tile_av == "auto" ? table : "KNNX_GEMM_TILE_AV";
  out.atb_source = c.gemm_tile_atb == "auto" ? table : "KNNX_GEMM_TILE_ATB";
#endif
  return out;
}

std::vector<float> project_coeffs(idx_t m, idx_t k, const float* q_cols, const float* v,
                                  Device device) {
  detail::check_lapack_size(m, k, "q_cols");
  detail::check_not_null(q_cols, "q_cols");
  detail::check_not_null(v, "v");
  detail::require_linalg_device(device);
  std::vector<float> c(static_cast<std::size_t>(k));
  if (device.is_cpu()) {
    cpu::project_coeffs(m, k, q_cols, v, c.data());
  } else {
#ifdef KNNX_WITH_CUDA
    cuda::project_coeffs_host(device.ordinal, m, k, q_cols, v, c.data());
#endif
  }
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
  if (device.is_cpu()) {
    cpu::qr(m, k, a, out.q.data(), out.r.data());
  } else {
#ifdef KNNX_WITH_CUDA
    cuda::qr_host(device.ordinal, m, k, a, out.q.data(), out.r.data());
#endif
  }
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
  if (params.device.is_cpu()) {
    cpu::SvdOutput r = cpu::svd_subspace(m, n, a, params.rank, p, params.n_iter, v0);
    out.s = std::move(r.s);
    out.u = std::move(r.u);
    out.v = std::move(r.v);
  } else {
#ifdef KNNX_WITH_CUDA
    cuda::SvdOutput r =
        cuda::svd_host(params.device.ordinal, m, n, a, params.rank, p, params.n_iter, v0);
    out.s = std::move(r.s);
    out.u = std::move(r.u);
    out.v = std::move(r.v);
#endif
  }
  return out;
}

}  // namespace knnx
