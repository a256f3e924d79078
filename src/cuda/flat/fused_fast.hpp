// cuda/flat/fused_fast.hpp — the fused fast mode of GPU flat search (KNNX_FLAT_FAST_KERNEL=fused).
//
// Pipeline for a batch of queries (flat_cuda.cpp, search_fused):
//  1. threshold: a 3xTF32 search of each query over a strided sample of S stored rows keeps its
//     k' best scores (k' = fused_kept below: max(k x flat_overfetch, k + 16), at most 4096);
//     the largest of their scores plus each one's error bound is at least k' true scores.
//     No row of a query's true top k' scores worse than that, so it bounds every row the
//     re-rank needs.
//  2. candidates: one kernel computes tensor-core tiles of query x row products and, in its
//     epilogue, appends each (row, score) whose approximate score is within the error bound of
//     the threshold to the query's buffer of `cap` entries; no score tile reaches memory. The
//     operands are FP16 (mma.sync m16n8k16; queries and rows scaled by powers of two so that
//     no coordinate overflows, dp <= 128) or TF32 (m16n8k8, any dp): both round each operand
//     to 11 significant bits, so the relative bound is the same; FP16 adds an absolute term for
//     coordinates in its subnormal range (launch_fused_threshold).
//  3. the best k' candidates by TF32 score (launch_merge_partial), re-ranked by exact float32
//     products (launch_rerank) into the final k.
//  4. a query whose buffer overflowed (count > cap) is searched again by the exact path.
// Scores are "partial" as in the GEMM tiles: |x|^2 - 2 q.x (L2) or -q.x (IP).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/select/block_select_limits.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Tile of the candidate kernel: 128 queries x 128 rows a block (256 threads, 8 warps of 64 x 32).
inline constexpr int kFusedTileQueries = 128;
inline constexpr int kFusedTileRows = 128;

// k' of the fused path: the tiled path's kept (max(k, k x flat_overfetch)), and at least k + 16,
// at most 4096 (kMaxSelectK): at small k a TF32 ranking error of a few places is then absorbed
// (k 1 re-ranks 17 rows, k 10 re-ranks 26) for a few microseconds of re-rank a batch.
inline int fused_kept(int k, int kept) {
  const int floor_k = k + 16 < kMaxSelectK ? k + 16 : kMaxSelectK;
  return kept > floor_k ? kept : floor_k;
}

// KNNX_FLAT_FAST_KERNEL=auto (up to 128 dimensions): the fused kernel on FP16 operands for k up
// to kFusedFp16AutoMaxK on mma.sync or kFusedAutoMaxK on warpgroup MMA, on TF32 operands up to
// kFusedAutoMaxK, the cuBLAS tiles past it. At 1M x 128, nq 10,000 on an H100 (bench/NOTES.md,
// 2026-12-07), FP16 on mma.sync was the fastest at k 10 (26.5 ms; TF32 fused 31.7, tiles 38.8)
// and slower than both at k 100 (42.9; 40.3, 41.3), where a candidate is one score in 80 and
// its epilogue's branches diverge; TF32 fused was at or below the tiles at k 10, 32 and 100.
// k 16 keeps k' (32) near k 10's (26). FP16 on warpgroup MMA was the fastest at k 10, 32 and
// 100 (14.3, 19.5 and 22.8 ms, bench/results/gpu_sweep_fused_7281a49_h100.json; TF32 fused
// 30.8, 33.2 and 40.0 in gpu_sweep_fused_0774cae_h100.json).
inline constexpr int kFusedFp16AutoMaxK = 16;
inline constexpr int kFusedAutoMaxK = 100;

struct FusedFastShape {
  std::int64_t sample;  // S: rows of the threshold sample (every stride-th stored row)
  std::int64_t stride;
  int cap;  // candidates a query's buffer holds
};

// S = min(n, max(16384, 64 k')): expected candidates a query about k' n / S (the sample's k'-th
// score ranks near k' n / S among all rows); cap = 4 x that (at least 2 k', a multiple of 32,
// at most n rounded up), or cap_override when > 0.
FusedFastShape fused_fast_shape(std::int64_t n, int kept, int cap_override);

// The bound on |TF32 score - float32 score| is coef x |q| x |x|: both operands rounded to tf32
// (relative 2^-11 each), products summed in float32 over dp terms, doubled for L2's -2 q.x,
// with a factor 2 of slack.
float fused_margin_coef(Metric metric, int dp);

// The threshold's sample GEMM error bound, as a multiple of |q| |x|: products of 3xTF32
// operands (launch_split_tf32) summed in float32 over 3 dp terms.
float fused_sample_eps(Metric metric, int dp);

// dst rows i < count = src rows i x stride (rows of dp floats); dst_norms likewise from norms.
void launch_gather_strided(const float* src, const float* norms, int dp, std::int64_t stride,
                           std::int64_t count, float* dst, float* dst_norms, cudaStream_t stream,
                           bool sync_check);

// Whether the FP16 candidate kernel takes rows of dp floats.
bool fused_fp16_supported(int dp);

// max_norm2[0] = the largest of its value and norm2[0, n) (squared norms, as float bits: NaN
// orders above +inf above every finite value); the FP16 kernel's scales come from it. The caller
// zeroes it first.
void launch_max_norm2(const float* norm2, std::int64_t n, std::uint32_t* max_norm2,
                      cudaStream_t stream, bool sync_check);

// Per query q < nq, from the sample's best `kept` (key, row) pairs ([nq][kept], rows index
// sample_norms): thr[q] = the largest kept score plus the sample GEMM's error bound at its row,
// sample_eps |q| |x| (+inf when fewer than kept rows were kept), and qscale[q] = fused_margin_coef
// x |q| (from the squared norms qnorm2). fp16_max_norm2 (device; [0] the queries', [1] the rows'
// largest squared norm, from launch_max_norm2) when the FP16 kernel follows, else null: thr
// then also carries FP16's absolute error term, or +inf when a largest norm is not finite.
void launch_fused_threshold(const std::uint32_t* keys, const std::int32_t* rows, int nq, int kept,
                            const float* qnorm2, const float* sample_norms, Metric metric, int dp,
                            float sample_eps, const std::uint32_t* fp16_max_norm2, float* thr,
                            float* qscale, cudaStream_t stream, bool sync_check);

// The candidate kernel over rows [0, n) of base (stride dp, norms |x|^2) for nq queries (stride
// dp, 16-byte aligned rows): appends (key of score, row) to query q's buffer
// (keys/rows + q x cap) for every row with score <= thr[q] + qscale[q] x |x|, counting all
// of them in counts[q] (zeroed by the caller); entries past cap are dropped, so counts[q] > cap
// marks an overflow. Grid: query tiles x `splits` slices of the rows. FP16 operands when
// fp16_max_norm2 is given (as for launch_fused_threshold; dp must be fused_fp16_supported),
// else TF32.
void launch_fused_candidates(const float* base, const float* norms, std::int64_t n, int dp,
                             const float* queries, int nq, const float* thr, const float* qscale,
                             Metric metric, const std::uint32_t* fp16_max_norm2, int cap,
                             int splits, int* counts, std::uint32_t* keys, std::int32_t* rows,
                             cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
