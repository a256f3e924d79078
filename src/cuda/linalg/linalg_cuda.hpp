// cuda/linalg/linalg_cuda.hpp — GPU linear algebra built on the tiled GEMM and the QR projection
// kernels: modified Gram-Schmidt QR, subspace-iteration SVD, and host-pointer conveniences used
// by the public linalg functions and the transforms.
//
// Device-pointer functions queue work on the given StreamContext and never synchronise; the
// *_host functions copy in, run, copy out and synchronise (an API boundary). Knob values arrive
// as a LinalgSettings, made from the caller's DenseKnobs once per call; nothing here reads the
// configuration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dense_knobs.hpp"
#include "core/gemm_tiles.hpp"
#include "cuda/gemm/gemm.hpp"
#include "cuda/linalg/linalg_kernels.hpp"
#include "cuda/runtime/stream_pool.hpp"

namespace knnx::cuda {

struct LinalgSettings {
  GemmTileChoice tile_av;
  GemmTileChoice tile_atb;
  std::string qr_dot = "auto";  // auto | simple | warp
  std::int64_t qr_warp_min_rows = 64;
  std::int64_t svd_band = 0;  // rows per band; 0 = unbanded two-pass
  int svd_streams = 1;
  bool sync_check = false;
};

// The settings of `knobs` for `device` (tiles resolved against its architecture).
LinalgSettings linalg_settings(const detail::DenseKnobs& knobs, int device);

// The projection variant for m rows under `settings`.
QrDot pick_qr_dot(const LinalgSettings& settings, std::int64_t m);

// In-place thin QR of a column-major m x k matrix a (ld >= m) by modified Gram-Schmidt, run twice
// (the second pass restores orthogonality lost to rounding): a becomes Q. r (device, k*k, may be
// null) receives R row-major, upper triangular. Requires k <= m.
void mgs_qr(float* a, std::int64_t m, std::int64_t k, std::int64_t ld, float* r,
            const LinalgSettings& settings, StreamContext& ctx);

// Z (n x p, row-major) = A^T (A V) for A m x n (lda) and V n x p, in the configured variant:
// two full passes through a m x p temporary, or bands of svd_band rows (A_b^T (A_b V) summed),
// spread round-robin over svd_streams streams with one partial Z per stream.
void svd_z_step(const float* a, std::int64_t m, std::int64_t n, std::int64_t lda, const float* v,
                std::int64_t p, float* z, const LinalgSettings& settings, StreamContext& ctx);

struct SvdOutput {
  std::vector<float> s;  // rank values, descending
  std::vector<float> u;  // m x rank, row-major
  std::vector<float> v;  // n x rank, row-major
};

// Top-`rank` singular triplets of the m x n row-major device matrix a (lda) by subspace
// iteration with p = min(n, rank + oversample) columns started from v0 (host, n x p row-major),
// n_iter iterations, then Rayleigh-Ritz (QR of A V and a float64 SVD of the p x p factor on the
// host). Synchronises (the result is on the host).
SvdOutput svd_device(const float* a, std::int64_t m, std::int64_t n, std::int64_t lda, int rank,
                     int p, int n_iter, const std::vector<float>& v0,
                     const LinalgSettings& settings, StreamContext& ctx);

// Host-pointer versions (row-major host arrays; synchronous), each run with `settings`.
void gemm_av_host(int device, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                  const float* v, float* c, const LinalgSettings& settings);
void gemm_at_b_host(int device, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                    const float* b, float* c, const LinalgSettings& settings);
// q_cols: k x m row-major (row j = column j of Q); c: k values.
void project_coeffs_host(int device, std::int64_t m, std::int64_t k, const float* q_cols,
                         const float* v, float* c, const LinalgSettings& settings);
// a: m x k row-major; q: m x k row-major; r: k x k row-major.
void qr_host(int device, std::int64_t m, std::int64_t k, const float* a, float* q, float* r,
             const LinalgSettings& settings);
SvdOutput svd_host(int device, std::int64_t m, std::int64_t n, const float* a, int rank, int p,
                   int n_iter, const std::vector<float>& v0, const LinalgSettings& settings);

// The transforms' heavy steps, streaming n host rows through the device chunk_rows at a time.
// gram (d x d) = sum_i (x_i + shift)(x_i + shift)^T (shift may be null).
void gram_host(int device, std::int64_t n, std::int64_t d, const float* x, const float* shift,
               std::int64_t chunk_rows, float* gram, const LinalgSettings& settings);
// out (n x d_out) = (x + shift_in) W + shift_out, W d_in x d_out row-major (shifts may be null).
void affine_map_host(int device, std::int64_t n, std::int64_t d_in, std::int64_t d_out,
                     const float* x, const float* shift_in, const float* w, const float* shift_out,
                     float* out, std::int64_t chunk_rows, const LinalgSettings& settings);
// out = rows of x scaled to unit L2 norm (zero rows stay zero).
void l2_normalize_host(int device, std::int64_t n, std::int64_t d, const float* x, float* out,
                       std::int64_t chunk_rows, const LinalgSettings& settings);

}  // namespace knnx::cuda
