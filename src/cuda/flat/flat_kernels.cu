// Exact flat-search kernels: fused streaming scan + select, GEMM-tile select, re-rank, and the
// 3xTF32 operand split.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "core/check.hpp"
#include "cuda/common/admitted.cuh"
#include "cuda/common/cp_async.cuh"
#include "cuda/common/distance.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/common/range_emit.cuh"
#include "cuda/flat/flat_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"
#include "cuda/select/last_block_merge.cuh"

namespace knnx::cuda {
namespace {

constexpr int kThreads = kSelectThreads;  // 256: 8 warps
constexpr int kRound = 4 * kThreads;      // candidates offered per round by select-only kernels

// The streaming scan's rows as a warp reads them: a round gives each warp 32 consecutive rows,
// scored a group of kGroupRows at a time, every lane reading one float4 of each of the group's
// rows per step (a step: the group's float4s lane, lane + 32, ... of a row: dp4 / 32 steps
// rounded up). Rows whose bit in the round's `live` mask is clear are not read.
constexpr int kGroupRows = 4;
constexpr int kWarpRows = 32;
constexpr int kGroups = kWarpRows / kGroupRows;

// x[u] = float4 i of the row at rows + u * dp4 when bit u of `live` is set and i < dp4, else 0.
__device__ __forceinline__ void load_group(float4 (&x)[kGroupRows], const float4* rows, int dp4,
                                           unsigned live, int i) {
#pragma unroll
  for (int u = 0; u < kGroupRows; ++u) {
    x[u] =
        ((live >> u) & 1u) && i < dp4 ? __ldg(rows + u * dp4 + i) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
}

// A warp's ring of units for the kRing > 0 scan: kRing slots, each a unit of kGroupRows rows x 32
// float4s (lane j's float4 of each row at slot[u * 32 + j]). The ring follows the block
// selection's shared memory (16-byte aligned).
constexpr int kWarps = kThreads / 32;
constexpr std::size_t kUnitBytes = std::size_t{kGroupRows} * 32 * sizeof(float4);
__host__ __device__ constexpr std::size_t ring_offset(std::size_t select_bytes) {
  return (select_bytes + 15) / 16 * 16;
}
template <int kRing>
std::size_t stream_smem_bytes(int k) {
  const std::size_t select = select_smem_bytes(k, kThreads);
  return kRing > 0 ? ring_offset(select) + kRing * kWarps * kUnitBytes : select;
}

// kFiltered: rows whose bit in `allowed` is clear are never offered nor read.
//
// A warp reads its rows a unit at a time: one step (float4 lane, lane + 32, ... of a row) of a
// group of kGroupRows rows, 2 KB. kRing = 0: the next unit is loaded into registers as soon as
// the current one is in the accumulators, before the group's sums are reduced across the warp,
// so one unit a warp is in flight through the reductions, the selection's offers and the
// barriers of the next begin_round; five blocks a multiprocessor (at most 48 registers a
// thread: left to itself the compiler takes 64, four blocks, and runs slower). kRing > 0: each
// lane copies its float4s of the units kRing - 1 ahead into the warp's ring in shared memory
// (cp.async, zero-filled where a row is past the part or not admitted) and reads back only
// what it copied itself, so no barrier is needed and kRing - 1 units a warp stay in flight
// whatever the registers allow.
template <Metric M, bool kFiltered, int kRing>
__global__ void __launch_bounds__(kThreads, kRing > 0 ? 3 : 5)
    flat_stream_kernel(const float4* __restrict__ base, std::int64_t n, int dp4,
                       const float4* __restrict__ queries, int k, std::int64_t rows_per_part,
                       const std::uint32_t* __restrict__ allowed, std::uint32_t* out_keys,
                       std::int32_t* out_rows, FinalMerge final_merge) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int query = blockIdx.x;
  const int part = blockIdx.y;
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  // Row numbers fit 32 bits (the index holds at most INT32_MAX rows), and so do those of the
  // round past the last (below 2^31 + kThreads): unsigned arithmetic keeps registers free.
  const std::int64_t begin64 = static_cast<std::int64_t>(part) * rows_per_part;
  const auto row_begin = static_cast<std::uint32_t>(begin64);
  const auto row_end = static_cast<std::uint32_t>(min(n, begin64 + rows_per_part));
  const int rounds =
      row_end > row_begin ? static_cast<int>((row_end - row_begin + kThreads - 1) / kThreads) : 0;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int steps = (dp4 + 31) >> 5;  // float4 loads a row a lane

  // Bit j: row first + j of a warp's round is scored (it exists and is admitted).
  const auto live_rows = [&](std::uint32_t first) -> unsigned {
    const std::uint32_t row = first + lane;
    bool ok = row < row_end;
    if constexpr (kFiltered) ok = ok && admitted(allowed, row);
    return __ballot_sync(0xFFFFFFFFu, ok);
  };

  std::uint32_t first = row_begin + warp * kWarpRows;  // this warp's first row of the round
  BlockSelect sel(smem, k, kThreads);
  if constexpr (kRing > 0) {
    constexpr int kAhead = kRing - 1;
    float4* ring = reinterpret_cast<float4*>(smem + ring_offset(select_smem_bytes(k, kThreads))) +
                   warp * kRing * (kGroupRows * 32);
    // The unit queued next: float4 issue_step * 32 + lane of rows issue_row, issue_row + 1, ...
    std::uint32_t issue_row = first;
    int issue_group = 0, issue_step = 0, issue_slot = 0;
    const auto issue = [&] {
      const int i = issue_step * 32 + lane;
      float4* slot = ring + issue_slot * (kGroupRows * 32) + lane;
#pragma unroll
      for (int u = 0; u < kGroupRows; ++u) {
        const std::uint32_t row = issue_row + u;
        bool ok = row < row_end && i < dp4;
        if constexpr (kFiltered) ok = ok && admitted(allowed, row);
        cp_async16(slot + u * 32, ok ? base + static_cast<std::int64_t>(row) * dp4 + i : base, ok);
      }
      cp_async_commit();
      issue_slot = issue_slot + 1 == kRing ? 0 : issue_slot + 1;
      if (++issue_step == steps) {
        issue_step = 0;
        const bool last = ++issue_group == kGroups;
        if (last) issue_group = 0;
        issue_row += last ? kThreads - (kGroups - 1) * kGroupRows : kGroupRows;
      }
    };
#pragma unroll
    for (int a = 0; a < kAhead; ++a) issue();
    int read_slot = 0;
    sel.init();
    for (int round = 0; round < rounds; ++round) {
      sel.begin_round(kThreads);
      const unsigned live = live_rows(first);
      float mine = 0.0f;  // lane j: the score of row first + j
      for (int group = 0; group < kGroups; ++group) {
        float acc[kGroupRows] = {};
#pragma unroll 1
        for (int step = 0; step < steps; ++step) {
          issue();  // into the slot read last step
          cp_async_wait<kAhead>();
          const int i = step * 32 + lane;
          const float4 qq = i < dp4 ? __ldg(q + i) : make_float4(0.f, 0.f, 0.f, 0.f);
          const float4* slot = ring + read_slot * (kGroupRows * 32) + lane;
#pragma unroll
          for (int u = 0; u < kGroupRows; ++u) acc[u] = accumulate<M>(acc[u], slot[u * 32], qq);
          read_slot = read_slot + 1 == kRing ? 0 : read_slot + 1;
        }
#pragma unroll
        for (int u = 0; u < kGroupRows; ++u) {
          const float s = warp_sum(acc[u]);
          if (lane == group * kGroupRows + u) mine = s;
        }
      }
      const float score = kIsL2<M> ? mine : -mine;
      sel.offer((live >> lane) & 1u, float_to_key(score), static_cast<std::int32_t>(first + lane));
      first += kThreads;
    }
    cp_async_wait<0>();  // the zero-filled units queued past the part
  } else {
    unsigned live = live_rows(first);
    // The read in flight: float4 i of the rows at `at` (bits of `at_live`, a group's).
    const float4* at = base + static_cast<std::int64_t>(first) * dp4;
    float4 x[kGroupRows];
    load_group(x, at, dp4, live, lane);  // in flight through init()
    sel.init();
    for (int round = 0; round < rounds; ++round) {
      sel.begin_round(kThreads);
      const unsigned next_live = live_rows(first + kThreads);
      float mine = 0.0f;  // lane j: the score of row first + j
      if (live != 0) {    // warp-uniform; with a filter, a warp's 32 rows may all be excluded
        unsigned at_live = live;
        for (int group = 0; group < kGroups; ++group) {
          float acc[kGroupRows] = {};
#pragma unroll 1
          for (int step = 0; step < steps; ++step) {
            const int i = step * 32 + lane;
            const float4 qq = i < dp4 ? __ldg(q + i) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int u = 0; u < kGroupRows; ++u) acc[u] = accumulate<M>(acc[u], x[u], qq);
            int next_i = i + 32;
            if (step + 1 == steps) {  // next group: of this round, or the next round's first
              next_i = lane;
              const bool last = group + 1 == kGroups;
              at += (last ? kThreads - (kGroups - 1) * kGroupRows : kGroupRows) * dp4;
              at_live = last ? next_live : at_live >> kGroupRows;
            }
            load_group(x, at, dp4, at_live, next_i);
          }
#pragma unroll
          for (int u = 0; u < kGroupRows; ++u) {
            const float s = warp_sum(acc[u]);
            if (lane == group * kGroupRows + u) mine = s;
          }
        }
      } else {
        at += kThreads * dp4;
        load_group(x, at, dp4, next_live, lane);
      }
      const float score = kIsL2<M> ? mine : -mine;
      sel.offer((live >> lane) & 1u, float_to_key(score), static_cast<std::int32_t>(first + lane));
      first += kThreads;
      live = next_live;
    }
  }
  sel.finish();
  const std::int64_t out = (static_cast<std::int64_t>(query) * gridDim.y + part) * k;
  store_partial(sel, k, out_keys + out, out_rows + out);
  merge_if_last_block<kThreads, true>(smem, k, query, static_cast<int>(gridDim.y), out_keys,
                                      out_rows, M, final_merge);
}

// Block (b, p) selects the best k of columns [p*cols_per_part, ...) of tile row b — scores
// completed with the base norms for L2 — together with prev[b] when given, and writes them to
// out[b*out_stride + out_offset + p*k]. Rows are read as float4 (ld and the part bounds are
// multiples of 4), 16 candidates per thread per round. kFiltered: base rows whose bit in
// `allowed` is clear are not offered.
template <Metric M, bool kFiltered>
__global__ void __launch_bounds__(kThreads)
    tile_select_kernel(const float* __restrict__ tile, int ld, int bn,
                       const float* __restrict__ base_norms, std::int64_t col0, int k,
                       int cols_per_part, const std::uint32_t* __restrict__ allowed,
                       const std::uint32_t* prev_keys, const std::int32_t* prev_rows,
                       std::uint32_t* out_keys, std::int32_t* out_rows, std::int64_t out_stride,
                       std::int64_t out_offset) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int kTileRound = 16 * kThreads;
  const int b = blockIdx.x;
  const int part = blockIdx.y;
  const int c_begin = part * cols_per_part;
  const int c_end = min(bn, c_begin + cols_per_part);
  BlockSelect sel(smem, k, kTileRound);
  sel.init();
  if (prev_keys) {
    const std::uint32_t* pk = prev_keys + static_cast<std::int64_t>(b) * k;
    const std::int32_t* pr = prev_rows + static_cast<std::int64_t>(b) * k;
    for (int j0 = 0; j0 < k; j0 += kTileRound) {
      sel.begin_round(kTileRound);
#pragma unroll
      for (int u = 0; u < 16; ++u) {
        const int j = j0 + u * kThreads + threadIdx.x;
        const std::int32_t row = j < k ? pr[j] : -1;
        sel.offer(row >= 0, row >= 0 ? pk[j] : kKeyMax, row);
      }
    }
  }
  const float4* row4 =
      reinterpret_cast<const float4*>(tile + static_cast<std::int64_t>(b) * ld + c_begin);
  const float4* norm4 = reinterpret_cast<const float4*>(base_norms + col0 + c_begin);
  const int n4 = (c_end - c_begin + 3) >> 2;
  for (int j0 = 0; j0 < n4; j0 += 4 * kThreads) {
    sel.begin_round(kTileRound);
    float4 v[4], nn[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int j = j0 + u * kThreads + threadIdx.x;
      v[u] = j < n4 ? row4[j] : make_float4(0.f, 0.f, 0.f, 0.f);
      nn[u] = (kIsL2<M> && j < n4) ? __ldg(norm4 + j) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int c = c_begin + 4 * (j0 + u * kThreads + threadIdx.x);
      const std::int32_t row = static_cast<std::int32_t>(col0 + c);
      if constexpr (kFiltered) {
        // Bit i of `ok`: column c + i exists and its row is admitted.
        unsigned ok = 0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const bool in = c + i < c_end && admitted(allowed, static_cast<std::int64_t>(row) + i);
          ok |= static_cast<unsigned>(in) << i;
        }
        sel.offer(ok & 1u, float_to_key(v[u].x + nn[u].x), row + 0);
        sel.offer(ok & 2u, float_to_key(v[u].y + nn[u].y), row + 1);
        sel.offer(ok & 4u, float_to_key(v[u].z + nn[u].z), row + 2);
        sel.offer(ok & 8u, float_to_key(v[u].w + nn[u].w), row + 3);
      } else {
        sel.offer(c + 0 < c_end, float_to_key(v[u].x + nn[u].x), row + 0);
        sel.offer(c + 1 < c_end, float_to_key(v[u].y + nn[u].y), row + 1);
        sel.offer(c + 2 < c_end, float_to_key(v[u].z + nn[u].z), row + 2);
        sel.offer(c + 3 < c_end, float_to_key(v[u].w + nn[u].w), row + 3);
      }
    }
  }
  sel.finish();
  const std::int64_t out =
      static_cast<std::int64_t>(b) * out_stride + out_offset + static_cast<std::int64_t>(part) * k;
  store_partial(sel, k, out_keys + out, out_rows + out);
}

