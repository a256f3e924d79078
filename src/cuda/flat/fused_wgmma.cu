// The fused fast mode's candidate kernel on warpgroup MMA (fused_wgmma.hpp). Built for sm_90a
// alone: wgmma is an arch-specific instruction.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/common/cp_async.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/flat/fused_candidates.cuh"
#include "cuda/flat/fused_wgmma.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/launch.hpp"
#include "knnx/error.hpp"

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "fused_wgmma.cu needs sm_90a machine code (wgmma); CMakeLists.txt builds it for that alone"
#endif

namespace knnx::cuda {
namespace {

using namespace fused;  // NOLINT(google-build-using-namespace): the kernels' shared pieces

// A block: two warpgroups, 128 queries (64 each: wgmma's M) against tiles of 128 rows
// (wgmma's N), k steps of 16 halves. Operands sit in shared memory in the 128-byte swizzled
// K-major layout wgmma reads: K blocks of 64 halves, each [128 rows][128 bytes] with the 16-byte
// chunk c of row r at chunk c ^ (r % 8), from 1,024-byte aligned bases.
constexpr int kThreads = kFusedBlockThreads;
constexpr int kRows = kFusedTileRows;
constexpr int kQueries = kFusedTileQueries;
static_assert(kRows == 128 && kQueries == 128 && kThreads == 256, "two warpgroups of m64n128");
constexpr int kWarpgroups = kThreads / 128;
constexpr int kMaxDk = 128;  // halves a row: two K blocks
constexpr int kKBlockBytes = 128 * 128;
constexpr int kOperandBytes = (kMaxDk / 64) * kKBlockBytes;  // 32 KB: queries, or a row tile
constexpr int kStages = 2;
// Row tiles' terms, in a ring of their own: the epilogue of tile t reads them after its
// warpgroup has released the tile's rows (below), while the other warpgroup may already be
// copying tile t + 2 into them.
constexpr int kTermSlots = 4;
// The queries, two row tiles, the terms' ring, the candidate stage, the stages' barriers (full
// and empty, 8 bytes each), and 1 KB to align.
constexpr std::size_t kSmemBytes = 1024 + (1 + kStages) * kOperandBytes +
                                   kTermSlots * kRows * sizeof(float2) + kCandidateStageBytes +
                                   2 * kStages * sizeof(std::uint64_t);
static_assert(2 * (kSmemBytes + 1024) <= 228 * 1024, "two blocks a multiprocessor");
// Below this expected share of scores passing, the epilogue's second step is a call
// (stage_pair_candidates_call). 1M x 128, nq 10,000 on an H100 (bench/NOTES.md, 2026-12-07 (4)):
// at k 100 (one score in 82) the search took 26.2 ms inline against 31.6 with the call; at k 10
// (one in 630) and 32 (one in 256) the call removed the instruction-fetch stalls of 16 inline
// copies (a third of all stalls).
constexpr double kCallStepMaxRate = 1.0 / 200;

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// Byte offset of 16-byte chunk c (8 halves) of row r in an operand (swizzled, as above).
__device__ __forceinline__ int swizzled(int r, int c) {
  return (c >> 3) * kKBlockBytes + r * 128 + (((c & 7) ^ (r & 7)) << 4);
}

// Shared-memory matrix descriptor (PTX ISA, wgmma): start address, leading byte offset (unused
// for swizzled K-major operands), stride byte offset 1,024 (8 rows of 128 bytes), 128-byte
// swizzle. Addresses and offsets are in 16-byte units.
__device__ __forceinline__ std::uint64_t descriptor(std::uint32_t address) {
  return static_cast<std::uint64_t>((address & 0x3FFFF) >> 4) | (std::uint64_t{1} << 16) |
         (std::uint64_t{1024 >> 4} << 32) | (std::uint64_t{1} << 62);
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_wait_all() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Writes by this thread's generic proxy (st.shared, cp.async) become visible to the async proxy
// the tensor cores read through; a barrier then publishes them to the warpgroups.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// Shared-memory barriers (mbarrier, PTX ISA): an arrival releases the thread's earlier writes, a
// completed wait acquires those of every arrival of the phase it waited for.
__device__ __forceinline__ void barrier_init(std::uint64_t* bar, int arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_address(bar)), "r"(arrivals)
               : "memory");
}
__device__ __forceinline__ void barrier_arrive(std::uint64_t* bar) {
  asm volatile(
      "{\n"
      ".reg .b64 state;\n"
      "mbarrier.arrive.shared::cta.b64 state, [%0];\n"
      "}\n" ::"r"(smem_address(bar))
      : "memory");
}
// Waits until the phase of parity `parity` (0 for the first, 1 for the second, ...) completes.
__device__ __forceinline__ void barrier_wait(std::uint64_t* bar, int parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait;\n"
      "}\n" ::"r"(smem_address(bar)),
      "r"(parity)
      : "memory");
}

