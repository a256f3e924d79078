// The fused fast mode's kernels (fused_fast.hpp): the strided sample gather, the per-query
// threshold, and the TF32 tensor-core candidate kernel whose epilogue filters scores on chip.
#include <cuda_fp16.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/common/cp_async.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/flat/fused_candidates.cuh"
#include "cuda/flat/fused_fast.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/radix_key.cuh"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

using namespace fused;  // NOLINT(google-build-using-namespace): the kernels' shared pieces

// Block tile 128 (queries, M) x 128 (rows, N), K staged 32 floats at a time in two buffers.
// Eight warps as 2 (M) x 4 (N), each 64 x 32: 4 x 4 mma tiles of m16n8k8, 64 accumulators a
// thread. Shared rows are padded to 36 floats (144 bytes; resident query rows to 132, 528
// bytes): 16-byte aligned for cp.async, and the fragment loads below (8 rows g x 4 columns t a
// warp: bank 4g + t + c, as 36 and 132 are 4 mod 32) hit 32 distinct banks.
// With dp <= 128 (kResidentA) the block's 128 queries are staged whole once and only the rows
// stream, halving what each tile reads from L2.
constexpr int kBM = kFusedTileQueries;
constexpr int kBN = kFusedTileRows;
constexpr int kBK = 32;
constexpr int kLd = kBK + 4;
constexpr int kResidentMaxDp = 128;
constexpr int kLdResident = kResidentMaxDp + 4;
constexpr int kThreads = kFusedBlockThreads;
constexpr int kTileFloats = kBM * kLd;  // one operand's stage (kBM == kBN)
static_assert(kBM == kBN, "queries and rows share the staging shape");

// Streaming: two stages of queries and rows (73,728 bytes); resident: the queries (67,584) and
// two stages of rows (36,864); both plus the tile's thresholds and query scales (1,024) and the
// staged candidates (5,120 and a count). Two blocks a multiprocessor fit sm_90's 228 KiB either
// way; registers (<= 128 a thread) bound it.
constexpr int kResidentFloats = kBM * kLdResident;  // the block's queries, all columns
template <bool kResidentA>
constexpr int kOperandFloats = kResidentA ? kResidentFloats + 2 * kTileFloats : 4 * kTileFloats;
template <bool kResidentA>
constexpr std::size_t kCandidateSmem =
    kOperandFloats<kResidentA> * sizeof(float) + kCandidateStageBytes;
static_assert(2 * (kCandidateSmem<true> + 1024) <= 228 * 1024, "two blocks a multiprocessor");