template <Metric M>
__global__ void __launch_bounds__(kThreads)
    rerank_kernel(const float4* __restrict__ base, int dp4, const float4* __restrict__ queries,
                  const std::int32_t* __restrict__ cand_rows, int n_cand, int k,
                  const std::int64_t* __restrict__ ids, float* __restrict__ distances,
                  std::int64_t* __restrict__ labels) {
  extern __shared__ __align__(16) unsigned char smem[];
  float* scores = reinterpret_cast<float*>(smem);  // [n_cand]
  unsigned char* sel_mem = smem + ((static_cast<std::size_t>(n_cand) * 4 + 15) / 16) * 16;
  const int query = blockIdx.x;
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  const std::int32_t* rows = cand_rows + static_cast<std::int64_t>(query) * n_cand;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  for (int c = warp; c < n_cand; c += kThreads / 32) {
    const std::int32_t row = rows[c];
    float acc = 0.0f;
    if (row >= 0) {
      const float4* x = base + static_cast<std::int64_t>(row) * dp4;
      for (int i = lane; i < dp4; i += 32) acc = accumulate<M>(acc, __ldg(x + i), __ldg(q + i));
    }
    acc = warp_sum(acc);
    if (lane == 0) scores[c] = kIsL2<M> ? acc : -acc;
  }
  BlockSelect sel(sel_mem, k, kRound);
  sel.init();  // synchronises: scores are visible
  for (int j0 = 0; j0 < n_cand; j0 += kRound) {
    sel.begin_round(kRound);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int j = j0 + u * kThreads + threadIdx.x;
      const std::int32_t row = j < n_cand ? rows[j] : -1;
      sel.offer(row >= 0, row >= 0 ? float_to_key(scores[j]) : kKeyMax, row);
    }
  }
  sel.finish();
  sel.sort();
  const std::int64_t out = static_cast<std::int64_t>(query) * k;
  store_final(sel, k, M, 0.0f, false, ids, distances + out, labels + out);
}

