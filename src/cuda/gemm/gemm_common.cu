// Split-K reduction and split selection shared by both GEMM layouts.
#include "cuda/gemm/gemm_tile.cuh"

namespace knnx::cuda::gemm_detail {
namespace {

// 2-D grid: x over columns, y (grid-stride) over rows; the splits are summed in index order.
__global__ void split_k_reduce_kernel(const float* __restrict__ work, int splits, std::int64_t M,
                                      std::int64_t N, float alpha, float beta,
                                      float* __restrict__ C, std::int64_t ldc) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= N) return;
  const std::int64_t plane = M * N;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * blockDim.y + threadIdx.y;
       row < M; row += static_cast<std::int64_t>(gridDim.y) * blockDim.y) {
    float sum = 0.0f;
    for (int z = 0; z < splits; ++z) sum += work[z * plane + row * N + col];
    float* out = C + row * ldc + col;
    *out = beta == 0.0f ? alpha * sum : fmaf(alpha, sum, beta * *out);
  }
}

}  // namespace

void launch_split_k_reduce(const float* work, int splits, std::int64_t M, std::int64_t N,
                           float alpha, float beta, float* C, std::int64_t ldc,
                           cudaStream_t stream, bool sync_check) {
  const dim3 block(32, 8);
  const std::int64_t row_blocks = (M + block.y - 1) / block.y;
  const dim3 grid(static_cast<unsigned>((N + block.x - 1) / block.x),
                  static_cast<unsigned>(std::min<std::int64_t>(row_blocks, 65535)));
  split_k_reduce_kernel<<<grid, block, 0, stream>>>(work, splits, M, N, alpha, beta, C, ldc);
  KNNX_CHECK_LAUNCH(stream, sync_check, "split_k_reduce_kernel");
}

int choose_splits(std::int64_t tiles, std::int64_t M, std::int64_t N, std::int64_t K,
                  cudaStream_t stream) {
  constexpr std::int64_t kMinStepsPerSplit = 256;
  constexpr std::int64_t kMaxSplits = 64;
  constexpr std::int64_t kMaxWorkspaceFloats = std::int64_t{64} << 20;  // 256 MiB
  int device = 0;
  KNNX_CUDA_CHECK(cudaStreamGetDevice(stream, &device));
  const std::int64_t target = 2 * std::int64_t{device_properties(device).multiProcessorCount};
  if (tiles >= target) return 1;
  std::int64_t splits = (target + tiles - 1) / tiles;
  splits = std::min(splits, std::max<std::int64_t>(1, K / kMinStepsPerSplit));
  splits = std::min(splits, kMaxSplits);
  splits = std::min(splits, std::max<std::int64_t>(1, kMaxWorkspaceFloats / std::max<std::int64_t>(1, M * N)));
  return static_cast<int>(splits);
}

}  // namespace knnx::cuda::gemm_detail