// Keeps the compiler from moving accumulator reads or writes across the wgmma instructions.
__device__ __forceinline__ void fence_accumulators(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// D (64 x 128, fp32) = A B^T (+ D when accumulate): A 64 x 16 and B 128 x 16, fp16, K-major in
// shared memory. Accumulator layout (PTX ISA): warp w of the warpgroup holds rows 16 w + g and
// 16 w + g + 8 (g = lane / 4); d[4 j + 2 h + c] is row 16 w + g + 8 h, column 8 j + 2 (lane % 4)
// + c.
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], std::uint64_t a, std::uint64_t b,
                                                 int accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, "
      "%37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, "
      "%55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63])
      : "l"(a), "l"(b), "r"(accumulate));
}

// Each thread stages 16-byte chunk `chunk` (threadIdx.x % 16) of rows threadIdx.x / 16 + 16 i.
constexpr int kChunksPerRow = kMaxDk / 8;
constexpr int kRowsPerPass = kThreads / kChunksPerRow;

// xh[r][8 c ..] = fp16(scale x base[r][8 c ..]) for the chunks c of dk / 8; zero past dp.
__global__ void to_half_rows_kernel(const float* __restrict__ base, std::int64_t n, int dp, int dk,
                                    const std::uint32_t* __restrict__ max_norm2,
                                    __half* __restrict__ xh) {
  const float scale = fp16_scale(max_norm2[1]);
  const int chunks = dk / 8;
  const std::int64_t total = n * chunks;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / chunks;
    const int col = static_cast<int>(i - r * chunks) * 8;
    const float* src = base + r * dp + col;
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const float4 a = col < dp ? __ldg(reinterpret_cast<const float4*>(src)) : zero;
    const float4 b = col + 4 < dp ? __ldg(reinterpret_cast<const float4*>(src + 4)) : zero;
    *reinterpret_cast<uint4*>(xh + r * dk + col) = pack_scaled_half8(a, b, scale);
  }
}

// terms[r] = (the score's term: |x|^2 (L2) or 0 (IP), +inf past n; the row's norm |x|, which
// scales its error bound), over whole tiles; tile_norms[t] = the largest |x| of tile t. A block
// (kRows threads) fills a tile at a time.
__global__ void __launch_bounds__(kRows)
    row_terms_kernel(const float* __restrict__ norms, std::int64_t n, bool l2, std::int64_t tiles,
                     float2* __restrict__ terms, float* __restrict__ tile_norms) {
  __shared__ float warp_max[kRows / 32];
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::int64_t r = t * kRows + threadIdx.x;
    const float v = r < n ? norms[r] : 0.0f;
    const float xn = sqrtf(fmaxf(v, 0.0f));
    terms[r] = make_float2(r < n ? (l2 ? v : 0.0f) : INFINITY, xn);
    float m = xn;
#pragma unroll
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
    if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
      float tile_max = warp_max[0];
      for (int w = 1; w < kRows / 32; ++w) tile_max = fmaxf(tile_max, warp_max[w]);
      tile_norms[t] = tile_max;
    }
    __syncthreads();  // warp_max is read before the next tile writes it
  }
}

