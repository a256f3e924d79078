// IVF "shared candidates" scan: the probe lists are turned list-major (for each list, the
// queries that probe it), and one block scans a list (or a piece of a long one) once for a
// group of up to kGroup queries, so a list probed by many queries is read from memory once per
// group instead of once per query. Scores come from a register-tiled inner-product tile (rows x
// queries) per round; each query keeps its own top-k (k <= kSharedMaxK) in shared memory, fed by
// warp ballots and reduced by warp-level selection. Results go to the query's probe slot; a
// per-query merge follows. The work items are planned and listed on the device
// (plan_shared_scan) from their cut, which the host chooses (shared_scan_shape), and the scan's
// grid is the host's bound on their number, whose blocks past the last item return at once: the
// host launches the scan without reading anything back.
#include <algorithm>
#include <cub/device/device_scan.cuh>
#include <limits>

#include "cuda/common/admitted.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/radix_key.cuh"

namespace knnx::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kGroup = 32;  // queries per group (4 per warp for selection)
constexpr int kRows = 64;   // rows per round
constexpr int kDc = 32;     // floats of d per staged chunk
constexpr int kPad = 36;    // padded smem row stride (floats): conflict-free float4 reads
constexpr int kCand = 128;  // candidate buffer per query

// Pieces a list of list_size rows is cut into (one even when empty: a probed list is an item).
__device__ std::int64_t pieces_of(std::int64_t list_size, int rows_per_item) {
  return max(std::int64_t{1}, (list_size + rows_per_item - 1) / rows_per_item);
}

__global__ void count_probes_kernel(const std::int64_t* __restrict__ probes, std::int64_t n,
                                    int* __restrict__ counts) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n && probes[i] >= 0) atomicAdd(&counts[probes[i]], 1);
}

__global__ void scatter_probes_kernel(const std::int64_t* __restrict__ probes, std::int64_t n,
                                      const int* __restrict__ starts, int* __restrict__ cursor,
                                      int* __restrict__ pairs) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n || probes[i] < 0) return;
  const std::int64_t list = probes[i];
  pairs[starts[list] + atomicAdd(&cursor[list], 1)] = static_cast<int>(i);  // i = q*P + slot
}

struct SharedState {
  std::uint32_t* keys;  // [kGroup][kStride]: kept [0, kSharedMaxK), candidates after
  std::int32_t* rows;
  int* n_top;  // [kGroup]
  int* n_cand;
  std::uint32_t* tau;
  std::uint32_t* tmp_keys;  // [kWarps][kSharedMaxK]
  std::int32_t* tmp_rows;
};

constexpr int kStride = kSharedMaxK + kCand;

// One warp reduces query g's kept + candidate entries to its best k (k passes of a warp-wide
// arg-min; flushes are rare once tau settles).
__device__ void warp_flush(SharedState& s, int g, int k) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  std::uint32_t* keys = s.keys + g * kStride;
  std::int32_t* rows = s.rows + g * kStride;
  const int n_top = s.n_top[g];
  const int n_cand = s.n_cand[g];
  __syncwarp();
  if (n_cand == 0) return;
  if (n_top + n_cand <= k) {
    for (int i = lane; i < n_cand; i += 32) {
      keys[n_top + i] = keys[kSharedMaxK + i];
      rows[n_top + i] = rows[kSharedMaxK + i];
    }
    __syncwarp();
    if (lane == 0) {
      s.n_top[g] = n_top + n_cand;
      s.n_cand[g] = 0;
    }
    __syncwarp();
    return;
  }
  std::uint32_t* tk = s.tmp_keys + warp * kSharedMaxK;
  std::int32_t* tr = s.tmp_rows + warp * kSharedMaxK;
  for (int t = 0; t < k; ++t) {
    std::uint32_t best = kKeyMax;
    int best_slot = -1;
    for (int i = lane; i < n_top + n_cand; i += 32) {
      const int slot = i < n_top ? i : kSharedMaxK + (i - n_top);
      const std::uint32_t key = keys[slot];
      if (best_slot < 0 || key < best) {
        best = key;
        best_slot = slot;
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const std::uint32_t ok = __shfl_xor_sync(0xFFFFFFFFu, best, off);
      const int os = __shfl_xor_sync(0xFFFFFFFFu, best_slot, off);
      if (os >= 0 && (best_slot < 0 || ok < best || (ok == best && os < best_slot))) {
        best = ok;
        best_slot = os;
      }
    }
    __syncwarp();  // all lanes have read keys before lane 0 marks one taken
    if (lane == 0) {
      tk[t] = best;
      tr[t] = rows[best_slot];
      keys[best_slot] = kKeyMax;  // taken
    }
    __syncwarp();
  }
  for (int i = lane; i < k; i += 32) {
    keys[i] = tk[i];
    rows[i] = tr[i];
  }
  __syncwarp();
  if (lane == 0) {
    s.n_top[g] = k;
    s.n_cand[g] = 0;
    s.tau[g] = tk[k - 1];
  }
  __syncwarp();
}

