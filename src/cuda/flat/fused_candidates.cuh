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
// kStaged entries of a key, a row and the query's place in the tile, then their counts.
// Candidates are staged and appended to the queries' global buffers half a stage at a time: a
// global atomic returns after hundreds of cycles, and in the epilogue a warp would wait for one
// per candidate while its block's other warps wait at the barrier. With kGroups > 1 the stage is
// split between kGroups equal groups of consecutive threads (warpgroups), each with its own
// count, flushed by the group alone (named barrier 1 + group).
template <int kGroups = 1>
struct BlockCandidates {
  static_assert((kGroups == 1 || kGroups == 2) && kFusedBlockThreads % (32 * kGroups) == 0,
                "one or two groups of whole warps (sync_group's barrier ids)");
  static constexpr int kGroupThreads = kFusedBlockThreads / kGroups;
  static constexpr int kEntries = kStaged / kGroups;  // a group's share of the stage

  float* thr;
  float* qscale;
  std::uint32_t* key;  // this thread's group's entries and count
  std::int32_t* row;
  std::uint16_t* q;
  int* count;
  int q0;  // the block's first query

  // Byte offsets in the stage: thresholds, scales, keys, rows, query places, counts.
  static constexpr std::size_t kKeysAt = 2 * kFusedTileQueries * sizeof(float);
  static constexpr std::size_t kRowsAt = kKeysAt + kStaged * sizeof(std::uint32_t);
  static constexpr std::size_t kPlacesAt = kRowsAt + kStaged * sizeof(std::int32_t);
  static constexpr std::size_t kCountsAt = kPlacesAt + kStaged * sizeof(std::uint16_t);
  static_assert(kCountsAt + 16 == kCandidateStageBytes, "the layout kCandidateStageBytes counts");

  __device__ BlockCandidates(float* at, int first_query)
      : thr(at),
        qscale(at + kFusedTileQueries),
        key(reinterpret_cast<std::uint32_t*>(bytes(at) + kKeysAt) + group() * kEntries),
        row(reinterpret_cast<std::int32_t*>(bytes(at) + kRowsAt) + group() * kEntries),
        q(reinterpret_cast<std::uint16_t*>(bytes(at) + kPlacesAt) + group() * kEntries),
        count(reinterpret_cast<int*>(bytes(at) + kCountsAt) + group()),
        q0(first_query) {}

  static __device__ unsigned char* bytes(float* at) { return reinterpret_cast<unsigned char*>(at); }
  static __device__ int group() { return static_cast<int>(threadIdx.x) / kGroupThreads; }
  static __device__ int rank() { return static_cast<int>(threadIdx.x) % kGroupThreads; }

  // Waits for the threads of this thread's group (the block when kGroups is 1). Barrier ids are
  // immediates: a register id would reserve all 16 of the block's barriers, fewer blocks a
  // multiprocessor.
  static __device__ void sync_group() {
    if constexpr (kGroups == 1) {
      __syncthreads();
    } else {
      if (group() == 0) {
        asm volatile("bar.sync 1, %0;\n" ::"n"(kGroupThreads) : "memory");
      } else {
        asm volatile("bar.sync 2, %0;\n" ::"n"(kGroupThreads) : "memory");
      }
    }
  }

  // The thresholds and scales of queries [q0, q0 + kFusedTileQueries) (of nq), and empty
  // stages; visible to the block after its next barrier.
  __device__ void init(int nq, const float* __restrict__ thr_in,
                       const float* __restrict__ qscale_in) {
    for (int i = threadIdx.x; i < kFusedTileQueries; i += kFusedBlockThreads) {
      const bool in = q0 + i < nq;
      thr[i] = in ? thr_in[q0 + i] : -INFINITY;  // no row passes for a missing query
      qscale[i] = in ? qscale_in[q0 + i] : 0.0f;
    }
    if (rank() == 0) *count = 0;
  }

  // Whether the group's stage is half full; uniform across the group after sync_group.
  __device__ bool half_full() const { return *count >= kEntries / 2; }

  // Stages (score, row) for the tile's query ql, or appends it to the global buffer when the
  // stage is full (a shared-memory atomic takes tens of cycles).
  __device__ __forceinline__ void add(int ql, float score, std::int32_t r, int cap, int* counts,
                                      std::uint32_t* keys, std::int32_t* rows) {
    const int slot = atomicAdd(count, 1);
    if (slot < kEntries) {
      key[slot] = float_to_key(score);
      row[slot] = r;
      q[slot] = static_cast<std::uint16_t>(ql);
    } else {
      append_candidate(q0 + ql, float_to_key(score), r, cap, counts, keys, rows);
    }
  }

  // The group's staged entries, appended to the global buffers by its threads at once, then its
  // stage emptied. Every thread of the group calls it (it has barriers).
  __device__ void flush(int cap, int* counts, std::uint32_t* keys, std::int32_t* rows) {
    const int staged = min(*count, kEntries);
    for (int i = rank(); i < staged; i += kGroupThreads) {
      append_candidate(q0 + q[i], key[i], row[i], cap, counts, keys, rows);
    }
    sync_group();  // every entry is read before the stage is reused
    if (rank() == 0) *count = 0;
    sync_group();
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
