#include "cpu/linalg.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <lapacke.h>

#include <algorithm>

#include "cpu/blas.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

std::size_t elems(idx_t a, idx_t b) { return static_cast<std::size_t>(a) * static_cast<std::size_t>(b); }

void check_info(lapack_int info, const char* routine) {
  if (info != 0) throw Error(fmt::format("{} failed with info={}", routine, info));
}

// q (m x k, in place from a copy of a) and optionally r.
void householder_qr(idx_t m, idx_t k, float* q, float* r) {
  std::vector<float> tau(static_cast<std::size_t>(std::max<idx_t>(1, k)));
  check_info(LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(k),
                            q, static_cast<lapack_int>(k), tau.data()),
             "LAPACKE_sgeqrf");
  if (r != nullptr) {
    for (idx_t i = 0; i < k; ++i) {
      for (idx_t j = 0; j < k; ++j) r[elems(i, k) + j] = j >= i ? q[elems(i, k) + j] : 0.0f;
    }
  }
  check_info(LAPACKE_sorgqr(LAPACK_ROW_MAJOR, static_cast<lapack_int>(m), static_cast<lapack_int>(k),
                            static_cast<lapack_int>(k), q, static_cast<lapack_int>(k), tau.data()),
             "LAPACKE_sorgqr");
}

}  // namespace

void qr(idx_t m, idx_t k, const float* a, float* q, float* r) {
  std::copy(a, a + elems(m, k), q);
  householder_qr(m, k, q, r);
}

void project_coeffs(idx_t m, idx_t k, const float* q_cols, const float* v, float* c) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(k), static_cast<int>(m), 1.0f, q_cols,
              static_cast<int>(m), v, 1, 0.0f, c, 1);
}

SvdOutput svd_subspace(idx_t m, idx_t n, const float* a, int rank, int p, int n_iter,
                       const std::vector<float>& v0) {
  std::vector<float> v(v0);
  std::vector<float> w(elems(m, p));
  householder_qr(n, p, v.data(), nullptr);
  for (int it = 0; it < n_iter; ++it) {
    sgemm_ab(m, p, n, 1.0f, a, v.data(), 0.0f, w.data());   // W = A V
    sgemm_atb(m, p, n, 1.0f, a, w.data(), 0.0f, v.data());  // Z = A^T W
    householder_qr(n, p, v.data(), nullptr);
  }
  // Rayleigh-Ritz: A V = Q R, R = Ur S Vr^T.
  sgemm_ab(m, p, n, 1.0f, a, v.data(), 0.0f, w.data());
  std::vector<float> r(elems(p, p));
  householder_qr(m, p, w.data(), r.data());
  std::vector<double> rd(r.begin(), r.end()), ur, sv, vrt;
  svd_small(p, p, rd, ur, sv, vrt);
  std::vector<float> ur_top(elems(p, rank)), vr_top(elems(p, rank));
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < rank; ++j) {
      ur_top[elems(i, rank) + j] = static_cast<float>(ur[elems(i, p) + j]);
      vr_top[elems(i, rank) + j] = static_cast<float>(vrt[elems(j, p) + i]);
    }
  }
  SvdOutput out;
  out.s.assign(sv.begin(), sv.begin() + rank);
  out.u.resize(elems(m, rank));
  out.v.resize(elems(n, rank));
  sgemm_ab(m, rank, p, 1.0f, w.data(), ur_top.data(), 0.0f, out.u.data());
  sgemm_ab(n, rank, p, 1.0f, v.data(), vr_top.data(), 0.0f, out.v.data());
  return out;
}

void symmetric_eigen(int d, const std::vector<double>& a, std::vector<double>& values,
                     std::vector<double>& vectors) {
  std::vector<double> work(a);
  std::vector<double> w(static_cast<std::size_t>(d));
  check_info(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, work.data(), d, w.data()),
             "LAPACKE_dsyevd");
  // dsyevd: ascending values, eigenvectors in the columns of work.
  values.resize(static_cast<std::size_t>(d));
  vectors.resize(elems(d, d));
  for (int i = 0; i < d; ++i) {
    const int src = d - 1 - i;
    values[static_cast<std::size_t>(i)] = w[static_cast<std::size_t>(src)];
    for (int r = 0; r < d; ++r) vectors[elems(i, d) + r] = work[elems(r, d) + src];
  }
}

void svd_small(int rows, int cols, const std::vector<double>& a, std::vector<double>& u,
               std::vector<double>& s, std::vector<double>& vt) {
  std::vector<double> work(a);
  const int mn = std::min(rows, cols);
  u.resize(elems(rows, rows));
  vt.resize(elems(cols, cols));
  s.resize(static_cast<std::size_t>(mn));
  std::vector<double> superb(static_cast<std::size_t>(std::max(1, mn - 1)));
  check_info(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', rows, cols, work.data(), cols, s.data(),
                            u.data(), rows, vt.data(), cols, superb.data()),
             "LAPACKE_dgesvd");
}

}  // namespace knnx::cpu