// Round to nearest tf32 (cvt.rna), so each operand's relative error is at most 2^-11.
__device__ __forceinline__ std::uint32_t to_tf32(float x) {
  std::uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// A query operand from shared memory: resident queries are rounded to tf32 in place once.
template <bool kRounded>
__device__ __forceinline__ std::uint32_t operand_a(float x) {
  if constexpr (kRounded) {
    return __float_as_uint(x);
  } else {
    return to_tf32(x);
  }
}

// D = A B + D, m16n8k8, A row-major tf32, B column-major tf32, fp32 accumulators. Fragment
// layout (PTX ISA, mma.m16n8k8 .tf32), g = lane / 4, t = lane % 4:
//   a0 (row g, col t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4)
//   b0 (k t, col g), b1 (k t + 4, col g)
//   c0 (row g, col 2t), c1 (g, 2t + 1), c2 (g + 8, 2t), c3 (g + 8, 2t + 1)
__device__ __forceinline__ void mma_tf32(float (&c)[4], const std::uint32_t (&a)[4],
                                         const std::uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Stages columns [k0, k0 + 32) of 128 rows of src from row r0 (stride dp; rows at or past
// `rows` and columns past dp, a multiple of 4, zero-filled) at dst (stride ld): 1,024 float4s,
// four a thread; a quarter warp writes one 128-byte row segment (no bank conflict).
__device__ __forceinline__ void load_rows(float* dst, int ld, const float* src, std::int64_t r0,
                                          std::int64_t rows, int dp, int k0) {
#pragma unroll
  for (int u = 0; u < kBN * kBK / 4 / kThreads; ++u) {
    const int i = u * kThreads + threadIdx.x;
    const int r = i >> 3;
    const int c = (i & 7) * 4;
    const bool ok = r0 + r < rows && k0 + c < dp;
    cp_async16(dst + r * ld + c, ok ? src + (r0 + r) * dp + k0 + c : src, ok);
  }
}

// A thread's place in the block tile: its lane, g = lane / 4 and t = lane % 4 of the mma
// fragment layouts, and its warp's 64 x 32 sub-tile (eight warps as 2 (queries) x 4 (rows)).
struct WarpPlace {
  int lane;
  int g;
  int t;
  int wm;  // the warp's first query in the tile
  int wn;  // the warp's first row in the tile
};
__device__ __forceinline__ WarpPlace warp_place() {
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  return {lane, lane >> 2, lane & 3, (warp >> 2) * 64, (warp & 3) * 32};
}

// A thread's accumulators of its warp's 64 x 32 sub-tile: [m16 tile][n8 tile][element].
using WarpAccumulators = float[4][4][4];
__device__ __forceinline__ void zero(WarpAccumulators& acc) {
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.0f;
}

// Candidate kernel (launch_fused_candidates). Block (x, y): queries [128 x, 128 x + 128) against
// rows [y rows_per_split, ...), 128 at a time. One pipeline over (row tile, k step) pairs:
// stage it + 1 is loaded (cp.async) while stage it is multiplied, and after a tile's last k
// step the epilogue filters its 64 scores a thread against the queries' thresholds.
template <Metric M, bool kResidentA>
__global__ void __launch_bounds__(kThreads, 2)
    fused_candidates_kernel(const float* __restrict__ base, const float* __restrict__ norms,
                            std::int64_t n, int dp, const float* __restrict__ queries, int nq,
                            const float* __restrict__ thr, const float* __restrict__ qscale,
                            int cap, std::int64_t rows_per_split, int* __restrict__ counts,
                            std::uint32_t* __restrict__ keys, std::int32_t* __restrict__ rows) {
  extern __shared__ __align__(16) float fsmem[];
  constexpr int kLdA = kResidentA ? kLdResident : kLd;
  // Streaming: stage s holds queries at s * 2 tiles and rows right after them. Resident: the
  // queries first, then stage s of rows.
  constexpr int kStageStride = kResidentA ? kTileFloats : 2 * kTileFloats;
  float* const s_queries = fsmem;
  float* const s_rows = kResidentA ? fsmem + kResidentFloats : fsmem + kTileFloats;
  const int q0 = blockIdx.x * kBM;
  BlockCandidates<> cand(fsmem + kOperandFloats<kResidentA>, q0);
  const std::int64_t row_begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_split;
  const std::int64_t row_end = min(n, row_begin + rows_per_split);
  if (row_begin >= row_end) return;  // block-uniform
  cand.init(nq, thr, qscale);        // visible after the loop's first barrier

  const auto [lane, g, t, wm, wn] = warp_place();

  const int k_steps = (dp + kBK - 1) / kBK;
  const std::int64_t n_tiles = (row_end - row_begin + kBN - 1) / kBN;
  const std::int64_t total = n_tiles * k_steps;
  const float* const qtile = queries + static_cast<std::int64_t>(q0) * dp;
  const int q_rows = nq - q0;
  WarpAccumulators acc;

  // The first cp.async group: stage 0 (and, resident, every column of the queries).
  if constexpr (kResidentA) {
    for (int kt = 0; kt < k_steps; ++kt) {
      load_rows(s_queries + kt * kBK, kLdResident, qtile, 0, q_rows, dp, kt * kBK);
    }
  } else {
    load_rows(s_queries, kLd, qtile, 0, q_rows, dp, 0);
  }
  load_rows(s_rows, kLd, base, row_begin, row_end, dp, 0);
  cp_async_commit();
  // (tile, kt) of iteration it, stepped rather than divided out (64-bit division is a long
  // instruction sequence).
  int kt = 0;
  std::int64_t tile = 0;
  for (std::int64_t it = 0; it < total; ++it) {
    const bool tile_ends = kt == k_steps - 1;
    const int nkt = tile_ends ? 0 : kt + 1;
    const std::int64_t ntile = tile_ends ? tile + 1 : tile;
    if (it + 1 < total) {
      // The next stage's buffers were last read in iteration it - 1, which ended in a barrier.
      const int next = static_cast<int>((it + 1) & 1);
      if constexpr (!kResidentA) {
        load_rows(s_queries + next * kStageStride, kLd, qtile, 0, q_rows, dp, nkt * kBK);
      }
      load_rows(s_rows + next * kStageStride, kLd, base, row_begin + ntile * kBN, row_end, dp,
                nkt * kBK);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (kResidentA) {
      if (it == 0) {  // block-uniform: the queries have landed; round them to tf32 once
        const int cols = k_steps * kBK;  // the staged columns
        for (int e = threadIdx.x; e < kBM * cols; e += kThreads) {
          float* v = s_queries + (e / cols) * kLdResident + e % cols;
          *v = __uint_as_float(to_tf32(*v));
        }
        __syncthreads();
      }
    }
    if (kt == 0) zero(acc);
    const int cur = static_cast<int>(it & 1);
    const float* sA = kResidentA ? s_queries + kt * kBK : s_queries + cur * kStageStride;
    const float* sB = s_rows + cur * kStageStride;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      std::uint32_t a[4][4];
      std::uint32_t b[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const float* pa = sA + (wm + mi * 16 + g) * kLdA + kk + t;
        a[mi][0] = operand_a<kResidentA>(pa[0]);
        a[mi][1] = operand_a<kResidentA>(pa[8 * kLdA]);
        a[mi][2] = operand_a<kResidentA>(pa[4]);
        a[mi][3] = operand_a<kResidentA>(pa[8 * kLdA + 4]);
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const float* pb = sB + (wn + ni * 8 + g) * kLd + kk + t;
        b[ni][0] = to_tf32(pb[0]);
        b[ni][1] = to_tf32(pb[4]);
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_tf32(acc[mi][ni], a[mi], b[ni]);
    }
    if (kt == k_steps - 1) {
      // Epilogue: this thread's 8 rows (columns 2t, 2t + 1 of each n8 tile) and 8 queries
      // (g, g + 8 of each m16 tile). A candidate takes a slot of the block's stage by a
      // shared-memory atomic (tens of cycles).
      const std::int64_t r0 = row_begin + tile * kBN + wn;
      float xsq[4][2];
      float xn[4][2];
      bool row_ok[4][2];
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const std::int64_t row = r0 + ni * 8 + 2 * t + j;
          row_ok[ni][j] = row < row_end;
          const float v = row_ok[ni][j] ? __ldg(norms + row) : 0.0f;
          xsq[ni][j] = v;
          xn[ni][j] = sqrtf(fmaxf(v, 0.0f));
        }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int ql = wm + mi * 16 + g + 8 * h;
          const bool q_in = q0 + ql < nq;
          const float qthr = cand.thr[ql];
          const float qs = cand.qscale[ql];
#pragma unroll
          for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int j = 0; j < 2; ++j) {
              const float dot = acc[mi][ni][2 * h + j];
              const float score = kIsL2<M> ? xsq[ni][j] - 2.0f * dot : -dot;
              if (q_in && row_ok[ni][j] && score <= qthr + qs * xn[ni][j]) {
                cand.add(ql, score, static_cast<std::int32_t>(r0 + ni * 8 + 2 * t + j), cap, counts,
                         keys, rows);
              }
            }
        }
    }
    __syncthreads();  // every warp is done with this stage (and its candidates are staged)
    if (tile_ends && cand.half_full()) {  // block-uniform: read after the barrier
      cand.flush(cap, counts, keys, rows);
    }
    kt = nkt;
    tile = ntile;
  }
  cand.flush(cap, counts, keys, rows);
}

// ---- FP16 operands (dp <= kResidentMaxDp) -------------------------------------------------
// Queries and rows are scaled by powers of two (fused_fp16_scale) and rounded to fp16 (relative
// error 2^-11, as tf32's), so mma.m16n8k16 does twice tf32's work an instruction, and ldmatrix
// loads a whole fragment in one instruction with no conversion in the inner loop. Rows are read
// as float32, converted and stored to shared memory one 16-column unit at a time, each unit of
// the next tile requested before the current tile's unit is multiplied and stored after it, so
// that a tile costs one barrier. Shared rows are 136 halves (272 bytes): 16-byte aligned, and the
// 8 rows an ldmatrix phase reads start 16 bytes apart modulo 128 (no bank conflict).
constexpr int kLdHalf = kResidentMaxDp + 8;
constexpr int kHalfTileElems = kBM * kLdHalf;
// Queries, two stages of rows, the tile's thresholds and query scales, the staged candidates.
constexpr std::size_t kCandidateSmemFp16 =
    3 * kHalfTileElems * sizeof(__half) + kCandidateStageBytes;
static_assert(2 * (kCandidateSmemFp16 + 1024) <= 228 * 1024, "two blocks a multiprocessor");

// D = A B + D, m16n8k16, fp16 operands (A row-major, B column-major), fp32 accumulators; the
// accumulator layout is m16n8k8's (mma_tf32 above).
__device__ __forceinline__ void mma_f16(float (&c)[4], const std::uint32_t (&a)[4],
                                        std::uint32_t b0, std::uint32_t b1) {
  // Not volatile: a register-only instruction the compiler may schedule between the loads.
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const __half* smem) {
  const auto at = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(at));
}

