// One thread per query walks the shards' lists with a cursor each: k steps of a comparison over
// the list heads. The lists are already sorted, so this is O(k x shards) per query, and it is
// deterministic (the block selection of the single-index merge keeps an arbitrary subset of
// candidates tied at the k-th key; here ties go to the smaller label).
#include <cuda_runtime.h>

#include <cmath>

#include "cuda/common/metric_dispatch.hpp"
#include "cuda/multi/shard_merge.hpp"
#include "cuda/multi/shard_merge_kernels.hpp"
#include "cuda/runtime/check.hpp"

namespace knnx::cuda {
namespace {

constexpr int kThreads = 128;

template <Metric M>
__global__ void shard_merge_kernel(const float* __restrict__ distances,
                                   const std::int64_t* __restrict__ labels, int n_shards, int nq,
                                   int k, float* __restrict__ out_distances,
                                   std::int64_t* __restrict__ out_labels) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  int cursor[kMaxDeviceMergeShards];
  for (int s = 0; s < n_shards; ++s) cursor[s] = 0;
  const std::size_t list_stride = static_cast<std::size_t>(nq) * k;
  const std::size_t base = static_cast<std::size_t>(q) * k;
  const float empty = kIsL2<M> ? INFINITY : -INFINITY;
  for (int j = 0; j < k; ++j) {
    int best = -1;
    float best_d = 0.0f;
    std::int64_t best_l = 0;
    for (int s = 0; s < n_shards; ++s) {
      const int c = cursor[s];
      if (c >= k) continue;
      const std::size_t at = s * list_stride + base + c;
      const std::int64_t l = labels[at];
      if (l < 0) {
        cursor[s] = k;  // the rest of this list is padding
        continue;
      }
      const float d = distances[at];
      const bool better =
          best < 0 || (kIsL2<M> ? d < best_d : d > best_d) || (d == best_d && l < best_l);
      if (better) {
        best = s;
        best_d = d;
        best_l = l;
      }
    }
    if (best < 0) {
      for (int r = j; r < k; ++r) {
        out_distances[base + r] = empty;
        out_labels[base + r] = -1;
      }
      return;
    }
    out_distances[base + j] = best_d;
    out_labels[base + j] = best_l;
    ++cursor[best];
  }
}

}  // namespace

void launch_shard_merge(const float* distances, const std::int64_t* labels, int n_shards, int nq,
                        int k, Metric metric, float* out_distances, std::int64_t* out_labels,
                        cudaStream_t stream, bool sync_check) {
  if (nq <= 0) return;
  const unsigned blocks = static_cast<unsigned>((nq + kThreads - 1) / kThreads);
  dispatch_metric(metric, [&](auto m) {
    shard_merge_kernel<decltype(m)::value><<<blocks, kThreads, 0, stream>>>(
        distances, labels, n_shards, nq, k, out_distances, out_labels);
  });
  KNNX_CHECK_LAUNCH(stream, sync_check, "shard_merge_kernel");
}

}  // namespace knnx::cuda