// Range search pass (range_emit.cuh): block (q, part) scores rows [part * rows_per_part, ...)
// against query q, as the streaming kernel does, skipping rows `allowed` (may be null) clears.
template <Metric M, bool kFill>
__global__ void __launch_bounds__(kThreads)
    flat_range_kernel(const float4* __restrict__ base, std::int64_t n, int dp4,
                      const float4* __restrict__ queries, float radius, std::int64_t rows_per_part,
                      const std::uint32_t* __restrict__ allowed, int* __restrict__ counters,
                      RangeOutput out) {
  const int query = blockIdx.x;
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  const std::int64_t row_begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_part;
  const std::int64_t row_end = min(n, row_begin + rows_per_part);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  for (std::int64_t r0 = row_begin; r0 < row_end; r0 += kThreads) {
    const std::int64_t first = r0 + warp * 32;
    const std::int64_t row = first + lane;
    const bool ok = row < row_end && (allowed == nullptr || admitted(allowed, row));
    const unsigned mask = __ballot_sync(0xFFFFFFFFu, ok);
    if (mask == 0) continue;  // warp-uniform
    const float score = warp_scores<M>(
        base, dp4, q, [&](int j) -> std::int64_t { return (mask >> j) & 1u ? first + j : -1; });
    range_emit<M, kFill>(ok, score, radius, row, query, counters + query, out);
  }
}