// A query's first, tile-wide filter: score <= thr + qs (the tile's largest |x|), widened by
// 2^-20 of its terms' size so that no score its own row's bound admits (score - qs |x| <= thr,
// rounded once) fails it. A missing query's thr is -inf and stays so (or NaN): nothing passes.
__device__ __forceinline__ float tile_threshold(float thr, float qs, float tile_norm) {
  const float w = qs > 0.0f ? qs * tile_norm : 0.0f;
  return (thr + w) + (fabsf(thr) + w) * 0x1p-20f;
}

// The epilogue's second step (fused_candidates_wgmma_kernel): a column pair's four scores
// (score: query ql0 then ql0 + 8, columns row and row + 1), one of which passed the tile-wide
// filter, each against its own row's bound (terms: the pair's (term, |x|) twice; query: the two
// queries' thresholds, then their scales), staged in the block's candidates at `stage`.
__device__ __forceinline__ void stage_pair_candidates(float4 score, float4 terms, float4 query,
                                                      std::int64_t row, std::int64_t row_end,
                                                      int ql0, int nq, float* stage, int q0,
                                                      int cap, int* counts, std::uint32_t* keys,
                                                      std::int32_t* rows) {
  BlockCandidates<kWarpgroups> cand(stage, q0);
  const float s[4] = {score.x, score.y, score.z, score.w};
  const float norm[2] = {terms.y, terms.w};
  const float thr[2] = {query.x, query.y};
  const float qs[2] = {query.z, query.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int h = i / 2;
    const int c = i % 2;
    const int ql = ql0 + 8 * h;
    if (fmaf(-qs[h], norm[c], s[i]) <= thr[h] && row + c < row_end && q0 + ql < nq) {
      cand.add(ql, s[i], static_cast<std::int32_t>(row + c), cap, counts, keys, rows);
    }
  }
}

// The same out of line: where candidates are rare, the epilogue's straight path stays short
// enough for the instruction cache (inline, 16 copies of the step push it out: one stall in
// three waited for an instruction fetch). Where they are common, the calls cost more.
__device__ __noinline__ void stage_pair_candidates_call(float4 score, float4 terms, float4 query,
                                                        std::int64_t row, std::int64_t row_end,
                                                        int ql0, int nq, float* stage, int q0,
                                                        int cap, int* counts, std::uint32_t* keys,
                                                        std::int32_t* rows) {
  stage_pair_candidates(score, terms, query, row, row_end, ql0, nq, stage, q0, cap, counts, keys,
                        rows);
}

