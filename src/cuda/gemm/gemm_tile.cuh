// cuda/gemm/gemm_tile.cuh — the register-tiled GEMM kernel template and its launcher.
//
// Included by exactly one translation unit per operand layout (gemm_av.cu, gemm_at_b.cu) so each
// instantiation set is compiled once. Everything a hot loop divides by is a compile-time power of
// two (the shift and mask come from the compiler); runtime sizes are only compared against.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/gemm_tiles.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"

namespace knnx::cuda::gemm_detail {

constexpr int kGemmThreads = 256;
constexpr int kGemmBk = 8;

// Micro-tile of one thread for a BM x BN block tile: (BM/TM) x (BN/TN) = 256 threads.
template <int BM, int BN>
struct MicroTile {
  static constexpr int tm = BM >= 128 ? 8 : BM / 16;
  static constexpr int tn = BN * BM / (kGemmThreads * tm);
};

// C[M x N] (+)= alpha * op(A)[M x K] * B[K x N], op(A)(i, kk) = A[i*lda + kk] (TransA false) or
// A[kk*lda + i] (TransA true). Block (x, y, z) computes rows x*BM.., columns y*BN.. over the
// reduction range [z*k_per_split, (z+1)*k_per_split). Thread (ty, tx) owns rows ty + i*RT and
// columns tx + j*CT (interleaved, so shared-memory reads of a warp hit distinct banks and the
// final stores are coalesced). With `work` set, raw sums go to work[z][M][N] for the split-K
// reduction; otherwise C = alpha * acc + beta * C (C not read when beta == 0).
template <int BM, int BN, bool TransA>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_tile_kernel(std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t k_per_split,
                     float alpha, const float* __restrict__ A, std::int64_t lda,
                     const float* __restrict__ B, std::int64_t ldb, float beta,
                     float* __restrict__ C, std::int64_t ldc, float* __restrict__ work) {
  constexpr int TM = MicroTile<BM, BN>::tm;
  constexpr int TN = MicroTile<BM, BN>::tn;
  constexpr int CT = BN / TN;  // threads along columns
  constexpr int RT = BM / TM;  // threads along rows
  static_assert(CT * RT == kGemmThreads, "micro-tile does not cover the block tile");
  static_assert((BM * kGemmBk) % kGemmThreads == 0 && (BN * kGemmBk) % kGemmThreads == 0,
                "tile loads must divide evenly among the threads");
  constexpr int kPad = TransA ? 0 : 4;  // transposing stores of A would conflict without it

  __shared__ float As[kGemmBk][BM + kPad];
  __shared__ float Bs[kGemmBk][BN];

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % CT;
  const int ty = tid / CT;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.x) * BM;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.y) * BN;
  const std::int64_t k_begin = static_cast<std::int64_t>(blockIdx.z) * k_per_split;
  const std::int64_t k_end = k_begin + k_per_split < K ? k_begin + k_per_split : K;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }

  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += kGemmBk) {
#pragma unroll
    for (int l = 0; l < BM * kGemmBk / kGemmThreads; ++l) {
      const int e = tid + l * kGemmThreads;
      // Consecutive threads walk the contiguous dimension of A in global memory.
      const int r = TransA ? e % BM : e / kGemmBk;
      const int kk = TransA ? e / BM : e % kGemmBk;
      const std::int64_t gr = row0 + r;
      const std::int64_t gk = k0 + kk;
      float val = 0.0f;
      if (gr < M && gk < k_end) val = TransA ? A[gk * lda + gr] : A[gr * lda + gk];
      As[kk][r] = val;
    }
#pragma unroll
    for (int l = 0; l < BN * kGemmBk / kGemmThreads; ++l) {
      const int e = tid + l * kGemmThreads;
      const int c = e % BN;
      const int kk = e / BN;
      const std::int64_t gc = col0 + c;
      const std::int64_t gk = k0 + kk;
      Bs[kk][c] = (gc < N && gk < k_end) ? B[gk * ldb + gc] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kGemmBk; ++kk) {
      float a[TM];
      float b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + i * RT];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + j * CT];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const std::int64_t gr = row0 + ty + i * RT;
    if (gr >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const std::int64_t gc = col0 + tx + j * CT;
      if (gc >= N) continue;
      if (work != nullptr) {
        work[(static_cast<std::int64_t>(blockIdx.z) * M + gr) * N + gc] = acc[i][j];
      } else if (beta == 0.0f) {
        C[gr * ldc + gc] = alpha * acc[i][j];
      } else {
        C[gr * ldc + gc] = fmaf(alpha, acc[i][j], beta * C[gr * ldc + gc]);
      }
    }
  }
}

