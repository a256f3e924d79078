// cuda/flat/flat_kernels.hpp — launchers of the exact flat-search kernels.
//
// Rows are stored padded to a stride `dp` (a multiple of 4 floats, zero-filled), so every row
// starts 16-byte aligned and kernels use float4 loads. Partial results are (key, row) pairs:
// keys are order-preserving encodings (radix_key.cuh) of scores to minimise, -1 rows are empty.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace knnx::cuda {

// Scores for ranking: L2 = squared distance; IP = negated inner product (smaller is better).
enum class ScoreKind { L2, InnerProduct };

// Few-query streaming path: grid (nq, parts); each block scans rows [part*rows_per_part, ...)
// once for one query, computing exact scores on the fly, and keeps its own top-k.
// Writes parts x k partial results per query to out_keys/out_rows ([nq][parts][k]).
void launch_flat_stream(const float* base, std::int64_t n, int dp, const float* queries, int nq,
                        ScoreKind kind, int k, int parts, std::int64_t rows_per_part,
                        std::uint32_t* out_keys, std::int32_t* out_rows, cudaStream_t stream,
                        bool sync_check);

// Merges, per query, n_in partial (key, row) pairs ([nq][n_in]) into the final top-k:
// sorted, converted to distances (L2: max(0, value + qnorm) when qnorms is given;
// IP: -value), rows mapped to ids through `ids` (identity when null), -1 / pad beyond the
// available results. Writes [nq][k] distances and labels.
void launch_flat_merge(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq,
                       int n_in, ScoreKind kind, int k, const float* qnorms,
                       const std::int64_t* ids, float* distances, std::int64_t* labels,
                       cudaStream_t stream, bool sync_check);

// One level of a merge tree: per query, splits n_in partial results into `groups` slices and
// reduces each to its best k, written to out ([nq][groups][k]).
void launch_flat_merge_partial(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq,
                               int n_in, int groups, int k, std::uint32_t* out_keys,
                               std::int32_t* out_rows, cudaStream_t stream, bool sync_check);

// GEMM-tile selection. tile is [bq][ld] row-major holding -2 q.x (L2; completed with
// base_norms) or -q.x (IP) for base rows col0 .. col0+bn. Block (b, p) selects the best k of
// tile row b's columns [p*cols_per_part, (p+1)*cols_per_part) — plus prev[b] ([bq][k]) when
// prev_keys is not null — into out[b*out_stride + out_offset + p*k .. +k). ld and
// cols_per_part are multiples of 4, and base_norms is readable up to col0 + round_up(bn, 4).
// out may alias prev (each block reads its prev entries before writing).
void launch_tile_select(const float* tile, int ld, int bq, int bn, const float* base_norms,
                        std::int64_t col0, ScoreKind kind, int k, int parts, int cols_per_part,
                        const std::uint32_t* prev_keys, const std::int32_t* prev_rows,
                        std::uint32_t* out_keys, std::int32_t* out_rows, std::int64_t out_stride,
                        std::int64_t out_offset, cudaStream_t stream, bool sync_check);

// Re-ranks candidate rows ([nq][n_cand], -1 = none) by exact float32 scores, keeping the best
// k, written like launch_flat_merge (distances + ids).
void launch_rerank(const float* base, int dp, const float* queries, int nq, ScoreKind kind,
                   const std::int32_t* cand_rows, int n_cand, int k, const std::int64_t* ids,
                   float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check);

// Squared norms of n padded rows into out[0..n).
void launch_row_norms(const float* x, std::int64_t n, int dp, float* out, cudaStream_t stream,
                      bool sync_check);

// Copies n rows of width d (stride src_ld floats) into a zero-padded [n][dp] buffer.
void launch_pad_rows(const float* src, std::int64_t n, int d, std::int64_t src_ld, float* dst,
                     int dp, cudaStream_t stream, bool sync_check);

// Sets *out to 1 when x[0..count) holds a non-finite value (out may be mapped host memory;
// the caller clears it first).
void launch_flag_nonfinite(const float* x, std::int64_t count, unsigned long long* out,
                            cudaStream_t stream, bool sync_check);

// 3xTF32 operands: each row of dp floats (dp a multiple of 4) becomes 3 dp floats of tf32
// values, x = hi + lo: (hi, hi, lo) for Queries, (hi, lo, hi) for Base rows, so a TF32 GEMM over
// 3 dp columns gives hi.hi + hi.lo + lo.hi, float32-level products at tensor-core rates.
enum class SplitOrder { Queries, Base };
void launch_split_tf32(const float* src, std::int64_t rows, int dp, SplitOrder order, float* dst,
                       cudaStream_t stream, bool sync_check);

// dst[i] = src[keep[i]] rows, for i < n_keep (rows of dp floats).
void launch_gather_rows(const float* src, int dp, const std::int64_t* keep, std::int64_t n_keep,
                        float* dst, cudaStream_t stream, bool sync_check);


}  // namespace knnx::cuda
