// IVF-Flat kernels: arena maintenance, probe prefix sums, and scans over probed lists.
#include "cuda/common/admitted.cuh"
#include "cuda/common/distance.cuh"
#include "cuda/common/metric_dispatch.hpp"
#include "cuda/common/range_emit.cuh"
#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"
#include "cuda/select/last_block_merge.cuh"

namespace knnx::cuda {
namespace {

// Rows of `width` elements of T (uint4 when the row is a multiple of 16 bytes, else words).
template <typename T>
__global__ void move_rows_kernel(const T* __restrict__ src, const std::int64_t* __restrict__ src_ids,
                                 const std::int64_t* __restrict__ spos, T* __restrict__ dst,
                                 std::int64_t* __restrict__ dst_ids,
                                 const std::int64_t* __restrict__ dpos, std::int64_t m,
                                 int width) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  for (std::int64_t i = blockIdx.y; i < m; i += gridDim.y) {
    const std::int64_t s = spos[i], d = dpos[i];
    if (col < width) dst[d * width + col] = src[s * width + col];
    if (col == 0) dst_ids[d] = src_ids[s];
  }
}

__global__ void probe_prefix_kernel(const std::int64_t* __restrict__ probes, int nq, int n_probe,
                                    const std::int64_t* __restrict__ list_sizes,
                                    std::int32_t* __restrict__ prefix) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  const std::int64_t* p = probes + static_cast<std::int64_t>(q) * n_probe;
  std::int32_t* out = prefix + static_cast<std::int64_t>(q) * (n_probe + 1);
  std::int32_t total = 0;
  out[0] = 0;
  for (int j = 0; j < n_probe; ++j) {
    const std::int64_t list = p[j];
    total += list >= 0 ? static_cast<std::int32_t>(list_sizes[list]) : 0;
    out[j + 1] = total;
  }
}

// Arena row of candidate `pos` of a query: binary search of its probe, then the list offset.
__device__ __forceinline__ std::int64_t candidate_row(const std::int32_t* prefix, int n_probe,
                                                      const std::int64_t* probes,
                                                      const std::int64_t* list_offsets, int pos) {
  int lo = 0, hi = n_probe;  // prefix[lo] <= pos < prefix[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) >> 1;
    if (prefix[mid] <= pos) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return list_offsets[probes[lo]] + (pos - prefix[lo]);
}

// prefix[0..n_probe] of one query (as probe_prefix_kernel writes it) into shared memory, by
// warp 0 of the block: a running warp scan over its probed lists' sizes (-1 probes count 0).
// The caller synchronises the block before reading it.
__device__ __forceinline__ void probe_prefix_in_block(const std::int64_t* __restrict__ qprobes,
                                                      int n_probe,
                                                      const std::int64_t* __restrict__ list_sizes,
                                                      std::int32_t* prefix) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  if (lane == 0) prefix[0] = 0;
  std::int32_t carry = 0;
  for (int j0 = 0; j0 < n_probe; j0 += 32) {
    const int j = j0 + lane;
    std::int32_t v = 0;
    if (j < n_probe) {
      const std::int64_t list = qprobes[j];
      v = list >= 0 ? static_cast<std::int32_t>(list_sizes[list]) : 0;
    }
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const std::int32_t up = __shfl_up_sync(0xFFFFFFFFu, v, o);
      if (lane >= o) v += up;
    }
    if (j < n_probe) prefix[j + 1] = carry + v;
    carry += __shfl_sync(0xFFFFFFFFu, v, 31);
  }
}

