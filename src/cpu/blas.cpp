#include "cpu/blas.hpp"

#include <cblas.h>

namespace knnx::cpu {

void sgemm_abt(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(k), 0.0f, out,
              static_cast<int>(n));
}

void sgemm_ab(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
              float* out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

void sgemm_atb(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
               float* out) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(n),
              static_cast<int>(m), alpha, a, static_cast<int>(k), b, static_cast<int>(n), beta, out,
              static_cast<int>(n));
}

}  // namespace knnx::cpu