// C = alpha * sum_z work[z] + beta * C (C not read when beta == 0); splits == 0 scales C only.
void launch_split_k_reduce(const float* work, int splits, std::int64_t M, std::int64_t N,
                           float alpha, float beta, float* C, std::int64_t ldc,
                           cudaStream_t stream, bool sync_check);

// How many slices to split the reduction dimension into so that at least ~2 blocks per SM run,
// each slice keeping >= 256 steps of K. Returns 1 when the output tiles alone fill the device.
int choose_splits(std::int64_t tiles, std::int64_t M, std::int64_t N, std::int64_t K,
                  cudaStream_t stream);

template <int BM, int BN, bool TransA>
void launch_gemm_tile(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                      std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                      std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    launch_split_k_reduce(nullptr, 0, M, N, alpha, beta, C, ldc, stream, sync_check);
    return;
  }
  const std::int64_t row_tiles = (M + BM - 1) / BM;
  const std::int64_t col_tiles = (N + BN - 1) / BN;
  const int splits = choose_splits(row_tiles * col_tiles, M, N, K, stream);
  std::int64_t k_per_split = (K + splits - 1) / splits;
  k_per_split = (k_per_split + kGemmBk - 1) / kGemmBk * kGemmBk;
  const int used = static_cast<int>((K + k_per_split - 1) / k_per_split);
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(col_tiles),
                  static_cast<unsigned>(used));
  if (used == 1) {
    gemm_tile_kernel<BM, BN, TransA><<<grid, kGemmThreads, 0, stream>>>(
        M, N, K, k_per_split, alpha, A, lda, B, ldb, beta, C, ldc, nullptr);
    KNNX_CHECK_LAUNCH(stream, sync_check, "gemm_tile_kernel");
    return;
  }
  DeviceBuffer<float> work(static_cast<std::size_t>(used) * static_cast<std::size_t>(M * N),
                           stream);
  gemm_tile_kernel<BM, BN, TransA><<<grid, kGemmThreads, 0, stream>>>(
      M, N, K, k_per_split, alpha, A, lda, B, ldb, beta, C, ldc, work.data());
  KNNX_CHECK_LAUNCH(stream, sync_check, "gemm_tile_kernel (split-K)");
  launch_split_k_reduce(work.data(), used, M, N, alpha, beta, C, ldc, stream, sync_check);
}

// Runs the instantiation for tile shape number `index` of kGemmTileShapes.
template <bool TransA>
void dispatch_gemm_tile(int index, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                        const float* A, std::int64_t lda, const float* B, std::int64_t ldb,
                        float beta, float* C, std::int64_t ldc, cudaStream_t stream,
                        bool sync_check) {
  using detail::kGemmTileShapes;
  static_assert(detail::kGemmTileCount == 5, "update the dispatch below with the tile list");
  static_assert(kGemmTileShapes[0].bm == 32 && kGemmTileShapes[0].bn == 32, "tile 0");
  static_assert(kGemmTileShapes[1].bm == 64 && kGemmTileShapes[1].bn == 64, "tile 1");
  static_assert(kGemmTileShapes[2].bm == 128 && kGemmTileShapes[2].bn == 32, "tile 2");
  static_assert(kGemmTileShapes[3].bm == 128 && kGemmTileShapes[3].bn == 64, "tile 3");
  static_assert(kGemmTileShapes[4].bm == 128 && kGemmTileShapes[4].bn == 128, "tile 4");
  switch (index) {
    case 0:
      return launch_gemm_tile<32, 32, TransA>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, stream,
                                              sync_check);
    case 1:
      return launch_gemm_tile<64, 64, TransA>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, stream,
                                              sync_check);
    case 2:
      return launch_gemm_tile<128, 32, TransA>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                               stream, sync_check);
    case 3:
      return launch_gemm_tile<128, 64, TransA>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                               stream, sync_check);
    default:
      return launch_gemm_tile<128, 128, TransA>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                                stream, sync_check);
  }
}

}  // namespace knnx::cuda::gemm_detail