// One 16-column unit of a 128-row tile: thread i holds columns [c, c + 8) of row i / 2 (c =
// k0 + 8 (i % 2)), as two float4s (zero past `rows` or dp, a multiple of 4).
struct HalfUnit {
  float4 v[2];
};
__device__ __forceinline__ HalfUnit load_unit(const float* src, std::int64_t r0, std::int64_t rows,
                                              int dp, int k0) {
  const int r = threadIdx.x >> 1;
  const int c = k0 + (threadIdx.x & 1) * 8;
  HalfUnit u;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const bool ok = r0 + r < rows && c + 4 * h < dp;
    u.v[h] = ok ? __ldg(reinterpret_cast<const float4*>(src + (r0 + r) * dp + c + 4 * h))
                : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  return u;
}
__device__ __forceinline__ void store_unit(__half* dst, const HalfUnit& u, float scale, int k0) {
  const int r = threadIdx.x >> 1;
  const int c = k0 + (threadIdx.x & 1) * 8;
  *reinterpret_cast<uint4*>(dst + r * kLdHalf + c) = pack_scaled_half8(u.v[0], u.v[1], scale);
}

// The FP16 candidate kernel: launch_fused_candidates' contract, dp <= kResidentMaxDp, scales
// from max_norm2 ([0] queries, [1] rows; squared norms' bits).
template <Metric M>
__global__ void __launch_bounds__(kThreads, 2)
    fused_candidates_fp16_kernel(const float* __restrict__ base, const float* __restrict__ norms,
                                 std::int64_t n, int dp, const float* __restrict__ queries, int nq,
                                 const float* __restrict__ thr, const float* __restrict__ qscale,
                                 const std::uint32_t* __restrict__ max_norm2, int cap,
                                 std::int64_t rows_per_split, int* __restrict__ counts,
                                 std::uint32_t* __restrict__ keys,
                                 std::int32_t* __restrict__ rows) {
  extern __shared__ __align__(16) unsigned char hsmem[];
  __half* const s_queries = reinterpret_cast<__half*>(hsmem);
  __half* const s_rows = s_queries + kHalfTileElems;  // stage s at s_rows + s x kHalfTileElems
  const int q0 = blockIdx.x * kBM;
  BlockCandidates<> cand(reinterpret_cast<float*>(s_queries + 3 * kHalfTileElems), q0);
  const std::int64_t row_begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_split;
  const std::int64_t row_end = min(n, row_begin + rows_per_split);
  if (row_begin >= row_end) return;  // block-uniform
  const float scale_q = fp16_scale(max_norm2[0]);
  const float scale_x = fp16_scale(max_norm2[1]);
  const float dot_coef = fp16_dot_coef<M>(max_norm2);
  cand.init(nq, thr, qscale);

  const auto [lane, g, t, wm, wn] = warp_place();
  const int k_units = (dp + 31) / 32 * 2;  // even: the loop below takes units in pairs
  const std::int64_t n_tiles = (row_end - row_begin + kBN - 1) / kBN;
  const float* const qtile = queries + static_cast<std::int64_t>(q0) * dp;

  for (int u = 0; u < k_units; ++u) {
    store_unit(s_queries, load_unit(qtile, 0, nq - q0, dp, 16 * u), scale_q, 16 * u);
    store_unit(s_rows, load_unit(base, row_begin, row_end, dp, 16 * u), scale_x, 16 * u);
  }
  __syncthreads();

  // ldmatrix addresses: A, rows wm + 16 mi + (lane % 16), columns 8 (lane / 16); B, the two n8
  // tiles of pair p: rows wn + 16 p + 8 (lane / 16) + lane % 8, columns 8 ((lane / 8) % 2).
  const __half* const a_at = s_queries + (wm + (lane & 15)) * kLdHalf + (lane >> 4) * 8;
  const int b_off = (wn + ((lane >> 4) << 3) + (lane & 7)) * kLdHalf + ((lane >> 3) & 1) * 8;
  // The next tile's units travel in registers: unit u is requested two units before it is
  // stored (even units in pending[0], odd in pending[1]), and a tile's first two while the
  // tile before it is still multiplied, so that its epilogue and barrier hide their latency.
  HalfUnit pending[2];
  const auto request = [&](int slot, std::int64_t tile, int u) {
    if (tile < n_tiles)
      pending[slot] = load_unit(base, row_begin + tile * kBN, row_end, dp, 16 * u);
  };
  request(0, 1, 0);
  request(1, 1, 1);
  WarpAccumulators acc;
  for (std::int64_t tile = 0; tile < n_tiles; ++tile) {
    const int cur = static_cast<int>(tile & 1);
    const bool has_next = tile + 1 < n_tiles;
    __half* const next_rows = s_rows + (cur ^ 1) * kHalfTileElems;
    const __half* const b_at = s_rows + cur * kHalfTileElems + b_off;
    zero(acc);
    for (int u0 = 0; u0 < k_units; u0 += 2) {
#pragma unroll
      for (int slot = 0; slot < 2; ++slot) {
        const int u = u0 + slot;
        // The fragments' loads (volatile, so in this order) run one m16 tile ahead of its mma.
        std::uint32_t b[2][4];
        std::uint32_t a[2][4];
#pragma unroll
        for (int p = 0; p < 2; ++p) ldmatrix_x4(b[p], b_at + p * 16 * kLdHalf + 16 * u);
        ldmatrix_x4(a[0], a_at + 16 * u);
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          if (mi + 1 < 4) ldmatrix_x4(a[(mi + 1) & 1], a_at + (mi + 1) * 16 * kLdHalf + 16 * u);
#pragma unroll
          for (int ni = 0; ni < 4; ++ni) {
            mma_f16(acc[mi][ni], a[mi & 1], b[ni >> 1][2 * (ni & 1)], b[ni >> 1][2 * (ni & 1) + 1]);
          }
        }
        // The other stage was last read before the previous tile's closing barrier.
        if (has_next) store_unit(next_rows, pending[slot], scale_x, 16 * u);
        if (u + 2 < k_units) {
          request(slot, tile + 1, u + 2);
        } else {
          request(slot, tile + 2, u + 2 - k_units);
        }
      }
    }

    // Epilogue: this thread's 8 rows (columns 2t, 2t + 1 of each n8 tile) and 8 queries (g,
    // g + 8 of each m16 tile).
    const std::int64_t r0 = row_begin + tile * kBN + wn;
    float xsq[4][2];
    float xsq_max = 0.0f;
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const std::int64_t row = r0 + ni * 8 + 2 * t + j;
        xsq[ni][j] = row < row_end ? __ldg(norms + row) : 0.0f;
        xsq_max = fmaxf(xsq_max, xsq[ni][j]);
      }
    const float xn_max = sqrtf(xsq_max);
    // A score passes the query's threshold widened by the largest margin of the thread's rows
    // (one compare) about once in 600 scores at k 10; only then are its own margin and row checked.
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int ql = wm + mi * 16 + g + 8 * h;
        const float qthr = cand.thr[ql];
        const float qs = cand.qscale[ql];
        const float wide = qthr + qs * xn_max;
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
          for (int j = 0; j < 2; ++j) {
            const float score = kIsL2<M> ? fmaf(dot_coef, acc[mi][ni][2 * h + j], xsq[ni][j])
                                         : dot_coef * acc[mi][ni][2 * h + j];
            if (score <= wide) {
              const std::int64_t row = r0 + ni * 8 + 2 * t + j;
              if (q0 + ql < nq && row < row_end &&
                  score <= qthr + qs * sqrtf(fmaxf(xsq[ni][j], 0.0f))) {
                cand.add(ql, score, static_cast<std::int32_t>(row), cap, counts, keys, rows);
              }
            }
          }
      }
    __syncthreads();         // the next stage is stored, this one read, and the candidates staged
    if (cand.half_full()) {  // block-uniform: read after the barrier
      cand.flush(cap, counts, keys, rows);
    }
  }
  cand.flush(cap, counts, keys, rows);
}

