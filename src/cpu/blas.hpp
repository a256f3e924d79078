// cpu/blas.hpp — the few BLAS calls knnx makes, behind one small wrapper.
#pragma once

#include "knnx/types.hpp"

namespace knnx::cpu {

// Under an address-space cap (ulimit -v) each product first checks that OpenBLAS's work
// buffers fit and throws OutOfMemory when they do not (OpenBLAS itself would wait forever).

// out (m x n, row-major) = alpha * A (m x k) * B (n x k)^T. Inside an OpenMP parallel region
// the OpenMP build of OpenBLAS runs this on the calling thread alone.
void sgemm_abt(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float* out);

// out (m x n) = alpha * A (m x k) * B (k x n) + beta * out.
void sgemm_ab(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
              float* out);

// out (k x n) = alpha * A (m x k)^T * B (m x n) + beta * out.
void sgemm_atb(idx_t m, idx_t n, idx_t k, float alpha, const float* a, const float* b, float beta,
               float* out);

// How many of `requested` threads may call BLAS at once. Each thread that calls sgemm gets a
// work buffer from OpenBLAS (tens of MiB of address space) and an OpenMP stack; under an
// address-space cap (ulimit -v) a thread whose buffer cannot be mapped waits in OpenBLAS for
// one forever. The count is lowered so that the threads' buffers and stacks take at most half
// of the address space left under the cap (at least 1; `requested` when there is no cap).
int blas_threads_within_limits(int requested);

// The threads of one CPU parallel region: `requested` (the num_threads knob, of a call's
// parameters or process-wide) when positive, else the OpenMP default; within
// blas_threads_within_limits.
int cpu_threads(int requested);

}  // namespace knnx::cpu