// Block b scans work item items[b] (none past the last, *n_items): its rows of its list for
// its group of up to kGroup queries, in rounds of kRows rows. Items are one per group and piece
// of a list, so a list that many queries probe (a "hub" centroid) and a long list are both
// spread over many blocks. A round is a small GEMM: row and query chunks of kDc floats are
// staged in shared memory and every thread accumulates a 4-row x 2-query register tile of inner
// products; scores (L2: |x|^2 + |q|^2 - 2 x.q, IP: -x.q) go through a shared score tile to the
// per-query selection, which each warp runs for its 4 queries. Each piece writes its own
// results slot, so no two blocks write the same entries. kFiltered: rows whose arena position's
// bit in `allowed` is clear never enter a selection.
template <Metric M, bool kFiltered>
__global__ void __launch_bounds__(kThreads) ivf_shared_scan_kernel(
    const float4* __restrict__ data, int dp4, const float4* __restrict__ queries,
    const float* __restrict__ qnorms, int n_probe, const int* __restrict__ starts,
    const int* __restrict__ pairs, int rows_per_item, const int* __restrict__ n_items,
    const int4* __restrict__ items, int max_pieces, const std::int64_t* __restrict__ list_sizes,
    const std::int64_t* __restrict__ list_offsets, int k, const std::uint32_t* __restrict__ allowed,
    std::uint32_t* __restrict__ out_keys, std::int32_t* __restrict__ out_rows) {
  if (static_cast<int>(blockIdx.x) >= *n_items) return;
  extern __shared__ __align__(16) unsigned char smem[];
  float* xs = reinterpret_cast<float*>(smem);  // [kRows][kPad]
  float* qs = xs + kRows * kPad;               // [kGroup][kPad]
  float* scores = qs + kGroup * kPad;          // [kGroup][kRows]
  float* xnorm = scores + kGroup * kRows;      // [kRows]
  float* qn = xnorm + kRows;                   // [kGroup]
  SharedState s;
  s.keys = reinterpret_cast<std::uint32_t*>(qn + kGroup);
  s.rows = reinterpret_cast<std::int32_t*>(s.keys + kGroup * kStride);
  s.tmp_keys = reinterpret_cast<std::uint32_t*>(s.rows + kGroup * kStride);
  s.tmp_rows = reinterpret_cast<std::int32_t*>(s.tmp_keys + kWarps * kSharedMaxK);
  s.n_top = reinterpret_cast<int*>(s.tmp_rows + kWarps * kSharedMaxK);
  s.n_cand = s.n_top + kGroup;
  s.tau = reinterpret_cast<std::uint32_t*>(s.n_cand + kGroup);
  int* pair_of = reinterpret_cast<int*>(s.tau + kGroup);  // [kGroup]: q * n_probe + slot
  int* query_of = pair_of + kGroup;                       // [kGroup]: q

  const int4 item = items[blockIdx.x];  // list, first query of the group, piece
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int rsub = tid & 15;  // rows rsub + 16 i
  const int qsub = tid >> 4;  // queries qsub, qsub + 16
  {
    const int list = item.x;
    const int g0 = item.y;
    const int first = starts[list];
    const int ng = min(kGroup, starts[list + 1] - first - g0);
    const std::int64_t row_begin = static_cast<std::int64_t>(item.z) * rows_per_item;
    const std::int64_t size = min(list_sizes[list], row_begin + rows_per_item);
    const std::int64_t offset = list_offsets[list];
    if (tid < kGroup) {
      const int pair = tid < ng ? pairs[first + g0 + tid] : -1;
      pair_of[tid] = pair;
      query_of[tid] = pair >= 0 ? pair / n_probe : 0;  // once per group, not in the hot loop
      qn[tid] = pair >= 0 ? qnorms[pair / n_probe] : 0.0f;
      s.n_top[tid] = 0;
      s.n_cand[tid] = 0;
      s.tau[tid] = kKeyMax;
    }
    __syncthreads();

    // Staging is software-pipelined: the next chunk's rows and queries are loaded into
    // registers (two float4 of rows and one of queries per thread) while this chunk is
    // multiplied, so a block does not wait for global memory at every chunk.
    static_assert(kRows * (kDc / 4) == 2 * kThreads && kGroup * (kDc / 4) == kThreads);
    const int n_chunks = (dp4 * 4 + kDc - 1) / kDc;
    float4 next_x[2], next_q;
    auto load = [&](std::int64_t r0, int c0) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int i = tid + h * kThreads;
        const int r = i >> 3, col4 = (c0 >> 2) + (i & 7);
        next_x[h] = r0 + r < size && col4 < dp4 ? data[(offset + r0 + r) * dp4 + col4]
                                                : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      const int g = tid >> 3, col4 = (c0 >> 2) + (tid & 7);
      next_q = g < ng && col4 < dp4 ? queries[static_cast<std::int64_t>(query_of[g]) * dp4 + col4]
                                    : make_float4(0.f, 0.f, 0.f, 0.f);
    };
    auto store = [&] {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int i = tid + h * kThreads;
        *reinterpret_cast<float4*>(xs + (i >> 3) * kPad + 4 * (i & 7)) = next_x[h];
      }
      *reinterpret_cast<float4*>(qs + (tid >> 3) * kPad + 4 * (tid & 7)) = next_q;
    };
    // Queries qsub + 16 exist only in groups of more than 16 (block-uniform): smaller groups
    // skip that half of the tile.
    const bool upper = ng > 16;
    if (row_begin < size) load(row_begin, 0);
    for (std::int64_t r0 = row_begin; r0 < size; r0 += kRows) {
      float acc[4][2] = {};
      if (tid < kRows) xnorm[tid] = 0.0f;
      for (int chunk = 0; chunk < n_chunks; ++chunk) {
        __syncthreads();  // the previous chunk has been consumed
        store();
        if (chunk + 1 < n_chunks) {
          load(r0, (chunk + 1) * kDc);
        } else if (r0 + kRows < size) {
          load(r0 + kRows, 0);
        }
        __syncthreads();
        if (kIsL2<M> && tid < kRows) {
          float sq = 0.0f;
#pragma unroll
          for (int c = 0; c < kDc; c += 4) {
            const float4 v = *reinterpret_cast<const float4*>(xs + tid * kPad + c);
            sq = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, sq))));
          }
          xnorm[tid] += sq;
        }
