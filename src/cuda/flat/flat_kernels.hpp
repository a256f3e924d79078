// cuda/flat/flat_kernels.hpp — launchers of the exact flat-search kernels.
//
// Rows are stored padded to a stride `dp` (a multiple of 4 floats, zero-filled), so every row
// starts 16-byte aligned and kernels use float4 loads. Partial results are (key, row) pairs:
// keys are order-preserving encodings (radix_key.cuh) of scores to minimise — squared distances
// (L2) or negated inner products — and -1 rows are empty. The final merge is select/.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/common/range_output.hpp"
#include "cuda/select/final_merge.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Few-query streaming path: grid (nq, parts); each block scans rows [part*rows_per_part, ...)
// once for one query, computing exact scores on the fly, and keeps its own top-k. n is at most
// INT32_MAX.
// Writes parts x k partial results per query to out_keys/out_rows ([nq][parts][k]).
// allowed: null, or a bitmap of the n rows (core/admitted_bitmap.hpp); rows whose bit is clear
// are skipped, so a part with fewer admitted rows than k pads with empty entries.
// With final_merge.counters set, the last block of each query also folds its parts into the
// final results (last_block_merge.cuh; parts * k <= kLastBlockMergeMaxEntries).
// ring: 0, or 3 or 4 for a warp's reads queued that many units (2 KB each) ahead into shared
// memory (KNNX_FLAT_STREAM_RING); InvalidArgument otherwise.
void launch_flat_stream(const float* base, std::int64_t n, int dp, const float* queries, int nq,
                        Metric metric, int k, int parts, std::int64_t rows_per_part,
                        const std::uint32_t* allowed, std::uint32_t* out_keys,
                        std::int32_t* out_rows, const FinalMerge& final_merge, int ring,
                        cudaStream_t stream, bool sync_check);

// Blocks of launch_flat_stream's kernel that one multiprocessor of the current device holds at
// once for this metric, k, filter and ring (its registers and shared memory), at least 1: a
// launch of that many blocks a multiprocessor runs in one wave.
int flat_stream_blocks_per_sm(Metric metric, int k, bool filtered, int ring);

// GEMM-tile selection. tile is [bq][ld] row-major holding -2 q.x (L2; completed with
// base_norms) or -q.x (IP) for base rows col0 .. col0+bn. Block (b, p) selects the best k of
// tile row b's columns [p*cols_per_part, (p+1)*cols_per_part) — plus prev[b] ([bq][k]) when
// prev_keys is not null — into out[b*out_stride + out_offset + p*k .. +k). ld and
// cols_per_part are multiples of 4, and base_norms is readable up to col0 + round_up(bn, 4).
// out may alias prev (each block reads its prev entries before writing). allowed: null, or a
// bitmap of the base rows (core/admitted_bitmap.hpp); columns of rows whose bit is clear are
// skipped.
void launch_tile_select(const float* tile, int ld, int bq, int bn, const float* base_norms,
                        std::int64_t col0, Metric metric, int k, int parts, int cols_per_part,
                        const std::uint32_t* allowed, const std::uint32_t* prev_keys,
                        const std::int32_t* prev_rows, std::uint32_t* out_keys,
                        std::int32_t* out_rows, std::int64_t out_stride, std::int64_t out_offset,
                        cudaStream_t stream, bool sync_check);

// Re-ranks candidate rows ([nq][n_cand], -1 = none) by exact float32 scores, keeping the best
// k, written like launch_merge (distances + ids). Needs rerank_smem_bytes(n_cand, k) bytes of
// shared memory a block.
std::size_t rerank_smem_bytes(int n_cand, int k);
void launch_rerank(const float* base, int dp, const float* queries, int nq, Metric metric,
                   const std::int32_t* cand_rows, int n_cand, int k, const std::int64_t* ids,
                   float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check);

// Range search over n rows (range_emit.cuh): with fill null, adds each query's hits (rows
// within radius that `allowed`, when not null, admits) to counters[q]; with fill, writes them
// where *fill says, taking slots from counters[q] (zeroed first). Both passes score alike.
void launch_flat_range(const float* base, std::int64_t n, int dp, const float* queries, int nq,
                       Metric metric, float radius, const std::uint32_t* allowed, int* counters,
                       const RangeOutput* fill, cudaStream_t stream, bool sync_check);

// 3xTF32 operands: each row of dp floats (dp a multiple of 4) becomes 3 dp floats of tf32
// values, x = hi + lo: (hi, hi, lo) for Queries, (hi, lo, hi) for Base rows, so a TF32 GEMM over
// 3 dp columns gives hi.hi + hi.lo + lo.hi, float32-level products at tensor-core rates.
enum class SplitOrder { Queries, Base };
void launch_split_tf32(const float* src, std::int64_t rows, int dp, SplitOrder order, float* dst,
                       cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