// kFiltered: candidates whose arena row's bit in `allowed` is clear are neither scored nor
// offered. probe_prefix null: the block computes its query's prefix into shared memory at
// prefix_smem_offset (past the selection's bytes), from list_sizes.
template <Metric M, int kThreads, bool kFiltered>
__global__ void __launch_bounds__(kThreads)
    ivf_scan_kernel(const float4* __restrict__ data, int dp4, const float4* __restrict__ queries,
                    const std::int64_t* __restrict__ probes,
                    const std::int32_t* __restrict__ probe_prefix,
                    const std::int64_t* __restrict__ list_sizes, int prefix_smem_offset,
                    int n_probe, const std::int64_t* __restrict__ list_offsets, int k,
                    int rows_per_chunk, const std::uint32_t* __restrict__ allowed,
                    std::uint32_t* out_keys, std::int32_t* out_rows, FinalMerge final_merge) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int query = blockIdx.x;
  const int chunk = blockIdx.y;
  const std::int64_t* qprobes = probes + static_cast<std::int64_t>(query) * n_probe;
  const std::int32_t* prefix;
  if (probe_prefix != nullptr) {
    prefix = probe_prefix + static_cast<std::int64_t>(query) * (n_probe + 1);
  } else {
    std::int32_t* own = reinterpret_cast<std::int32_t*>(smem + prefix_smem_offset);
    probe_prefix_in_block(qprobes, n_probe, list_sizes, own);
    __syncthreads();
    prefix = own;
  }
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  const int total = prefix[n_probe];
  const int begin = chunk * rows_per_chunk;
  const int end = min(total, begin + rows_per_chunk);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  BlockSelect sel(smem, k, kThreads);
  sel.init();
  for (int p0 = begin; p0 < end; p0 += kThreads) {
    sel.begin_round(kThreads);
    const int pos = p0 + warp * 32 + lane;
    if constexpr (kFiltered) {
      std::int64_t row =
          pos < end ? candidate_row(prefix, n_probe, qprobes, list_offsets, pos) : -1;
      if (row >= 0 && !admitted(allowed, row)) row = -1;
      const bool valid = row >= 0;
      if (__ballot_sync(0xFFFFFFFFu, valid) == 0) continue;  // warp-uniform
      const float score =
          warp_scores<M>(data, dp4, q, [&](int j) { return __shfl_sync(0xFFFFFFFFu, row, j); });
      sel.offer(valid, float_to_key(score), static_cast<std::int32_t>(row));
    } else {
      const bool valid = pos < end;
      const std::int64_t row =
          valid ? candidate_row(prefix, n_probe, qprobes, list_offsets, pos) : -1;
      const float score =
          warp_scores<M>(data, dp4, q, [&](int j) { return __shfl_sync(0xFFFFFFFFu, row, j); });
      sel.offer(valid, float_to_key(score), static_cast<std::int32_t>(row));
    }
  }
  sel.finish();
  const std::int64_t out = (static_cast<std::int64_t>(query) * gridDim.y + chunk) * k;
  store_partial(sel, k, out_keys + out, out_rows + out);
  merge_if_last_block<kThreads>(smem, k, query, static_cast<int>(gridDim.y), out_keys, out_rows, M,
                                final_merge);
}

// kFiltered: candidates whose arena row's bit in `allowed` is clear are written as empty.
template <Metric M, bool kFiltered>
__global__ void __launch_bounds__(256)
    ivf_distances_kernel(const float4* __restrict__ data, int dp4,
                         const float4* __restrict__ queries,
                         const std::int64_t* __restrict__ probes,
                         const std::int32_t* __restrict__ probe_prefix, int n_probe,
                         const std::int64_t* __restrict__ list_offsets, int max_candidates,
                         const std::uint32_t* __restrict__ allowed,
                         std::uint32_t* __restrict__ out_keys,
                         std::int32_t* __restrict__ out_rows) {
  const int query = blockIdx.x;
  const std::int32_t* prefix = probe_prefix + static_cast<std::int64_t>(query) * (n_probe + 1);
  const std::int64_t* qprobes = probes + static_cast<std::int64_t>(query) * n_probe;
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  const int total = prefix[n_probe];
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  std::uint32_t* keys = out_keys + static_cast<std::int64_t>(query) * max_candidates;
  std::int32_t* rows = out_rows + static_cast<std::int64_t>(query) * max_candidates;
  for (int p0 = blockIdx.y * 256; p0 < max_candidates; p0 += 256 * gridDim.y) {
    const int pos = p0 + warp * 32 + lane;
    bool valid = pos < total;
    std::int64_t row = valid ? candidate_row(prefix, n_probe, qprobes, list_offsets, pos) : -1;
    if constexpr (kFiltered) {
      if (valid && !admitted(allowed, row)) {
        valid = false;
        row = -1;
      }
    }
    const float score =
        warp_scores<M>(data, dp4, q, [&](int j) { return __shfl_sync(0xFFFFFFFFu, row, j); });
    if (pos < max_candidates) {
      keys[pos] = valid ? float_to_key(score) : kKeyMax;
      rows[pos] = valid ? static_cast<std::int32_t>(row) : -1;
    }
  }
}