// Rounds to the nearest tf32 value (10 explicit mantissa bits), ties away from zero; a value
// that would round up to infinity is truncated instead.
__device__ __forceinline__ float round_tf32(float x) {
  const std::uint32_t u = __float_as_uint(x);
  const std::uint32_t up = (u + 0x1000u) & 0xFFFFE000u;
  return __uint_as_float((up & 0x7F800000u) == 0x7F800000u ? (u & 0xFFFFE000u) : up);
}

// Row r of src (dp4 float4s) becomes three blocks of dst's row (stride 3 * dp4): x = hi + lo
// with hi and lo both tf32, in the order (hi, hi, lo) for queries and (hi, lo, hi) for base
// rows, so a TF32 GEMM over all 3 dp columns sums hi.hi + hi.lo + lo.hi (3xTF32).
__global__ void split_tf32_kernel(const float4* __restrict__ src, int dp4, std::int64_t rows,
                                  bool base_order, float4* __restrict__ dst) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dp4) return;
  for (std::int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const float4 x = src[row * dp4 + col];
    const float4 hi =
        make_float4(round_tf32(x.x), round_tf32(x.y), round_tf32(x.z), round_tf32(x.w));
    const float4 lo = make_float4(round_tf32(x.x - hi.x), round_tf32(x.y - hi.y),
                                  round_tf32(x.z - hi.z), round_tf32(x.w - hi.w));
    float4* out = dst + row * 3 * dp4 + col;
    out[0] = hi;
    out[dp4] = base_order ? lo : hi;
    out[2 * dp4] = base_order ? hi : lo;
  }
}

}  // namespace