// launch_fused_candidates_wgmma. Block (x, y): queries [128 x, 128 x + 128) against rows
// [y rows_per_split, ...) (a multiple of 128), a tile at a time: tile t + 1 is copied (cp.async)
// while each warpgroup multiplies its 64 queries by tile t (k steps of wgmma m64n128k16), then
// filters its 64 scores a thread against the queries' thresholds.
template <Metric M, int kSteps, bool kCallStep>
__global__ void __launch_bounds__(kThreads, 2)
    fused_candidates_wgmma_kernel(const __half* __restrict__ xh, const float2* __restrict__ terms,
                                  const float* __restrict__ tile_norms, std::int64_t n, int dp,
                                  const float* __restrict__ queries, int nq,
                                  const float* __restrict__ thr, const float* __restrict__ qscale,
                                  const std::uint32_t* __restrict__ max_norm2, int cap,
                                  std::int64_t rows_per_split, int* __restrict__ counts,
                                  std::uint32_t* __restrict__ keys,
                                  std::int32_t* __restrict__ rows) {
  extern __shared__ unsigned char wsmem[];
  unsigned char* const s_queries = wsmem + ((1024 - (smem_address(wsmem) & 1023)) & 1023);
  unsigned char* const s_rows = s_queries + kOperandBytes;  // stage s at s x kOperandBytes
  float2* const s_terms = reinterpret_cast<float2*>(s_rows + kStages * kOperandBytes);
  const int q0 = blockIdx.x * kQueries;
  float* const cand_base = reinterpret_cast<float*>(s_terms + kTermSlots * kRows);
  // full[s]: every thread's copies of stage s's tile have landed; empty[s]: every thread's wgmma
  // has read it. One arrival a thread a phase; tile t is stage t % 2's phase t / 2.
  std::uint64_t* const full = reinterpret_cast<std::uint64_t*>(
      reinterpret_cast<unsigned char*>(cand_base) + kCandidateStageBytes);
  std::uint64_t* const empty = full + kStages;
  BlockCandidates<kWarpgroups> cand(cand_base, q0);
  const std::int64_t row_begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_split;
  const std::int64_t row_end = min(n, row_begin + rows_per_split);
  if (row_begin >= row_end) return;  // block-uniform
  const float scale_q = fp16_scale(max_norm2[0]);
  const float dot_coef = fp16_dot_coef<M>(max_norm2);
  cand.init(nq, thr, qscale);
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      barrier_init(full + i, kThreads);
      barrier_init(empty + i, kThreads);
    }
  }

  constexpr int kDk = 16 * kSteps;  // halves a row of xh
  constexpr int kChunks = kDk / 8;
  const int chunk = threadIdx.x % kChunksPerRow;
  const int pass_row = threadIdx.x / kChunksPerRow;  // this thread's row in each pass
  const std::int64_t n_tiles = (row_end - row_begin + kRows - 1) / kRows;

  // The block's queries, scaled and rounded to fp16 once (zero past nq and dp).
  if (chunk < kChunks) {
#pragma unroll
    for (int i = 0; i < kQueries / kRowsPerPass; ++i) {
      const int r = pass_row + kRowsPerPass * i;
      const int col = 8 * chunk;
      const float* src = queries + static_cast<std::int64_t>(q0 + r) * dp + col;
      const bool in = q0 + r < nq;
      const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      const float4 a = in && col < dp ? __ldg(reinterpret_cast<const float4*>(src)) : zero;
      const float4 b = in && col + 4 < dp ? __ldg(reinterpret_cast<const float4*>(src + 4)) : zero;
      *reinterpret_cast<uint4*>(s_queries + swizzled(r, chunk)) = pack_scaled_half8(a, b, scale_q);
    }
  }
  // Tile t's rows (zero past row_end) into stage t % 2 and its score terms into slot
  // t % kTermSlots, as one cp.async group. A pass moves the thread down kRowsPerPass rows, a
  // multiple of the swizzle's 8: same swizzle.
  static_assert(kRowsPerPass % 8 == 0, "a pass keeps a row's swizzle");
  const __half* const rows_src = xh + (row_begin + pass_row) * kDk + 8 * chunk;
  const int rows_dst = swizzled(pass_row, chunk);
  const auto load_tile = [&](std::int64_t t) {
    const std::int64_t r0 = t * kRows;  // from row_begin
    const int rows_in =
        static_cast<int>(min(static_cast<std::int64_t>(kRows), row_end - row_begin - r0));
    unsigned char* const dst = s_rows + static_cast<int>(t % kStages) * kOperandBytes + rows_dst;
    const __half* const src = rows_src + r0 * kDk;
    if (chunk < kChunks) {
#pragma unroll
      for (int i = 0; i < kRows / kRowsPerPass; ++i) {
        const bool ok = pass_row + kRowsPerPass * i < rows_in;
        cp_async16(dst + i * kRowsPerPass * 128, ok ? src + i * kRowsPerPass * kDk : xh, ok);
      }
    }
    if (threadIdx.x < kRows / 2) {  // terms holds whole tiles; two rows' terms a copy
      cp_async16(s_terms + static_cast<int>(t % kTermSlots) * kRows + 2 * threadIdx.x,
                 terms + row_begin + r0 + 2 * threadIdx.x, true);
    }
    cp_async_commit();
  };
  // This thread's copies of tile t have landed: made visible to the tensor cores (async proxy)
  // and published.
  const auto publish_tile = [&](std::int64_t t) {
    cp_async_wait<0>();
    fence_proxy_async();
    barrier_arrive(full + t % kStages);
  };

  const int warpgroup = threadIdx.x / 128;
  const int warp = (threadIdx.x / 32) % 4;  // in the warpgroup
  const int lane = threadIdx.x % 32;
  const int g = lane / 4;
  const int tq = lane % 4;
  const int ql0 = warpgroup * 64 + warp * 16 + g;  // this thread's queries: ql0, ql0 + 8
  const std::uint64_t a_desc = descriptor(smem_address(s_queries + warpgroup * 64 * 128));
  const std::uint64_t b_desc = descriptor(smem_address(s_rows));
  const float* const block_tile_norms = tile_norms + row_begin / kRows;
  fence_proxy_async();  // the queries, for the tensor cores
  __syncthreads();      // the barriers, queries and thresholds in place
  float qthr[2], qs[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    qthr[h] = cand.thr[ql0 + 8 * h];
    qs[h] = cand.qscale[ql0 + 8 * h];
  }
  load_tile(0);
  publish_tile(0);
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;

  // No block-wide barrier in the loop: a thread copies tile t + 1 into the other stage once
  // every thread's wgmma has read tile t - 1 from it, waits for every thread's copies of tile t,
  // and releases its stage as soon as its own wgmma is done. The two warpgroups thus drift up to
  // a tile apart: one multiplies while the other filters.
  for (std::int64_t t = 0; t < n_tiles; ++t) {
    const int s = static_cast<int>(t % kStages);
    const auto phase = static_cast<int>((t / kStages) & 1);
    if (t + 1 < n_tiles) {
      if (t >= 1) barrier_wait(empty + (s ^ 1), static_cast<int>(((t - 1) / kStages) & 1));
      load_tile(t + 1);
    }
    const float tile_norm = __ldg(block_tile_norms + t);  // lands while the tensor cores work
    barrier_wait(full + s, phase);

    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      // Descriptor addresses count 16 bytes: a K block is kKBlockBytes / 16 on, a k step of 16
      // halves 2 on within its 128-byte rows.
      const std::uint64_t step = (ks / 4) * (kKBlockBytes / 16) + (ks % 4) * 2;
      wgmma_m64n128k16(acc, a_desc + step, b_desc + s * (kOperandBytes / 16) + step, ks > 0);
    }
    wgmma_commit();
    wgmma_wait_all();
    fence_accumulators(acc);
    barrier_arrive(empty + s);
    if (t + 1 < n_tiles) publish_tile(t + 1);

    // Epilogue: this thread's 2 queries x 32 rows. First the tile-wide filter, two instructions
    // a score (FFMA, FSETP; one branch for four scores, rarely taken: about one score in 600 at
    // k 10); then, for the four scores of a column pair that one passed, each score against its
    // own row's bound, score - qs |x| <= thr.
    const float2* const tile_terms = s_terms + static_cast<int>(t % kTermSlots) * kRows;
    const std::int64_t r0 = row_begin + t * kRows;
    float wide[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) wide[h] = tile_threshold(qthr[h], qs[h], tile_norm);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      // Columns 8 j + 2 tq + c (c = 0, 1): their terms in one 16-byte load.
      const float4 tv = *reinterpret_cast<const float4*>(tile_terms + 8 * j + 2 * tq);
      const float2 term[2] = {make_float2(tv.x, tv.y), make_float2(tv.z, tv.w)};
      float score[4];  // [2 h + c]