#pragma unroll
        for (int c = 0; c < kDc; c += 4) {
          float4 x[4];
#pragma unroll
          for (int i = 0; i < 4; ++i)
            x[i] = *reinterpret_cast<const float4*>(xs + (rsub + 16 * i) * kPad + c);
          const float4 q0 = *reinterpret_cast<const float4*>(qs + qsub * kPad + c);
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            acc[i][0] = fmaf(x[i].x, q0.x,
                             fmaf(x[i].y, q0.y, fmaf(x[i].z, q0.z, fmaf(x[i].w, q0.w, acc[i][0]))));
          }
          if (upper) {
            const float4 q1 = *reinterpret_cast<const float4*>(qs + (qsub + 16) * kPad + c);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              acc[i][1] =
                  fmaf(x[i].x, q1.x,
                       fmaf(x[i].y, q1.y, fmaf(x[i].z, q1.z, fmaf(x[i].w, q1.w, acc[i][1]))));
            }
          }
        }
      }
      __syncthreads();  // xnorm complete
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int r = rsub + 16 * i, g = qsub + 16 * j;
          scores[g * kRows + r] =
              kIsL2<M> ? fmaxf(xnorm[r] + qn[g] - 2.0f * acc[i][j], 0.0f) : -acc[i][j];
        }
      }
      __syncthreads();
      // Selection: warp w owns queries 4w .. 4w+3; lanes take rows lane and lane + 32.
      for (int g = warp * 4; g < warp * 4 + 4 && g < ng; ++g) {
        if (s.n_cand[g] > kCand - kRows) warp_flush(s, g, k);
        const std::uint32_t tau = s.tau[g];
        int base = s.n_cand[g];
#pragma unroll
        for (int h = 0; h < kRows; h += 32) {
          const std::int64_t r = r0 + h + lane;
          const std::uint32_t key = float_to_key(scores[g * kRows + h + lane]);
          bool pass = r < size && key < tau;
          if constexpr (kFiltered) pass = pass && admitted(allowed, offset + r);
          const unsigned mask = __ballot_sync(0xFFFFFFFFu, pass);
          if (pass) {
            const int pos = kSharedMaxK + base + __popc(mask & ((1u << lane) - 1u));
            s.keys[g * kStride + pos] = key;
            s.rows[g * kStride + pos] = static_cast<std::int32_t>(offset + r);
          }
          base += __popc(mask);
        }
        __syncwarp();
        if (lane == 0) s.n_cand[g] = base;
        __syncwarp();
      }
    }
    __syncthreads();
    for (int g = warp * 4; g < warp * 4 + 4 && g < ng; ++g) warp_flush(s, g, k);
    __syncthreads();
    for (int g = 0; g < ng; ++g) {
      const std::int64_t out = (static_cast<std::int64_t>(pair_of[g]) * max_pieces + item.z) * k;
      const int n = s.n_top[g];
      for (int i = tid; i < k; i += kThreads) {
        out_keys[out + i] = i < n ? s.keys[g * kStride + i] : kKeyMax;
        out_rows[out + i] = i < n ? s.rows[g * kStride + i] : -1;
      }
    }
  }
}