// max_norm2[0] = max(max_norm2[0], bits of v[i]) over i < n (v >= 0 or NaN: non-negative floats
// order as their bits; NaN and +inf order above every finite value).
__global__ void max_norm2_kernel(const float* __restrict__ v, std::int64_t n,
                                 std::uint32_t* __restrict__ max_norm2) {
  std::uint32_t m = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    m = max(m, __float_as_uint(fmaxf(v[i], 0.0f)) | (isnan(v[i]) ? 0x7FC00000u : 0u));
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) m = max(m, __shfl_xor_sync(0xFFFFFFFFu, m, off));
  if ((threadIdx.x & 31) == 0 && m != 0) atomicMax(max_norm2, m);
}

__global__ void gather_strided_kernel(const float4* __restrict__ src,
                                      const float* __restrict__ norms, int dp4, std::int64_t stride,
                                      std::int64_t count, float4* __restrict__ dst,
                                      float* __restrict__ dst_norms) {
  for (std::int64_t i = blockIdx.x; i < count; i += gridDim.x) {
    const std::int64_t from = i * stride;
    for (int c = threadIdx.x; c < dp4; c += blockDim.x) dst[i * dp4 + c] = src[from * dp4 + c];
    if (threadIdx.x == 0) dst_norms[i] = norms[from];
  }
}

