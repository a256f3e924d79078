// cuda/gemm/gemm_launch.hpp — the per-layout entry points of the compiled tile set, taking the
// tile's index in core/gemm_tiles.hpp (validated by the caller, gemm.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace knnx::cuda::gemm_detail {

// C (M x N) = alpha * A (M x K, lda) * B (K x N, ldb) + beta * C.
void gemm_nn(int tile_index, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
             const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
             float* C, std::int64_t ldc, cudaStream_t stream, bool sync_check);

// C (M x N) = alpha * A^T * B + beta * C, where A is K x M (lda) and B is K x N (ldb).
void gemm_tn(int tile_index, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
             const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
             float* C, std::int64_t ldc, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda::gemm_detail
