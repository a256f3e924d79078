// IVF "shared candidates" scan: the probe lists are turned list-major (for each list, the
// queries that probe it), and one block scans a list once for a group of up to kGroup queries,
// so a list probed by many queries is read from memory once per group instead of once per
// query. Each thread owns one row of the current round and computes its score against every
// query of the group (query vectors broadcast from shared memory); each query keeps its own
// top-k (k <= kSharedMaxK) in shared memory, fed by warp ballots and reduced by warp-level
// selection. Results go to the query's probe slot; a per-query merge follows.
#include <cub/device/device_scan.cuh>

#include "cuda/ivf/ivf_kernels.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/radix_key.cuh"

namespace knnx::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kGroup = 16;        // queries per group
constexpr int kCand = 512;        // candidate buffer per query
constexpr int kChunk = 8;         // float4s of a row held in registers at a time

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
  std::uint32_t* keys;  // [kGroup][kSharedMaxK + kCand]
  std::int32_t* rows;
  int* n_top;           // [kGroup]
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
      if (key < best || (key == best && best_slot < 0)) {
        best = key;
        best_slot = slot;
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const std::uint32_t ok = __shfl_xor_sync(0xFFFFFFFFu, best, off);
      const int os = __shfl_xor_sync(0xFFFFFFFFu, best_slot, off);
      if (ok < best || (ok == best && os >= 0 && (best_slot < 0 || os < best_slot))) {
        best = ok;
        best_slot = os;
      }
    }
    if (lane == 0 && best_slot >= 0) {
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

template <bool kL2>
__global__ void __launch_bounds__(kThreads)
    ivf_shared_scan_kernel(const float4* __restrict__ data, int dp4,
                           const float4* __restrict__ queries, int n_probe,
                           const int* __restrict__ starts, const int* __restrict__ pairs,
                           const std::int64_t* __restrict__ list_sizes,
                           const std::int64_t* __restrict__ list_offsets, int k,
                           std::uint32_t* __restrict__ out_keys,
                           std::int32_t* __restrict__ out_rows) {
  extern __shared__ __align__(16) unsigned char smem[];
  float4* qs = reinterpret_cast<float4*>(smem);  // [kGroup][dp4]
  SharedState s;
  s.keys = reinterpret_cast<std::uint32_t*>(qs + kGroup * dp4);
  s.rows = reinterpret_cast<std::int32_t*>(s.keys + kGroup * kStride);
  s.tmp_keys = reinterpret_cast<std::uint32_t*>(s.rows + kGroup * kStride);
  s.tmp_rows = reinterpret_cast<std::int32_t*>(s.tmp_keys + kWarps * kSharedMaxK);
  s.n_top = reinterpret_cast<int*>(s.tmp_rows + kWarps * kSharedMaxK);
  s.n_cand = s.n_top + kGroup;
  s.tau = reinterpret_cast<std::uint32_t*>(s.n_cand + kGroup);
  int* pair_of = reinterpret_cast<int*>(s.tau + kGroup);  // [kGroup]

  const int list = blockIdx.x;
  const int first = starts[list];
  const int count = starts[list + 1] - first;
  const std::int64_t size = list_sizes[list];
  const std::int64_t offset = list_offsets[list];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;

  for (int g0 = blockIdx.y * kGroup; g0 < count; g0 += gridDim.y * kGroup) {
    const int ng = min(kGroup, count - g0);
    __syncthreads();  // the previous group's outputs are written
    for (int i = threadIdx.x; i < kGroup; i += kThreads) {
      pair_of[i] = i < ng ? pairs[first + g0 + i] : -1;
      s.n_top[i] = 0;
      s.n_cand[i] = 0;
      s.tau[i] = kKeyMax;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kGroup * dp4; i += kThreads) {
      const int g = i / dp4;  // setup only, not the hot loop
      const int c = i - g * dp4;
      qs[i] = g < ng ? queries[static_cast<std::int64_t>(pair_of[g] / n_probe) * dp4 + c]
                     : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    __syncthreads();

    for (std::int64_t r0 = 0; r0 < size; r0 += kThreads) {
      // Make room: any query whose buffer could overflow this round is reduced first.
      __syncthreads();
      for (int g = warp; g < ng; g += kWarps) {
        if (s.n_cand[g] > kCand - kThreads) warp_flush(s, g, k);
      }
      __syncthreads();
      const std::int64_t r = r0 + threadIdx.x;
      const bool valid = r < size;
      const float4* row = data + (offset + (valid ? r : 0)) * dp4;
      float acc[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) acc[g] = 0.0f;
      for (int c0 = 0; c0 < dp4; c0 += kChunk) {
        float4 x[kChunk];
#pragma unroll
        for (int f = 0; f < kChunk; ++f) {
          x[f] = (c0 + f < dp4) ? __ldg(row + c0 + f) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          const float4* qg = qs + g * dp4 + c0;
#pragma unroll
          for (int f = 0; f < kChunk; ++f) {
            if (c0 + f < dp4) {
              const float4 q = qg[f];
              if constexpr (kL2) {
                const float a = x[f].x - q.x, b = x[f].y - q.y, c = x[f].z - q.z,
                            d = x[f].w - q.w;
                acc[g] = fmaf(a, a, fmaf(b, b, fmaf(c, c, fmaf(d, d, acc[g]))));
              } else {
                acc[g] = fmaf(x[f].x, q.x,
                              fmaf(x[f].y, q.y, fmaf(x[f].z, q.z, fmaf(x[f].w, q.w, acc[g]))));
              }
            }
          }
        }
      }
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        if (g >= ng) break;  // uniform across the block
        const std::uint32_t key = float_to_key(kL2 ? acc[g] : -acc[g]);
        const bool pass = valid && key < s.tau[g];
        const unsigned mask = __ballot_sync(0xFFFFFFFFu, pass);
        if (mask == 0) continue;
        int base = 0;
        if (lane == 0) base = atomicAdd(&s.n_cand[g], __popc(mask));
        base = __shfl_sync(0xFFFFFFFFu, base, 0);
        if (pass) {
          const int pos = kSharedMaxK + base + __popc(mask & ((1u << lane) - 1u));
          s.keys[g * kStride + pos] = key;
          s.rows[g * kStride + pos] = static_cast<std::int32_t>(offset + r);
        }
      }
    }
    __syncthreads();
    for (int g = warp; g < ng; g += kWarps) warp_flush(s, g, k);
    __syncthreads();
    for (int g = 0; g < ng; ++g) {
      const std::int64_t out = static_cast<std::int64_t>(pair_of[g]) * k;
      const int n = s.n_top[g];
      for (int i = threadIdx.x; i < k; i += kThreads) {
        out_keys[out + i] = i < n ? s.keys[g * kStride + i] : kKeyMax;
        out_rows[out + i] = i < n ? s.rows[g * kStride + i] : -1;
      }
    }
  }
}

}  // namespace