constexpr long long kMinRows = 256;    // rows of an item at least
constexpr long long kItemsPerSm = 16;  // several waves of the (3 blocks per SM) scan kernel

// item_counts[l]: the items of list l (groups of its queries times its pieces), 0 past the
// last list.
__global__ void count_items_kernel(const int* __restrict__ starts,
                                   const std::int64_t* __restrict__ list_sizes, int n_lists,
                                   int rows_per_item, int* __restrict__ item_counts) {
  const int l = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (l > n_lists) return;
  int items = 0;
  if (l < n_lists) {
    const int queries = starts[l + 1] - starts[l];
    if (queries > 0) {
      items = (queries + kGroup - 1) / kGroup *
              static_cast<int>(pieces_of(list_sizes[l], rows_per_item));
    }
  }
  item_counts[l] = items;
}

// Lists item l's work items: one warp per list writes items[item_starts[l] ...] as (list, first
// query of the group, piece), group by group and piece by piece, and *n_items the items'
// count. Items past `capacity` (the host's bound, never reached) are not written.
__global__ void list_items_kernel(const int* __restrict__ item_starts,
                                  const std::int64_t* __restrict__ list_sizes, int n_lists,
                                  int rows_per_item, std::int64_t capacity,
                                  int* __restrict__ n_items, int4* __restrict__ items) {
  const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (warp == 0 && lane == 0) {
    *n_items = static_cast<int>(min(static_cast<std::int64_t>(item_starts[n_lists]), capacity));
  }
  if (warp >= n_lists) return;
  const int l = static_cast<int>(warp);
  const int first = item_starts[l];
  const int count = item_starts[l + 1] - first;
  if (count == 0) return;
  const int pieces = static_cast<int>(pieces_of(list_sizes[l], rows_per_item));
  for (int i = lane; i < count; i += 32) {
    if (first + i < capacity) items[first + i] = make_int4(l, i / pieces * kGroup, i % pieces, 0);
  }
}

}  // namespace