__global__ void fused_threshold_kernel(
    const std::uint32_t* __restrict__ keys, const std::int32_t* __restrict__ rows, int nq, int kept,
    const float* __restrict__ qnorm2, const float* __restrict__ sample_norms, float coef,
    float sample_eps, const std::uint32_t* __restrict__ max_norm2, int dp, float abs_coef,
    float* __restrict__ thr, float* __restrict__ qscale) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  const std::uint32_t* k = keys + static_cast<std::int64_t>(q) * kept;
  const std::int32_t* r = rows + static_cast<std::int64_t>(q) * kept;
  const float qn = sqrtf(fmaxf(qnorm2[q], 0.0f));
  qscale[q] = coef * qn;
  // Each kept row's true score is at most its score plus its own error bound: the largest of
  // those bounds k' true scores (the worst score's row need not have the largest norm).
  float bound = -INFINITY;
  for (int i = 0; i < kept; ++i) {
    if (r[i] < 0) {  // fewer than k' rows kept: no bound
      thr[q] = INFINITY;
      return;
    }
    const float xn = sqrtf(fmaxf(sample_norms[r[i]], 0.0f));
    const float row_bound = key_to_float(k[i]) + sample_eps * qn * xn;
    if (isnan(row_bound)) {  // no bound: every row a candidate (the query overflows to exact)
      thr[q] = INFINITY;
      return;
    }
    bound = fmaxf(bound, row_bound);
  }
  if (max_norm2 != nullptr) {
    // FP16 operands: a coordinate below fp16's normal range is rounded to a multiple of 2^-24
    // (in scaled units), an absolute error eps = 2^-25 / scale, which the relative bound
    // (qscale) does not cover. Over dp terms it adds at most sqrt(dp) (|q| eps_x + |x| eps_q) +
    // dp eps_q eps_x, with |x| at most the largest row norm. A non-finite largest norm leaves no
    // bound: every row is a candidate (and the query overflows to the exact search).
    constexpr std::uint32_t kInfBits = 0x7F800000u;
    if (max_norm2[0] >= kInfBits || max_norm2[1] >= kInfBits) {
      bound = INFINITY;
    } else {
      const float eps_q = ldexpf(1.0f, -25) / fp16_scale(max_norm2[0]);
      const float eps_x = ldexpf(1.0f, -25) / fp16_scale(max_norm2[1]);
      const float x_max = sqrtf(__uint_as_float(max_norm2[1]));
      const float terms = static_cast<float>(dp);
      bound += abs_coef * (sqrtf(terms) * (qn * eps_x + x_max * eps_q) + terms * eps_q * eps_x);
    }
  }
  thr[q] = bound;
}

}  // namespace