#pragma unroll
      for (int i = 0; i < 4; ++i) score[i] = fmaf(dot_coef, acc[4 * j + i], term[i % 2].x);
      const bool any = (score[0] <= wide[0]) | (score[1] <= wide[0]) | (score[2] <= wide[1]) |
                       (score[3] <= wide[1]);
      if (any) {
        const float4 pair_scores = make_float4(score[0], score[1], score[2], score[3]);
        const float4 pair_queries = make_float4(qthr[0], qthr[1], qs[0], qs[1]);
        if constexpr (kCallStep) {
          stage_pair_candidates_call(pair_scores, tv, pair_queries, r0 + 8 * j + 2 * tq, row_end,
                                     ql0, nq, cand_base, q0, cap, counts, keys, rows);
        } else {
          stage_pair_candidates(pair_scores, tv, pair_queries, r0 + 8 * j + 2 * tq, row_end, ql0,
                                nq, cand_base, q0, cap, counts, keys, rows);
        }
      }
    }
    cand.sync_group();  // the warpgroup's candidates of tile t are staged
    if (cand.half_full()) cand.flush(cap, counts, keys, rows);  // uniform in the warpgroup
  }
  cand.sync_group();
  cand.flush(cap, counts, keys, rows);
}

}  // namespace

bool fused_wgmma_device(int ordinal) {
  const cudaDeviceProp& p = device_properties(ordinal);
  return p.major == 9 && p.minor == 0;
}