namespace {

// Calls f(std::integral_constant<int, ring>{}) for the ring depths with kernel instances.
template <typename F>
void dispatch_ring(int ring, F&& f) {
  switch (ring) {
    case 0:
      return f(std::integral_constant<int, 0>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    default:
      detail::require(false, "the streaming scan's ring holds 0, 3 or 4 units, got {}", ring);
  }
}

}  // namespace

int flat_stream_blocks_per_sm(Metric metric, int k, bool filtered, int ring) {
  std::size_t smem = 0;
  dispatch_ring(ring, [&](auto r) { smem = stream_smem_bytes<decltype(r)::value>(k); });
  int device = 0;
  KNNX_CUDA_CHECK(cudaGetDevice(&device));
  // The answer depends only on the device, the kernel instance and its shared memory; it is
  // asked on every streaming search, so it is kept.
  using Key = std::tuple<int, int, bool, int, std::size_t>;
  static std::mutex mutex;
  static std::map<Key, int> known;
  const Key key{device, static_cast<int>(metric), filtered, ring, smem};
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = known.find(key); it != known.end()) return it->second;
  }
  int blocks = 0;
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(filtered, [&](auto f) {
      dispatch_ring(ring, [&](auto r) {
        constexpr auto kernel =
            &flat_stream_kernel<decltype(m)::value, decltype(f)::value, decltype(r)::value>;
        set_smem(reinterpret_cast<const void*>(kernel), smem);
        KNNX_CUDA_CHECK(
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, smem));
      });
    });
  });
  blocks = std::max(blocks, 1);
  const std::lock_guard<std::mutex> lock(mutex);
  known.emplace(key, blocks);
  return blocks;
}

void launch_flat_stream(const float* base, std::int64_t n, int dp, const float* queries, int nq,
                        Metric metric, int k, int parts, std::int64_t rows_per_part,
                        const std::uint32_t* allowed, std::uint32_t* out_keys,
                        std::int32_t* out_rows, const FinalMerge& final_merge, int ring,
                        cudaStream_t stream, bool sync_check) {
  const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(parts));
  const auto* b4 = reinterpret_cast<const float4*>(base);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(allowed, [&](auto f) {
      dispatch_ring(ring, [&](auto r) {
        constexpr int kRing = decltype(r)::value;
        constexpr auto kernel = &flat_stream_kernel<decltype(m)::value, decltype(f)::value, kRing>;
        const std::size_t smem = stream_smem_bytes<kRing>(k);
        set_smem(reinterpret_cast<const void*>(kernel), smem);
        kernel<<<grid, kThreads, smem, stream>>>(b4, n, dp / 4, q4, k, rows_per_part, allowed,
                                                 out_keys, out_rows, final_merge);
      });
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "flat_stream_kernel");
}