std::size_t ivf_shared_smem_bytes(int /*dp*/) {
  return 4ull * (kRows * kPad + kGroup * kPad + kGroup * kRows + kRows + kGroup) +
         2ull * kGroup * kStride * 4 + 2ull * kWarps * kSharedMaxK * 4 + 5ull * kGroup * 4;
}

void build_list_major(const std::int64_t* probes, int nq, int n_probe, int n_lists, int* counts,
                      int* starts, int* cursor, int* pairs, void* scan_temp,
                      std::size_t scan_temp_bytes, cudaStream_t stream, bool sync_check) {
  const std::int64_t n = static_cast<std::int64_t>(nq) * n_probe;
  KNNX_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(int) * (n_lists + 1), stream));
  KNNX_CUDA_CHECK(cudaMemsetAsync(cursor, 0, sizeof(int) * n_lists, stream));
  const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
  count_probes_kernel<<<blocks, 256, 0, stream>>>(probes, n, counts);
  KNNX_CHECK_LAUNCH(stream, sync_check, "count_probes_kernel");
  std::size_t bytes = scan_temp_bytes;
  KNNX_CUDA_CHECK(
      cub::DeviceScan::ExclusiveSum(scan_temp, bytes, counts, starts, n_lists + 1, stream));
  scatter_probes_kernel<<<blocks, 256, 0, stream>>>(probes, n, starts, cursor, pairs);
  KNNX_CHECK_LAUNCH(stream, sync_check, "scatter_probes_kernel");
}

std::size_t list_major_scan_temp_bytes(int n_lists) {
  std::size_t bytes = 0;
  KNNX_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<int*>(nullptr),
                                                static_cast<int*>(nullptr), n_lists + 1));
  return bytes;
}

SharedScanShape shared_scan_shape(std::int64_t slots, int sms, int max_rows_per_item,
                                  int max_chunks, const std::int64_t* list_sizes, int n_lists) {
  std::int64_t total = 0, longest = 0;
  double squares = 0.0;
  for (int l = 0; l < n_lists; ++l) {
    total += list_sizes[l];
    squares += static_cast<double>(list_sizes[l]) * static_cast<double>(list_sizes[l]);
    longest = std::max(longest, list_sizes[l]);
  }
  // Rows the scan reads over all groups, were the probes spread as the data is (a list probed in
  // proportion to its size, so the rows a probe reads average sum(size^2) / total): a group of
  // up to kGroup queries a probed list, and every probed list read at least once.
  const std::int64_t groups =
      std::max<std::int64_t>((slots + kGroup - 1) / kGroup, std::min<std::int64_t>(slots, n_lists));
  const double rows_a_probe = total > 0 ? squares / static_cast<double>(total) : 0.0;
  const std::int64_t work = static_cast<std::int64_t>(
      std::min(static_cast<double>(groups) * rows_a_probe, 1e18));
  const std::int64_t want = (work + kItemsPerSm * sms - 1) / (kItemsPerSm * sms);
  const auto round_up = [](std::int64_t rows) { return (rows + kRows - 1) / kRows * kRows; };
  const std::int64_t by_work = std::clamp<std::int64_t>(
      round_up(want), kMinRows, std::max<std::int64_t>(kMinRows, max_rows_per_item));
  const std::int64_t bounded = round_up((longest + max_chunks - 1) / std::max(max_chunks, 1));
  SharedScanShape shape;
  shape.rows_per_item =
      static_cast<int>(std::min<std::int64_t>(std::max(by_work, bounded), 1 << 30));
  std::int64_t pieces_sum = 0;
  for (int l = 0; l < n_lists; ++l) {
    const std::int64_t pieces =
        std::max<std::int64_t>(1, (list_sizes[l] + shape.rows_per_item - 1) / shape.rows_per_item);
    shape.max_pieces = static_cast<int>(std::max<std::int64_t>(shape.max_pieces, pieces));
    pieces_sum += pieces;
  }
  // A list probed by c queries has ceil(c / kGroup) * pieces items, at most
  // (floor(c / kGroup) + 1) * pieces.
  shape.max_items = std::min<std::int64_t>(slots / kGroup * shape.max_pieces + pieces_sum,
                                           std::numeric_limits<int>::max());
  return shape;
}

