#include "cuda/select/merge_tree.hpp"

#include <algorithm>

#include "cuda/select/merge_kernels.hpp"

namespace knnx::cuda {

void merge_partials(DeviceBuffer<std::uint32_t> keys, DeviceBuffer<std::int32_t> rows, int nq,
                    int n_in, int k, Metric metric, const float* qnorms, const std::int64_t* ids,
                    float* distances, std::int64_t* labels, cudaStream_t stream, bool sync_check) {
  constexpr int kFanIn = 8;  // partial lists of k (at least 512) entries folded per tree block
  for (;;) {
    const int groups = n_in / (kFanIn * std::max(k, 512));
    if (groups < 2) break;
    DeviceBuffer<std::uint32_t> next_keys(static_cast<std::size_t>(nq) * groups * k, stream);
    DeviceBuffer<std::int32_t> next_rows(static_cast<std::size_t>(nq) * groups * k, stream);
    launch_merge_partial(keys.data(), rows.data(), nq, n_in, groups, k, next_keys.data(),
                         next_rows.data(), stream, sync_check);
    keys.swap(next_keys);
    rows.swap(next_rows);
    n_in = groups * k;
  }
  launch_merge(keys.data(), rows.data(), nq, n_in, metric, k, qnorms, ids, distances, labels,
               stream, sync_check);
}

}  // namespace knnx::cuda
