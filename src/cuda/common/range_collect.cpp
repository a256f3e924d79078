#include "cuda/common/range_collect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <numeric>
#include <vector>

#include "cuda/runtime/check.hpp"
#include "cuda/runtime/memory.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {

void collect_range_chunk(StreamContext& ctx, int nq, Metric metric, std::int64_t budget_bytes,
                         const std::int64_t* ids, const RangeCountPass& count,
                         const std::function<void()>& counted, const RangeFillPass& fill,
                         idx_t result_first, RangeSearchResult& result) {
  if (nq == 0) return;
  const cudaStream_t s = ctx.stream();
  const std::size_t n = static_cast<std::size_t>(nq);
  DeviceBuffer<int> counts(n, s);
  DeviceBuffer<int> cursors(n, s);
  KNNX_CUDA_CHECK(cudaMemsetAsync(counts.data(), 0, sizeof(int) * n, s));
  count(counts.data());
  std::vector<int> host_counts(n);
  KNNX_CUDA_CHECK(cudaMemcpyAsync(host_counts.data(), counts.data(), sizeof(int) * n,
                                  cudaMemcpyDeviceToHost, s));
  ctx.synchronize();
  counted();

  const bool l2 = metric == Metric::L2;
  const std::int64_t budget_hits =
      std::max<std::int64_t>(1, budget_bytes / static_cast<std::int64_t>(sizeof(float) + 8));
  try {
    for (int first = 0; first < nq;) {
      // The longest run of queries from `first` whose hits fit the budget (at least one).
      int end = first;
      std::int64_t hits = 0;
      while (end < nq && (end == first || hits + host_counts[end] <= budget_hits)) {
        hits += host_counts[end++];
      }
      const int group = end - first;
      std::vector<std::int64_t> offsets(static_cast<std::size_t>(group));
      std::int64_t at = 0;
      for (int i = 0; i < group; ++i) {
        offsets[static_cast<std::size_t>(i)] = at;
        at += host_counts[static_cast<std::size_t>(first + i)];
      }
      std::vector<float> distances(static_cast<std::size_t>(hits));
      std::vector<std::int64_t> labels(static_cast<std::size_t>(hits));
      if (hits > 0) {
        const std::size_t cap = static_cast<std::size_t>(hits);
        DeviceBuffer<std::int64_t> dev_offsets(static_cast<std::size_t>(group), s);
        DeviceBuffer<float> dev_distances(cap, s);
        DeviceBuffer<std::int64_t> dev_labels(cap, s);
        KNNX_CUDA_CHECK(cudaMemcpyAsync(dev_offsets.data(), offsets.data(),
                                        sizeof(std::int64_t) * offsets.size(),
                                        cudaMemcpyHostToDevice, s));
        KNNX_CUDA_CHECK(cudaMemsetAsync(cursors.data(), 0, sizeof(int) * group, s));
        const RangeOutput out{dev_offsets.data(), counts.data() + first, ids, dev_distances.data(),
                              dev_labels.data()};
        fill(first, group, cursors.data(), out);
        KNNX_CUDA_CHECK(cudaMemcpyAsync(distances.data(), dev_distances.data(), sizeof(float) * cap,
                                        cudaMemcpyDeviceToHost, s));
        KNNX_CUDA_CHECK(cudaMemcpyAsync(labels.data(), dev_labels.data(),
                                        sizeof(std::int64_t) * cap, cudaMemcpyDeviceToHost, s));
        std::vector<int> filled(static_cast<std::size_t>(group));
        KNNX_CUDA_CHECK(cudaMemcpyAsync(filled.data(), cursors.data(), sizeof(int) * group,
                                        cudaMemcpyDeviceToHost, s));
        ctx.synchronize();
        // Both passes score alike, so they find the same hits; a difference would leave slots
        // unwritten, and is reported rather than returned.
        for (int i = 0; i < group; ++i) {
          const int want = host_counts[static_cast<std::size_t>(first + i)];
          if (filled[static_cast<std::size_t>(i)] != want) {
            throw CudaError(fmt::format(
                "GPU range search: the fill pass found {} hits for query {} of a chunk where the "
                "count pass found {}",
                filled[static_cast<std::size_t>(i)], first + i, want));
          }
        }
      }
      // Each query's hits best first, equal distances by ascending label (the CPU's order).
      std::vector<std::size_t> order;
      for (int i = 0; i < group; ++i) {
        const std::size_t b = static_cast<std::size_t>(offsets[static_cast<std::size_t>(i)]);
        const std::size_t e =
            b + static_cast<std::size_t>(host_counts[static_cast<std::size_t>(first + i)]);
        order.resize(e - b);
        std::iota(order.begin(), order.end(), b);
        std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
          if (distances[x] != distances[y]) {
            return l2 ? distances[x] < distances[y] : distances[x] > distances[y];
          }
          return labels[x] < labels[y];
        });
        for (std::size_t j : order) {
          result.distances.push_back(distances[j]);
          result.labels.push_back(labels[j]);
        }
        result.lims[static_cast<std::size_t>(result_first + first + i) + 1] =
            static_cast<idx_t>(result.labels.size());
      }
      first = end;
    }
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format(
        "the results of a range search of {} queries do not fit in host memory (lower the "
        "radius or search fewer queries at once)",
        nq));
  }
}

}  // namespace knnx::cuda