std::size_t ivf_shared_smem_bytes(int dp) {
  return static_cast<std::size_t>(kGroup) * dp * 4 + 2ull * kGroup * kStride * 4 +
         2ull * kWarps * kSharedMaxK * 4 + 4ull * kGroup * 4;
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
  KNNX_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(scan_temp, bytes, counts, starts, n_lists + 1,
                                                stream));
  scatter_probes_kernel<<<blocks, 256, 0, stream>>>(probes, n, starts, cursor, pairs);
  KNNX_CHECK_LAUNCH(stream, sync_check, "scatter_probes_kernel");
}

std::size_t list_major_scan_temp_bytes(int n_lists) {
  std::size_t bytes = 0;
  KNNX_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<int*>(nullptr),
                                                static_cast<int*>(nullptr), n_lists + 1));
  return bytes;
}

void launch_ivf_shared_scan(const float* data, int dp, const float* queries, int n_probe,
                            int n_lists, int groups_per_list, const int* starts, const int* pairs,
                            const std::int64_t* list_sizes, const std::int64_t* list_offsets,
                            ScoreKind kind, int k, std::uint32_t* out_keys,
                            std::int32_t* out_rows, cudaStream_t stream, bool sync_check) {
  const std::size_t smem = ivf_shared_smem_bytes(dp);
  const dim3 grid(static_cast<unsigned>(n_lists), static_cast<unsigned>(groups_per_list));
  const auto* d4 = reinterpret_cast<const float4*>(data);
  const auto* q4 = reinterpret_cast<const float4*>(queries);
  if (kind == ScoreKind::L2) {
    set_smem(reinterpret_cast<const void*>(&ivf_shared_scan_kernel<true>), smem);
    ivf_shared_scan_kernel<true><<<grid, kThreads, smem, stream>>>(
        d4, dp / 4, q4, n_probe, starts, pairs, list_sizes, list_offsets, k, out_keys, out_rows);
  } else {
    set_smem(reinterpret_cast<const void*>(&ivf_shared_scan_kernel<false>), smem);
    ivf_shared_scan_kernel<false><<<grid, kThreads, smem, stream>>>(
        d4, dp / 4, q4, n_probe, starts, pairs, list_sizes, list_offsets, k, out_keys, out_rows);
  }
  KNNX_CHECK_LAUNCH(stream, sync_check, "ivf_shared_scan_kernel");
}

}  // namespace knnx::cuda
