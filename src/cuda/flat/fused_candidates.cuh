// cuda/flat/fused_candidates.cuh — device pieces shared by the fused fast mode's candidate
// kernels (fused_fast.cu: mma.sync on TF32 or FP16 operands; fused_wgmma.cu: warpgroup MMA on
// FP16 operands): a block's staged candidates and the FP16 operands' power-of-two scales.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "cuda/common/metric_dispatch.hpp"
#include "cuda/flat/fused_fast.hpp"
#include "cuda/select/radix_key.cuh"

namespace knnx::cuda::fused {

// Threads of a candidate kernel's block; each block covers kFusedTileQueries queries.
inline constexpr int kFusedBlockThreads = 256;

// A block's queries' thresholds and scales and its staged candidates (BlockCandidates): kStaged
// entries of a key, a row and the query's place in the tile, then the count (16 bytes).
inline constexpr int kStaged = 512;
inline constexpr std::size_t kCandidateStageBytes =
    2 * kFusedTileQueries * sizeof(float) +
    kStaged * (sizeof(std::uint32_t) + sizeof(std::int32_t) + sizeof(std::uint16_t)) + 16;

// Appends (key, row) to query q's global buffer; entries past cap are counted, not kept.
__device__ __forceinline__ void append_candidate(int q, std::uint32_t key, std::int32_t row,
                                                 int cap, int* counts, std::uint32_t* keys,
                                                 std::int32_t* rows) {
  const int slot = atomicAdd(counts + q, 1);
  if (slot < cap) {
    const std::int64_t at = static_cast<std::int64_t>(q) * cap + slot;
    keys[at] = key;
    rows[at] = row;
  }
}

// A block's view of its 128 queries' thresholds and its staged candidates, in shared memory
// (kCandidateStageBytes from `at`, 16-byte aligned): each query's threshold and scale, then
// kStaged entries of a key, a row and the query's place in the tile, then their count.
// Candidates are staged and appended to the queries' global buffers kStaged / 2 at a time: a
// global atomic returns after hundreds of cycles, and in the epilogue a warp would wait for one
// per candidate while its block's other warps wait at the barrier.
struct BlockCandidates {
  float* thr;
  float* qscale;
  std::uint32_t* key;
  std::int32_t* row;
  std::uint16_t* q;
  int* count;
  int q0;  // the block's first query

  __device__ BlockCandidates(float* at, int first_query)
      : thr(at),
        qscale(at + kFusedTileQueries),
        key(reinterpret_cast<std::uint32_t*>(at + 2 * kFusedTileQueries)),
        row(reinterpret_cast<std::int32_t*>(key + kStaged)),
        q(reinterpret_cast<std::uint16_t*>(row + kStaged)),
        count(reinterpret_cast<int*>(q + kStaged)),
        q0(first_query) {}

  // The thresholds and scales of queries [q0, q0 + kFusedTileQueries) (of nq), and an empty stage; visible to
  // the block after its next barrier.
  __device__ void init(int nq, const float* __restrict__ thr_in,
                       const float* __restrict__ qscale_in) {
    for (int i = threadIdx.x; i < kFusedTileQueries; i += kFusedBlockThreads) {
      const bool in = q0 + i < nq;
      thr[i] = in ? thr_in[q0 + i] : -INFINITY;  // no row passes for a missing query
      qscale[i] = in ? qscale_in[q0 + i] : 0.0f;
    }
    if (threadIdx.x == 0) *count = 0;
  }

  // Stages (score, row) for the tile's query ql, or appends it to the global buffer when the
  // stage is full (a shared-memory atomic takes tens of cycles).
  __device__ __forceinline__ void add(int ql, float score, std::int32_t r, int cap, int* counts,
                                      std::uint32_t* keys, std::int32_t* rows) {
    const int slot = atomicAdd(count, 1);
    if (slot < kStaged) {
      key[slot] = float_to_key(score);
      row[slot] = r;
      q[slot] = static_cast<std::uint16_t>(ql);
    } else {
      append_candidate(q0 + ql, float_to_key(score), r, cap, counts, keys, rows);
    }
  }

  // The staged entries, appended to the global buffers by all threads at once, then the stage
  // emptied. Every thread calls it (it has barriers).
  __device__ void flush(int cap, int* counts, std::uint32_t* keys, std::int32_t* rows) {
    const int staged = min(*count, kStaged);
    for (int i = threadIdx.x; i < staged; i += kFusedBlockThreads) {
      append_candidate(q0 + q[i], key[i], row[i], cap, counts, keys, rows);
    }
    __syncthreads();  // every entry is read before the stage is reused
    if (threadIdx.x == 0) *count = 0;
    __syncthreads();
  }
};

// A power of two s with s x (largest norm) < 2^15, so no scaled coordinate reaches fp16's
// largest finite value (65,504), from the largest squared norm's bits; 1 when that is not a
// positive finite number (the threshold kernel then disables the filter). The exponent is
// clamped to +-60 so that 1 / (s_q s_x) stays a finite normal float.
__device__ __forceinline__ float fp16_scale(std::uint32_t max_norm2_bits) {
  const float m2 = __uint_as_float(max_norm2_bits);
  if (!(m2 > 0.0f) || !isfinite(m2)) return 1.0f;
  int e = 0;
  frexpf(sqrtf(m2), &e);  // largest norm < 2^e
  return ldexpf(1.0f, max(-60, min(60, 15 - e)));
}

__device__ __forceinline__ std::uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&h);
}

// The factor that turns a product of FP16 operands (queries and rows scaled by fp16_scale of
// max_norm2[0] and [1]) into its part of the score: |x|^2 - 2 q.x (L2) or -q.x; powers of two,
// so exact.
template <Metric M>
__device__ __forceinline__ float fp16_dot_coef(const std::uint32_t* max_norm2) {
  return (kIsL2<M> ? -2.0f : -1.0f) / (fp16_scale(max_norm2[0]) * fp16_scale(max_norm2[1]));
}

// Eight floats (a, then b) times scale, rounded to fp16: one 16-byte store.
__device__ __forceinline__ uint4 pack_scaled_half8(const float4& a, const float4& b, float scale) {
  uint4 packed;
  packed.x = pack_half2(a.x * scale, a.y * scale);
  packed.y = pack_half2(a.z * scale, a.w * scale);
  packed.z = pack_half2(b.x * scale, b.y * scale);
  packed.w = pack_half2(b.z * scale, b.w * scale);
  return packed;
}

}  // namespace knnx::cuda::fused
