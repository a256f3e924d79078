// cpu/linalg.hpp — CPU linear algebra on BLAS + LAPACKE: thin QR, the QR projection c = Q^T v,
// subspace-iteration SVD, and the small float64 factorisations (symmetric eigenproblem, full
// SVD) the transforms need. Matrices are row-major unless a comment says otherwise.
#pragma once

#include <vector>

#include "knnx/types.hpp"

namespace knnx::cpu {

// Thin QR of the m x k matrix a (k <= m): q (m x k) with orthonormal columns, r (k x k) upper
// triangular, a = q r. LAPACK sgeqrf + sorgqr (Householder), so q is orthogonal to rounding.
void qr(idx_t m, idx_t k, const float* a, float* q, float* r);

// c[j] = sum_i q_cols[j*m + i] * v[i] for j < k (q_cols holds the columns of Q as rows).
void project_coeffs(idx_t m, idx_t k, const float* q_cols, const float* v, float* c);

struct SvdOutput {
  std::vector<float> s;  // rank values, descending
  std::vector<float> u;  // m x rank
  std::vector<float> v;  // n x rank
};

// Top-`rank` singular triplets of the m x n matrix a by subspace iteration (p columns started
// from v0, n x p; n_iter steps V <- orth(A^T (A V))), then Rayleigh-Ritz: A V = Q R by QR and a
// float64 SVD of R.
SvdOutput svd_subspace(idx_t m, idx_t n, const float* a, int rank, int p, int n_iter,
                       const std::vector<float>& v0);

// Eigen-decomposition of the symmetric d x d matrix a (only its values are read): values in
// descending order, vectors[i*d ..] the unit eigenvector of values[i].
void symmetric_eigen(int d, const std::vector<double>& a, std::vector<double>& values,
                     std::vector<double>& vectors);

// Full SVD of the rows x cols matrix a in float64: a = u diag(s) vt, u rows x rows,
// vt cols x cols, s min(rows, cols) values descending.
void svd_small(int rows, int cols, const std::vector<double>& a, std::vector<double>& u,
               std::vector<double>& s, std::vector<double>& vt);

}  // namespace knnx::cpu