// Range search pass (range_emit.cuh): block (q, c) scores candidates [c * rows_per_chunk, ...)
// of query q, skipping arena rows `allowed` (may be null) clears.
template <Metric M, bool kFill>
__global__ void __launch_bounds__(256)
    ivf_range_kernel(const float4* __restrict__ data, int dp4, const float4* __restrict__ queries,
                     const std::int64_t* __restrict__ probes,
                     const std::int32_t* __restrict__ probe_prefix, int n_probe,
                     const std::int64_t* __restrict__ list_offsets, float radius,
                     int rows_per_chunk, const std::uint32_t* __restrict__ allowed,
                     int* __restrict__ counters, RangeOutput out) {
  const int query = blockIdx.x;
  const std::int32_t* prefix = probe_prefix + static_cast<std::int64_t>(query) * (n_probe + 1);
  const std::int64_t* qprobes = probes + static_cast<std::int64_t>(query) * n_probe;
  const float4* q = queries + static_cast<std::int64_t>(query) * dp4;
  const std::int64_t total = prefix[n_probe];
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_chunk;
  const std::int64_t end = min(total, begin + rows_per_chunk);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  for (std::int64_t p0 = begin; p0 < end; p0 += 256) {
    const std::int64_t pos = p0 + warp * 32 + lane;
    std::int64_t row =
        pos < end ? candidate_row(prefix, n_probe, qprobes, list_offsets, static_cast<int>(pos))
                  : -1;
    if (row >= 0 && allowed != nullptr && !admitted(allowed, row)) row = -1;
    const bool ok = row >= 0;
    if (__ballot_sync(0xFFFFFFFFu, ok) == 0) continue;  // warp-uniform
    const float score =
        warp_scores<M>(data, dp4, q, [&](int j) { return __shfl_sync(0xFFFFFFFFu, row, j); });
    range_emit<M, kFill>(ok, score, radius, row, query, counters + query, out);
  }
}

template <Metric M, int kThreads, bool kFiltered>
void scan(const float* data, int dp, const float* queries, int nq, const std::int64_t* probes,
          const std::int32_t* probe_prefix, const std::int64_t* list_sizes, int n_probe,
          const std::int64_t* list_offsets, int k, int chunks, int rows_per_chunk,
          const std::uint32_t* allowed, std::uint32_t* out_keys, std::int32_t* out_rows,
          const FinalMerge& final_merge, cudaStream_t stream) {
  constexpr auto kernel = &ivf_scan_kernel<M, kThreads, kFiltered>;
  // The selection's bytes, then (without a probe_prefix) the query's prefix, 16-byte aligned.
  const std::size_t select_bytes = (select_smem_bytes(k, kThreads) + 15) / 16 * 16;
  const std::size_t smem =
      select_bytes +
      (probe_prefix ? 0 : sizeof(std::int32_t) * (static_cast<std::size_t>(n_probe) + 1));
  set_smem(reinterpret_cast<const void*>(kernel), smem);
  const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(chunks));
  kernel<<<grid, kThreads, smem, stream>>>(
      reinterpret_cast<const float4*>(data), dp / 4, reinterpret_cast<const float4*>(queries),
      probes, probe_prefix, list_sizes, static_cast<int>(select_bytes), n_probe, list_offsets, k,
      rows_per_chunk, allowed, out_keys, out_rows, final_merge);
}

template <Metric M, bool kFiltered>
void scan_tpb(int threads, const float* data, int dp, const float* queries, int nq,
              const std::int64_t* probes, const std::int32_t* probe_prefix,
              const std::int64_t* list_sizes, int n_probe, const std::int64_t* list_offsets, int k,
              int chunks, int rows_per_chunk, const std::uint32_t* allowed, std::uint32_t* out_keys,
              std::int32_t* out_rows, const FinalMerge& final_merge, cudaStream_t stream) {
  switch (threads) {
    case 128:
      scan<M, 128, kFiltered>(data, dp, queries, nq, probes, probe_prefix, list_sizes, n_probe,
                              list_offsets, k, chunks, rows_per_chunk, allowed, out_keys, out_rows,
                              final_merge, stream);
      break;
    case 512:
      scan<M, 512, kFiltered>(data, dp, queries, nq, probes, probe_prefix, list_sizes, n_probe,
                              list_offsets, k, chunks, rows_per_chunk, allowed, out_keys, out_rows,
                              final_merge, stream);
      break;
    default:
      scan<M, 256, kFiltered>(data, dp, queries, nq, probes, probe_prefix, list_sizes, n_probe,
                              list_offsets, k, chunks, rows_per_chunk, allowed, out_keys, out_rows,
                              final_merge, stream);
  }
}

}  // namespace