void launch_tile_select(const float* tile, int ld, int bq, int bn, const float* base_norms,
                        std::int64_t col0, Metric metric, int k, int parts, int cols_per_part,
                        const std::uint32_t* allowed, const std::uint32_t* prev_keys,
                        const std::int32_t* prev_rows, std::uint32_t* out_keys,
                        std::int32_t* out_rows, std::int64_t out_stride, std::int64_t out_offset,
                        cudaStream_t stream, bool sync_check) {
  const std::size_t smem = select_smem_bytes(k, 16 * kThreads);
  const dim3 grid(static_cast<unsigned>(bq), static_cast<unsigned>(parts));
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(allowed, [&](auto f) {
      constexpr auto kernel = &tile_select_kernel<decltype(m)::value, decltype(f)::value>;
      set_smem(reinterpret_cast<const void*>(kernel), smem);
      kernel<<<grid, kThreads, smem, stream>>>(tile, ld, bn, base_norms, col0, k, cols_per_part,
                                               allowed, prev_keys, prev_rows, out_keys, out_rows,
                                               out_stride, out_offset);
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "tile_select_kernel");
}

std::size_t rerank_smem_bytes(int n_cand, int k) {
  return ((static_cast<std::size_t>(n_cand) * 4 + 15) / 16) * 16 + select_smem_bytes(k, kRound);
}

void launch_rerank(const float* base, int dp, const float* queries, int nq, Metric metric,
                   const std::int32_t* cand_rows, int n_cand, int k, const std::int64_t* ids,
                   float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check) {
  const std::size_t smem = rerank_smem_bytes(n_cand, k);
  const auto* b4 = reinterpret_cast<const float4*>(base);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  dispatch_metric(metric, [&](auto m) {
    constexpr auto kernel = &rerank_kernel<decltype(m)::value>;
    set_smem(reinterpret_cast<const void*>(kernel), smem);
    kernel<<<static_cast<unsigned>(nq), kThreads, smem, stream>>>(b4, dp / 4, q4, cand_rows, n_cand,
                                                                  k, ids, distances, labels);
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "rerank_kernel");
}

void launch_flat_range(const float* base, std::int64_t n, int dp, const float* queries, int nq,
                       Metric metric, float radius, const std::uint32_t* allowed, int* counters,
                       const RangeOutput* fill, cudaStream_t stream, bool sync_check) {
  if (nq == 0 || n == 0) return;
  // Enough blocks to fill any device several times over, parts of at least 2048 rows.
  const std::int64_t parts =
      std::clamp<std::int64_t>(n / 2048, 1, std::max<std::int64_t>(1, 2048 / nq));
  const std::int64_t rows_per_part = (n + parts - 1) / parts;
  const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(parts));
  const auto* b4 = reinterpret_cast<const float4*>(base);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  const RangeOutput out = fill ? *fill : RangeOutput{};
  dispatch_metric(metric, [&](auto m) {
    if (fill) {
      flat_range_kernel<decltype(m)::value, true><<<grid, kThreads, 0, stream>>>(
          b4, n, dp / 4, q4, radius, rows_per_part, allowed, counters, out);
    } else {
      flat_range_kernel<decltype(m)::value, false><<<grid, kThreads, 0, stream>>>(
          b4, n, dp / 4, q4, radius, rows_per_part, allowed, counters, out);
    }
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "flat_range_kernel");
}

void launch_split_tf32(const float* src, std::int64_t rows, int dp, SplitOrder order, float* dst,
                       cudaStream_t stream, bool sync_check) {
  if (rows == 0) return;
  const int dp4 = dp / 4;
  const dim3 grid(static_cast<unsigned>((dp4 + 127) / 128), grid_rows(rows));
  split_tf32_kernel<<<grid, 128, 0, stream>>>(reinterpret_cast<const float4*>(src), dp4, rows,
                                              order == SplitOrder::Base,
                                              reinterpret_cast<float4*>(dst));
  KNNX_CHECK_LAUNCH(stream, sync_check, "split_tf32_kernel");
}

}  // namespace knnx::cuda
