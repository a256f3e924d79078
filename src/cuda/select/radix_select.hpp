// cuda/select/radix_select.hpp — exact top-k for any k: radix selection over all of a query's
// candidates, for k beyond what the block selection keeps in shared memory (kMaxSelectK).
//
// Per query, one block finds the k-th best (key, row) by histogram passes over the key bits
// (11, 11 and 10 bits; radix_key.cuh), and, only when candidates with the k-th key straddle the
// cut, over the row bits among them; it then gathers exactly the min(k, candidates) entries at
// or before that cut. Flat searches hand it their GEMM score tile, whose keys it completes as
// it reads (no pass rewrites the tile). A segmented radix sort of (key, row) pairs as 64-bit words orders them, so
// the results are exactly the k best by (score, row) — ties go to the smaller row — and do not
// depend on thread timing. Reads the candidates four times (six with straddling ties); scratch
// is 16 bytes per kept entry (select_large_k_bytes).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/select/block_select_limits.hpp"
#include "knnx/metric.hpp"

namespace knnx::cuda {

// Whether a search for k takes the radix selection: k above kBlockSelectMaxK, or at least
// radix_min_k (SearchKnobs::gpu_radix_min_k, KNNX_GPU_RADIX_MIN_K: 2049 by default).
inline bool use_radix_select(int k, int radix_min_k) {
  return k > kBlockSelectMaxK || k >= radix_min_k;
}

// Device bytes select_large_k allocates for nq queries of n_in candidates.
std::int64_t select_large_k_bytes(std::int64_t nq, std::int64_t n_in, int k);

// Candidates of query q: keys[q * ld + j] for j < n_in (scores to minimise as radix keys;
// kKeyMax marks an empty entry) with rows rows[q * ld + j] (-1 marks an empty entry too), or
// row j when rows is null. Rows are distinct within a query and below 2^31. Writes each query's
// best min(k, candidates), sorted, to distances / labels ([nq][k]) as launch_merge does (L2:
// max(0, value + qnorms[q]) when qnorms is given, IP: -value; rows mapped through ids, identity
// when null), padded with (+inf for L2 / -inf for IP, -1). nq * min(k, n_in) < 2^31.
void select_large_k(const std::uint32_t* keys, const std::int32_t* rows, int nq, std::int64_t n_in,
                    std::int64_t ld, int k, Metric metric, const float* qnorms,
                    const std::int64_t* ids, float* distances, std::int64_t* labels,
                    cudaStream_t stream, bool sync_check);

// select_large_k over flat scores: query q's candidates are base rows j < n scored by row q of
// tile ([q * ld + j], ld a multiple of 4, 16-byte aligned rows) holding -2 q.x_j (L2; completed
// with base_norms, readable up to round_up(n, 4)) or -q.x_j (IP). Rows whose bit in `allowed`
// (null: every row) is clear are not candidates. Labels are rows mapped through ids.
void select_large_k_from_scores(const float* tile, std::int64_t ld, int nq, std::int64_t n,
                                const float* base_norms, const std::uint32_t* allowed, int k,
                                Metric metric, const float* qnorms, const std::int64_t* ids,
                                float* distances, std::int64_t* labels, cudaStream_t stream,
                                bool sync_check);

}  // namespace knnx::cuda
