// knnx/linalg.hpp — dense linear algebra used by the transforms, exposed for direct use: thin QR,
// the QR projection c = Q^T v, top-r SVD of tall matrices by subspace iteration, and a report of
// the GPU GEMM tiles in force.
//
// Matrices are float32 host arrays, row-major unless stated. Each function runs on the CPU (BLAS
// + LAPACKE) or on a CUDA device (knnx's tiled GEMM and Gram-Schmidt kernels), chosen by its
// device argument; arguments are validated first (InvalidArgument naming the argument).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/types.hpp"

namespace knnx {

// The block tiles ("BMxBN") the tiled GPU GEMM uses on a device, and where they come from:
// "KNNX_GEMM_TILE_AV" / "KNNX_GEMM_TILE_ATB" when overridden (environment or set_config; one
// tile for every shape), else "table sm_XY" (the static entries for the device's architecture:
// one tile for outputs of more than narrow_columns columns, one for narrower outputs).
// InvalidArgument when the device does not exist; NotSupported in a build without CUDA.
struct GemmTiles {
  std::string av;          // C = A V, wide outputs
  std::string av_narrow;   // C = A V, outputs of at most narrow_columns columns
  std::string atb;         // C = A^T B, wide outputs
  std::string atb_narrow;  // C = A^T B, narrow outputs
  int narrow_columns = 0;
  std::string av_source;
  std::string atb_source;
  int sm_major = 0;
  int sm_minor = 0;
};
GemmTiles get_gemm_tiles(int cuda_device = 0);

// c[j] = <column j of Q, v> for j < k, where Q is m x k and q_cols holds its columns
// contiguously: q_cols[j*m + i] = Q(i, j) (Q column-major, equivalently Q^T row-major).
// On a GPU the projection kernel is picked by KNNX_QR_DOT (see docs/knobs.md).
std::vector<float> project_coeffs(idx_t m, idx_t k, const float* q_cols, const float* v,
                                  Device device = Device::cpu());

struct QrResult {
  idx_t m = 0;
  idx_t k = 0;
  std::vector<float> q;  // m x k, orthonormal columns
  std::vector<float> r;  // k x k, upper triangular; a = q r
};
// Thin QR of the m x k matrix a (1 <= k <= m). CPU: Householder (LAPACK). GPU: modified
// Gram-Schmidt run twice, built on the projection kernels. A zero column of a gives a zero
// column of q (and a zero diagonal entry of r) on the GPU.
QrResult qr(idx_t m, idx_t k, const float* a, Device device = Device::cpu());

struct SvdParams {
  int rank = 1;          // singular triplets wanted, 1 <= rank <= n
  int n_iter = 10;       // subspace iterations V <- orth(A^T (A V)), >= 0
  int oversample = 10;   // extra columns carried (p = min(n, rank + oversample)), >= 0
  std::uint64_t seed = 1234;  // of the Gaussian start block (the same on CPU and GPU)
  Device device = Device::cpu();
};
struct SvdResult {
  idx_t m = 0;
  idx_t n = 0;
  int rank = 0;
  std::vector<float> s;  // rank singular values, descending
  std::vector<float> u;  // m x rank left singular vectors
  std::vector<float> v;  // n x rank right singular vectors; a ~ u diag(s) v^T
};
// Top singular triplets of the tall m x n matrix a (n <= m) by subspace iteration followed by
// Rayleigh-Ritz. Convergence of value i goes as (s_{p+1} / s_i)^(2 n_iter); oversampling buys
// accuracy for the last requested values. On the GPU the Z = A^T (A V) step follows
// KNNX_SVD_BAND and KNNX_SVD_STREAMS.
SvdResult svd(idx_t m, idx_t n, const float* a, const SvdParams& params = {});

}  // namespace knnx
