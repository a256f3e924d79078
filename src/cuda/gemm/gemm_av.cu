// The A * V instantiations of the tiled GEMM (one translation unit per layout keeps each
// instantiation set compiled once, in parallel with the other).
#include "cuda/gemm/gemm_launch.hpp"
#include "cuda/gemm/gemm_tile.cuh"

namespace knnx::cuda::gemm_detail {

void gemm_nn(int tile_index, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
             const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
             float* C, std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  dispatch_gemm_tile<false>(tile_index, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, stream,
                            sync_check);
}

}  // namespace knnx::cuda::gemm_detail