FusedFastShape fused_fast_shape(std::int64_t n, int kept, int cap_override) {
  FusedFastShape s{};
  s.sample = std::min<std::int64_t>(n, std::max<std::int64_t>(16384, 64LL * kept));
  s.sample = std::max<std::int64_t>(s.sample, 1);
  s.stride = std::max<std::int64_t>(1, n / s.sample);
  const std::int64_t expected = (static_cast<std::int64_t>(kept) * n + s.sample - 1) / s.sample;
  std::int64_t cap = std::max<std::int64_t>(4 * expected, 2LL * kept);
  cap = std::min<std::int64_t>(cap, std::max<std::int64_t>(n, kept));
  cap = (cap + 31) / 32 * 32;
  if (cap_override > 0) cap = cap_override;
  s.cap = static_cast<int>(std::min<std::int64_t>(cap, 1 << 24));
  return s;
}

float fused_margin_coef(Metric metric, int dp) {
  // |tf32(q).tf32(x) - q.x| <= (2^-10 + 2^-22) |q||x|, plus float32 summation over dp terms
  // (dp 2^-24 |q||x|); L2 scores carry -2 q.x.
  const double dot = std::ldexp(1.0, -10) + std::ldexp(1.0, -22) + dp * std::ldexp(1.0, -24);
  return static_cast<float>(2.0 * (metric == Metric::L2 ? 2.0 : 1.0) * dot);
}

