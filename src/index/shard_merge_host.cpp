#include "index/shard_merge_host.hpp"

#include <cstddef>
#include <vector>

#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "knnx/config.hpp"

namespace knnx::detail {

void merge_shard_results(int n_shards, idx_t nq, int k, Metric metric, const float* distances,
                         const idx_t* labels, float* out_distances, idx_t* out_labels) {
  const bool ip = metric == Metric::InnerProduct;
  const float empty = empty_distance(metric);
  const std::size_t list_stride = static_cast<std::size_t>(nq) * k;
  ParallelErrors errors;
  const int threads = cpu::cpu_threads(config().num_threads);
#pragma omp parallel for schedule(static) num_threads(threads) if (nq >= 64)
  for (idx_t q = 0; q < nq; ++q)
    errors.run([&] {
      std::vector<int> cursor(static_cast<std::size_t>(n_shards), 0);
      const std::size_t base = static_cast<std::size_t>(q) * k;
      for (int j = 0; j < k; ++j) {
        int best = -1;
        float best_d = 0.0f;
        idx_t best_l = 0;
        for (int s = 0; s < n_shards; ++s) {
          const int c = cursor[static_cast<std::size_t>(s)];
          if (c >= k) continue;
          const std::size_t at = s * list_stride + base + c;
          const idx_t l = labels[at];
          if (l < 0) {
            cursor[static_cast<std::size_t>(s)] = k;
            continue;
          }
          const float d = distances[at];
          if (best < 0 || (ip ? d > best_d : d < best_d) || (d == best_d && l < best_l)) {
            best = s;
            best_d = d;
            best_l = l;
          }
        }
        if (best < 0) {
          for (int r = j; r < k; ++r) {
            out_distances[base + r] = empty;
            out_labels[base + r] = kNoLabel;
          }
          break;
        }
        out_distances[base + j] = best_d;
        out_labels[base + j] = best_l;
        ++cursor[static_cast<std::size_t>(best)];
      }
    });
  errors.rethrow("merging shard results");
}

}  // namespace knnx::detail