void launch_fused_wgmma_rows(const float* base, const float* norms, std::int64_t n, int dp,
                             Metric metric, const std::uint32_t* max_norm2,
                             const FusedWgmmaRows& shape, __half* xh, float2* terms,
                             float* tile_norms, cudaStream_t stream, bool sync_check) {
  if (n == 0) return;
  const std::int64_t chunks = n * (shape.dk / 8);
  const auto blocks =
      static_cast<unsigned>(std::clamp<std::int64_t>((chunks + 255) / 256, 1, 8192));
  to_half_rows_kernel<<<blocks, 256, 0, stream>>>(base, n, dp, shape.dk, max_norm2, xh);
  KNNX_CHECK_LAUNCH(stream, sync_check, "to_half_rows_kernel");
  row_terms_kernel<<<static_cast<unsigned>(std::min<std::int64_t>(shape.tiles, 8192)), kRows, 0,
                     stream>>>(norms, n, metric == Metric::L2, shape.tiles, terms, tile_norms);
  KNNX_CHECK_LAUNCH(stream, sync_check, "row_terms_kernel");
}

void launch_fused_candidates_wgmma(const __half* xh, const float2* terms, const float* tile_norms,
                                   const FusedWgmmaRows& shape, std::int64_t n, int dp,
                                   const float* queries, int nq, const float* thr,
                                   const float* qscale, Metric metric,
                                   const std::uint32_t* max_norm2, int cap, double candidate_rate,
                                   int splits, int* counts, std::uint32_t* keys, std::int32_t* rows,
                                   cudaStream_t stream, bool sync_check) {
  if (nq == 0 || n == 0) return;
  if (shape.dk > kMaxDk || shape.dk % 32 != 0) {
    throw Error(
        fmt::format("the wgmma fused kernel takes at most {} dimensions, not {}", kMaxDk, dp));
  }
  splits = std::clamp(splits, 1, 65535);
  const std::int64_t per = (n + splits - 1) / splits;
  const std::int64_t rows_per_split = (per + kRows - 1) / kRows * kRows;
  const auto used = static_cast<unsigned>((n + rows_per_split - 1) / rows_per_split);
  const dim3 grid(static_cast<unsigned>((nq + kQueries - 1) / kQueries), used);
  const auto launch = [&](auto m, auto steps, auto call_step) {
    constexpr auto kernel =
        &fused_candidates_wgmma_kernel<decltype(m)::value, decltype(steps)::value,
                                       decltype(call_step)::value>;
    set_smem(reinterpret_cast<const void*>(kernel), kSmemBytes);
    kernel<<<grid, kThreads, kSmemBytes, stream>>>(xh, terms, tile_norms, n, dp, queries, nq, thr,
                                                   qscale, max_norm2, cap, rows_per_split, counts,
                                                   keys, rows);
  };
  const auto with_step = [&](auto m, auto steps) {
    if (candidate_rate < kCallStepMaxRate) return launch(m, steps, std::true_type{});
    return launch(m, steps, std::false_type{});
  };
  // k steps of 16 halves, in pairs (the row copy's dk is a multiple of 32).
  dispatch_metric(metric, [&](auto m) {
    switch (shape.dk) {
      case 32:
        return with_step(m, std::integral_constant<int, 2>{});
      case 64:
        return with_step(m, std::integral_constant<int, 4>{});
      case 96:
        return with_step(m, std::integral_constant<int, 6>{});
      default:
        return with_step(m, std::integral_constant<int, 8>{});
    }
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "fused_candidates_wgmma_kernel");
}

}  // namespace knnx::cuda