float fused_sample_eps(Metric metric, int dp) {
  // x = hi + lo + r with |r| <= 2^-20 |x| (each part truncated to tf32 at worst): the dropped
  // lo.lo and the residuals' products are at most 3 x 2^-20 < 2^-18 of |q_i x_i|; the tf32
  // products are exact in float32, and their sum over 3 dp terms loses at most 3 dp 2^-23 of
  // sum |q_i x_i| <= |q| |x|. Doubled for margin; L2 scores carry -2 q.x.
  const double dot = std::ldexp(1.0, -18) + 3.0 * (dp + 8) * std::ldexp(1.0, -23);
  return static_cast<float>(2.0 * (metric == Metric::L2 ? 2.0 : 1.0) * dot);
}

void launch_gather_strided(const float* src, const float* norms, int dp, std::int64_t stride,
                           std::int64_t count, float* dst, float* dst_norms, cudaStream_t stream,
                           bool sync_check) {
  if (count == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(count, 65535));
  gather_strided_kernel<<<blocks, 128, 0, stream>>>(reinterpret_cast<const float4*>(src), norms,
                                                    dp / 4, stride, count,
                                                    reinterpret_cast<float4*>(dst), dst_norms);
  KNNX_CHECK_LAUNCH(stream, sync_check, "gather_strided_kernel");
}