void plan_shared_scan(const int* starts, const std::int64_t* list_sizes, int n_lists,
                      const SharedScanShape& shape, int* item_counts, int* item_starts,
                      SharedScanItem* items, int* n_items, void* scan_temp,
                      std::size_t scan_temp_bytes, cudaStream_t stream, bool sync_check) {
  const unsigned blocks = static_cast<unsigned>((n_lists + 1 + 255) / 256);
  count_items_kernel<<<blocks, 256, 0, stream>>>(starts, list_sizes, n_lists, shape.rows_per_item,
                                                 item_counts);
  KNNX_CHECK_LAUNCH(stream, sync_check, "count_items_kernel");
  std::size_t bytes = scan_temp_bytes;
  KNNX_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(scan_temp, bytes, item_counts, item_starts,
                                                n_lists + 1, stream));
  const unsigned list_blocks =
      static_cast<unsigned>((static_cast<std::int64_t>(n_lists) * 32 + 255) / 256);
  list_items_kernel<<<std::max(list_blocks, 1u), 256, 0, stream>>>(
      item_starts, list_sizes, n_lists, shape.rows_per_item, shape.max_items, n_items,
      reinterpret_cast<int4*>(items));
  KNNX_CHECK_LAUNCH(stream, sync_check, "list_items_kernel");
}

void launch_ivf_shared_scan(const float* data, int dp, const float* queries, const float* qnorms,
                            int n_probe, const SharedScanShape& shape, const int* n_items,
                            const SharedScanItem* items, const int* starts, const int* pairs,
                            const std::int64_t* list_sizes, const std::int64_t* list_offsets,
                            Metric metric, int k, const std::uint32_t* allowed,
                            std::uint32_t* out_keys, std::int32_t* out_rows, cudaStream_t stream,
                            bool sync_check) {
  if (shape.max_items <= 0) return;
  const std::size_t smem = ivf_shared_smem_bytes(dp);
  static_assert(sizeof(SharedScanItem) == sizeof(int4));
  const auto* it = reinterpret_cast<const int4*>(items);
  const auto* d4 = reinterpret_cast<const float4*>(data);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  const dim3 grid(static_cast<unsigned>(shape.max_items));
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(allowed, [&](auto f) {
      constexpr auto kernel = &ivf_shared_scan_kernel<decltype(m)::value, decltype(f)::value>;
      set_smem(reinterpret_cast<const void*>(kernel), smem);
      kernel<<<grid, kThreads, smem, stream>>>(
          d4, dp / 4, q4, qnorms, n_probe, starts, pairs, shape.rows_per_item, n_items, it,
          shape.max_pieces, list_sizes, list_offsets, k, allowed, out_keys, out_rows);
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "ivf_shared_scan_kernel");
}

}  // namespace knnx::cuda