void launch_move_rows(const std::uint32_t* src, const std::int64_t* src_ids,
                      const std::int64_t* spos, std::uint32_t* dst, std::int64_t* dst_ids,
                      const std::int64_t* dpos, std::int64_t m, int row_words,
                      cudaStream_t stream, bool sync_check) {
  if (m == 0) return;
  if (row_words % 4 == 0) {
    const int width = row_words / 4;
    const dim3 grid(static_cast<unsigned>((width + 127) / 128), grid_rows(m));
    move_rows_kernel<<<grid, 128, 0, stream>>>(reinterpret_cast<const uint4*>(src), src_ids, spos,
                                               reinterpret_cast<uint4*>(dst), dst_ids, dpos, m,
                                               width);
  } else {
    const dim3 grid(static_cast<unsigned>((row_words + 127) / 128), grid_rows(m));
    move_rows_kernel<<<grid, 128, 0, stream>>>(src, src_ids, spos, dst, dst_ids, dpos, m,
                                               row_words);
  }
  KNNX_CHECK_LAUNCH(stream, sync_check, "move_rows_kernel");
}

void launch_probe_prefix(const std::int64_t* probes, int nq, int n_probe,
                         const std::int64_t* list_sizes, std::int32_t* probe_prefix,
                         cudaStream_t stream, bool sync_check) {
  probe_prefix_kernel<<<static_cast<unsigned>((nq + 127) / 128), 128, 0, stream>>>(
      probes, nq, n_probe, list_sizes, probe_prefix);
  KNNX_CHECK_LAUNCH(stream, sync_check, "probe_prefix_kernel");
}

void launch_ivf_scan(const float* data, int dp, const float* queries, int nq,
                     const std::int64_t* probes, const std::int32_t* probe_prefix,
                     const std::int64_t* list_sizes, int n_probe, const std::int64_t* list_offsets,
                     Metric metric, int k, int chunks, int rows_per_chunk, int threads,
                     const std::uint32_t* allowed, std::uint32_t* out_keys, std::int32_t* out_rows,
                     const FinalMerge& final_merge, cudaStream_t stream, bool sync_check) {
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(allowed, [&](auto f) {
      scan_tpb<decltype(m)::value, decltype(f)::value>(
          threads, data, dp, queries, nq, probes, probe_prefix, list_sizes, n_probe, list_offsets,
          k, chunks, rows_per_chunk, allowed, out_keys, out_rows, final_merge, stream);
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "ivf_scan_kernel");
}

void launch_ivf_distances(const float* data, int dp, const float* queries, int nq,
                          const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                          const std::int64_t* list_offsets, Metric metric, int max_candidates,
                          const std::uint32_t* allowed, std::uint32_t* out_keys,
                          std::int32_t* out_rows, cudaStream_t stream, bool sync_check) {
  const unsigned parts = static_cast<unsigned>(std::min(64, (max_candidates + 255) / 256));
  const dim3 grid(static_cast<unsigned>(nq), std::max(1u, parts));
  const auto* d4 = reinterpret_cast<const float4*>(data);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  dispatch_metric(metric, [&](auto m) {
    dispatch_filtered(allowed, [&](auto f) {
      ivf_distances_kernel<decltype(m)::value, decltype(f)::value>
          <<<grid, 256, 0, stream>>>(d4, dp / 4, q4, probes, probe_prefix, n_probe, list_offsets,
                                     max_candidates, allowed, out_keys, out_rows);
    });
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "ivf_distances_kernel");
}

void launch_ivf_range(const float* data, int dp, const float* queries, int nq,
                      const std::int64_t* probes, const std::int32_t* probe_prefix, int n_probe,
                      const std::int64_t* list_offsets, Metric metric, float radius, int chunks,
                      int rows_per_chunk, const std::uint32_t* allowed, int* counters,
                      const RangeOutput* fill, cudaStream_t stream, bool sync_check) {
  if (nq == 0) return;
  const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(std::max(chunks, 1)));
  const auto* d4 = reinterpret_cast<const float4*>(data);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  const RangeOutput out = fill ? *fill : RangeOutput{};
  dispatch_metric(metric, [&](auto m) {
    if (fill) {
      ivf_range_kernel<decltype(m)::value, true>
          <<<grid, 256, 0, stream>>>(d4, dp / 4, q4, probes, probe_prefix, n_probe, list_offsets,
                                     radius, rows_per_chunk, allowed, counters, out);
    } else {
      ivf_range_kernel<decltype(m)::value, false>
          <<<grid, 256, 0, stream>>>(d4, dp / 4, q4, probes, probe_prefix, n_probe, list_offsets,
                                     radius, rows_per_chunk, allowed, counters, out);
    }
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "ivf_range_kernel");
}

}  // namespace knnx::cuda