void launch_fused_threshold(const std::uint32_t* keys, const std::int32_t* rows, int nq, int kept,
                            const float* qnorm2, const float* sample_norms, Metric metric, int dp,
                            float sample_eps, const std::uint32_t* fp16_max_norm2, float* thr,
                            float* qscale, cudaStream_t stream, bool sync_check) {
  if (nq == 0) return;
  const float coef = fused_margin_coef(metric, dp);
  const float abs_coef = 2.0f * (metric == Metric::L2 ? 2.0f : 1.0f);  // as coef's factors
  fused_threshold_kernel<<<static_cast<unsigned>((nq + 127) / 128), 128, 0, stream>>>(
      keys, rows, nq, kept, qnorm2, sample_norms, coef, sample_eps, fp16_max_norm2, dp, abs_coef,
      thr, qscale);
  KNNX_CHECK_LAUNCH(stream, sync_check, "fused_threshold_kernel");
}

bool fused_fp16_supported(int dp) { return dp <= kResidentMaxDp; }

void launch_max_norm2(const float* norm2, std::int64_t n, std::uint32_t* max_norm2,
                      cudaStream_t stream, bool sync_check) {
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::clamp<std::int64_t>((n + 255) / 256, 1, 1024));
  max_norm2_kernel<<<blocks, 256, 0, stream>>>(norm2, n, max_norm2);
  KNNX_CHECK_LAUNCH(stream, sync_check, "max_norm2_kernel");
}

void launch_fused_candidates(const float* base, const float* norms, std::int64_t n, int dp,
                             const float* queries, int nq, const float* thr, const float* qscale,
                             Metric metric, const std::uint32_t* fp16_max_norm2, int cap,
                             int splits, int* counts, std::uint32_t* keys, std::int32_t* rows,
                             cudaStream_t stream, bool sync_check) {
  if (nq == 0 || n == 0) return;
  splits = std::clamp(splits, 1, 65535);
  const std::int64_t per = (n + splits - 1) / splits;
  const std::int64_t rows_per_split = (per + kBN - 1) / kBN * kBN;
  const auto used = static_cast<unsigned>((n + rows_per_split - 1) / rows_per_split);
  const dim3 grid(static_cast<unsigned>((nq + kBM - 1) / kBM), used);
  const auto launch = [&](auto m, auto resident) {
    constexpr bool kResident = decltype(resident)::value;
    constexpr auto kernel = &fused_candidates_kernel<decltype(m)::value, kResident>;
    constexpr std::size_t smem = kCandidateSmem<kResident>;
    set_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<grid, kThreads, smem, stream>>>(base, norms, n, dp, queries, nq, thr, qscale, cap,
                                             rows_per_split, counts, keys, rows);
  };
  dispatch_metric(metric, [&](auto m) {
    if (fp16_max_norm2 != nullptr) {
      if (!fused_fp16_supported(dp)) {
        throw Error(fmt::format("the fp16 fused kernel takes at most {} dimensions, not {}",
                                kResidentMaxDp, dp));
      }
      constexpr auto kernel = &fused_candidates_fp16_kernel<decltype(m)::value>;
      set_smem(reinterpret_cast<const void*>(kernel), kCandidateSmemFp16);
      kernel<<<grid, kThreads, kCandidateSmemFp16, stream>>>(base, norms, n, dp, queries, nq, thr,
                                                             qscale, fp16_max_norm2, cap,
                                                             rows_per_split, counts, keys, rows);
    } else if (dp <= kResidentMaxDp) {
      launch(m, std::true_type{});
    } else {
      launch(m, std::false_type{});
    }
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "fused_candidates_kernel");
}

}  // namespace knnx::cuda
