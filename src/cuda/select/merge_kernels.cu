// Merge kernels: partial (key, row) lists folded into final results or into fewer lists.
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/launch.hpp"
#include "cuda/select/block_select.cuh"
#include "cuda/select/block_select_store.cuh"
#include "cuda/select/merge_kernels.hpp"

namespace knnx::cuda {
namespace {

constexpr int kThreads = kSelectThreads;  // 256: 8 warps
constexpr int kRound = 4 * kThreads;      // candidates offered per round

// kPer candidates per thread per round: 4 in general; 16 for short inputs (<= 2 rounds of
// 4096), where the larger buffer means a single flush instead of one every round or two.
template <int kPer>
__global__ void __launch_bounds__(kThreads)
    merge_kernel(const std::uint32_t* __restrict__ in_keys,
                 const std::int32_t* __restrict__ in_rows, int n_in, Metric metric, int k,
                 const float* __restrict__ qnorms, const std::int64_t* __restrict__ ids,
                 float* __restrict__ distances, std::int64_t* __restrict__ labels) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int kMergeRound = kPer * kThreads;
  const int query = blockIdx.x;
  const std::uint32_t* keys = in_keys + static_cast<std::int64_t>(query) * n_in;
  const std::int32_t* rows = in_rows + static_cast<std::int64_t>(query) * n_in;
  BlockSelect sel(smem, k, kMergeRound);
  sel.init();
  for (int j0 = 0; j0 < n_in; j0 += kMergeRound) {
    sel.begin_round(kMergeRound);
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
      const int j = j0 + u * kThreads + threadIdx.x;
      const bool in = j < n_in;
      const std::int32_t row = in ? rows[j] : -1;
      sel.offer(row >= 0, in ? keys[j] : kKeyMax, row);
    }
  }
  sel.finish();
  sel.sort();
  const std::int64_t out = static_cast<std::int64_t>(query) * k;
  store_final(sel, k, metric, qnorms ? qnorms[query] : 0.0f, qnorms != nullptr, ids,
              distances + out, labels + out);
}

// Block (q, g) reduces partial results [g*per_group, (g+1)*per_group) of query q to its best
// k, written to out[q][g][0..k): one level of a merge tree.
__global__ void __launch_bounds__(kThreads)
    merge_partial_kernel(const std::uint32_t* __restrict__ in_keys,
                         const std::int32_t* __restrict__ in_rows, int n_in, int per_group, int k,
                         std::uint32_t* __restrict__ out_keys,
                         std::int32_t* __restrict__ out_rows) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int query = blockIdx.x;
  const int g = blockIdx.y;
  const int begin = g * per_group;
  const int end = min(n_in, begin + per_group);
  const std::uint32_t* keys = in_keys + static_cast<std::int64_t>(query) * n_in;
  const std::int32_t* rows = in_rows + static_cast<std::int64_t>(query) * n_in;
  BlockSelect sel(smem, k, kRound);
  sel.init();
  for (int j0 = begin; j0 < end; j0 += kRound) {
    sel.begin_round(kRound);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int j = j0 + u * kThreads + threadIdx.x;
      const bool in = j < end;
      const std::int32_t row = in ? rows[j] : -1;
      sel.offer(row >= 0, in ? keys[j] : kKeyMax, row);
    }
  }
  sel.finish();
  const std::int64_t out = (static_cast<std::int64_t>(query) * gridDim.y + g) * k;
  store_partial(sel, k, out_keys + out, out_rows + out);
}

}  // namespace

void launch_merge(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq, int n_in,
                  Metric metric, int k, const float* qnorms, const std::int64_t* ids,
                  float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check) {
  constexpr int kShortRound = 16 * kThreads;
  if (n_in > kRound && n_in <= 2 * kShortRound && k <= 2048) {
    const std::size_t smem = select_smem_bytes(k, kShortRound);
    set_smem(reinterpret_cast<const void*>(&merge_kernel<16>), smem);
    merge_kernel<16><<<static_cast<unsigned>(nq), kThreads, smem, stream>>>(
        in_keys, in_rows, n_in, metric, k, qnorms, ids, distances, labels);
  } else {
    const std::size_t smem = select_smem_bytes(k, kRound);
    set_smem(reinterpret_cast<const void*>(&merge_kernel<4>), smem);
    merge_kernel<4><<<static_cast<unsigned>(nq), kThreads, smem, stream>>>(
        in_keys, in_rows, n_in, metric, k, qnorms, ids, distances, labels);
  }
  KNNX_CHECK_LAUNCH(stream, sync_check, "merge_kernel");
}

void launch_merge_partial(const std::uint32_t* in_keys, const std::int32_t* in_rows, int nq,
                          int n_in, int groups, int k, std::uint32_t* out_keys,
                          std::int32_t* out_rows, cudaStream_t stream, bool sync_check) {
  const std::size_t smem = select_smem_bytes(k, kRound);
  set_smem(reinterpret_cast<const void*>(&merge_partial_kernel), smem);
  const int per_group = (n_in + groups - 1) / groups;
  const dim3 grid(static_cast<unsigned>(nq), static_cast<unsigned>(groups));
  merge_partial_kernel<<<grid, kThreads, smem, stream>>>(in_keys, in_rows, n_in, per_group, k,
                                                         out_keys, out_rows);
  KNNX_CHECK_LAUNCH(stream, sync_check, "merge_partial_kernel");
}

}  // namespace knnx::cuda
