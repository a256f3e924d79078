// cuda/flat/fused_wgmma.hpp — the fused fast mode's candidate kernel on Hopper's warpgroup MMA
// (wgmma), FP16 operands. Same contract as launch_fused_candidates with FP16 operands
// (fused_fast.hpp): the same scales, error bound and threshold, so the same candidates up to
// the order of float32 summation. The tensor cores read both operands from shared memory
// through descriptors, so no thread loads fragments or converts operands in the inner loop.
//
// wgmma exists only in sm_90a machine code: fused_wgmma.cu is built for that target alone
// (CMakeLists.txt), and fused_wgmma_none.cpp stands in where the toolkit or the build leaves it
// out. Callers ask fused_wgmma_device first.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "knnx/metric.hpp"

namespace knnx::cuda {

// Whether this build holds the wgmma kernel and device `ordinal` runs it (compute capability
// 9.0: H100, H200, GH200).
bool fused_wgmma_device(int ordinal);

// The rows' FP16 copy the kernel reads, in one search's workspace: every stored row scaled by
// the rows' power of two and rounded to fp16, dk halves a row (dp rounded up to two wgmma k
// steps of 16, zero past dp); per row, padded to whole 128-row tiles, its terms: the score's
// part that does not depend on the query (|x|^2 for L2, 0 for IP; +inf past n, so padding rows
// never pass) and |x| (which scales its error bound); per tile, its rows' largest |x| (the
// kernel's first, tile-wide filter).
struct FusedWgmmaRows {
  std::int64_t rows = 0;   // n
  int dk = 0;              // halves a row
  std::int64_t tiles = 0;  // 128-row tiles, the last padded
  std::int64_t bytes() const { return rows * dk * 2 + tiles * (128 * 8 + 4); }
};
inline FusedWgmmaRows fused_wgmma_rows_shape(std::int64_t n, int dp) {
  return {n, (dp + 31) / 32 * 32, (n + 127) / 128};
}

// Fills the copy: xh [n][dk] halves, terms [tiles x 128] and tile_norms [tiles], from base
// [n][dp], norms (|x|^2) and max_norm2[1] (the rows' largest squared norm's bits,
// launch_max_norm2).
void launch_fused_wgmma_rows(const float* base, const float* norms, std::int64_t n, int dp,
                             Metric metric, const std::uint32_t* max_norm2,
                             const FusedWgmmaRows& shape, __half* xh, float2* terms,
                             float* tile_norms, cudaStream_t stream, bool sync_check);

// launch_fused_candidates (FP16 operands) on the copy above; dp <= 128. candidate_rate: the
// expected share of scores that pass (k' / the threshold's sample), which picks how the
// kernel's epilogue handles them (a speed choice only).
void launch_fused_candidates_wgmma(const __half* xh, const float2* terms, const float* tile_norms,
                                   const FusedWgmmaRows& shape, std::int64_t n, int dp,
                                   const float* queries, int nq, const float* thr,
                                   const float* qscale, Metric metric,
                                   const std::uint32_t* max_norm2, int cap, double candidate_rate,
                                   int splits, int* counts, std::uint32_t* keys, std::int32_t* rows,
                                   cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
