#include "cpu/flat_search.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/blas.hpp"
#include "cpu/topk.hpp"

namespace knnx::cpu {
namespace {

// Scores (to minimise) of one tile: rows [q0, q0+qb) of queries against base rows [b0, b0+bb).
// out is qb x bb. For L2: ||q||^2 + ||x||^2 - 2 q.x clamped at 0; for IP: -q.x.
void tile_scores(const float* queries, const float* qnorms, const float* base,
                 const float* base_norms, int d, Metric metric, idx_t qb, idx_t bb, float* out) {
  const float alpha = metric == Metric::L2 ? -2.0f : -1.0f;
  sgemm_abt(qb, bb, d, alpha, queries, base, out);
  if (metric != Metric::L2) return;
  for (idx_t i = 0; i < qb; ++i) {
    float* row = out + i * bb;
    const float qn = qnorms[i];
    for (idx_t j = 0; j < bb; ++j) row[j] = std::max(row[j] + qn + base_norms[j], 0.0f);
  }
}

}  // namespace

void row_norms_sq(idx_t n, int d, const float* x, float* out) {
#pragma omp parallel for schedule(static) if (n * d > (1 << 16))
  for (idx_t i = 0; i < n; ++i) {
    const float* r = x + i * d;
    float s = 0.0f;
    for (int j = 0; j < d; ++j) s += r[j] * r[j];
    out[i] = s;
  }
}

void flat_search(const float* base, const float* base_norms, idx_t n, int d, Metric metric,
                 const float* queries, idx_t nq, int k, float* distances, idx_t* labels,
                 const FlatSearchParams& params) {
  const bool negate = metric == Metric::InnerProduct;
  const float pad = empty_distance(metric);
  const int threads = params.num_threads > 0 ? params.num_threads : omp_get_max_threads();
  const idx_t qblock = std::max(1, params.query_block);
  const idx_t bblock = std::max(16, params.base_block);

  std::vector<float> qnorms(static_cast<std::size_t>(nq), 0.0f);
  if (metric == Metric::L2) row_norms_sq(nq, d, queries, qnorms.data());

  const idx_t n_qblocks = (nq + qblock - 1) / qblock;
  const idx_t n_bblocks = (n + bblock - 1) / bblock;

  if (n_qblocks >= threads || n_bblocks <= 1) {
    // Enough query blocks: each thread owns whole query blocks and scans the whole base.
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> tile(static_cast<std::size_t>(qblock * std::min(bblock, std::max<idx_t>(n, 1))));
      std::vector<TopK> heaps(static_cast<std::size_t>(qblock));
#pragma omp for schedule(dynamic, 1)
      for (idx_t qbi = 0; qbi < n_qblocks; ++qbi) {
        const idx_t q0 = qbi * qblock;
        const idx_t qb = std::min(qblock, nq - q0);
        for (idx_t i = 0; i < qb; ++i) heaps[static_cast<std::size_t>(i)].reset(k);
        for (idx_t b0 = 0; b0 < n; b0 += bblock) {
          const idx_t bb = std::min(bblock, n - b0);
          tile_scores(queries + q0 * d, qnorms.data() + q0, base + b0 * d,
                      base_norms ? base_norms + b0 : nullptr, d, metric, qb, bb, tile.data());
          for (idx_t i = 0; i < qb; ++i) {
            heaps[static_cast<std::size_t>(i)].push_block(tile.data() + i * bb, bb, b0);
          }
        }
        for (idx_t i = 0; i < qb; ++i) {
          heaps[static_cast<std::size_t>(i)].write(distances + (q0 + i) * k,
                                                   labels + (q0 + i) * k, negate, pad);
        }
      }
    }
    return;
  }

  // Few queries: threads split the base; each keeps collectors for every query, merged after.
  std::vector<std::vector<TopK>> partial(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    std::vector<TopK>& heaps = partial[static_cast<std::size_t>(t)];
    heaps.assign(static_cast<std::size_t>(nq), TopK(k));
    std::vector<float> tile(static_cast<std::size_t>(std::min(qblock, nq) * bblock));
#pragma omp for schedule(dynamic, 1)
    for (idx_t bbi = 0; bbi < n_bblocks; ++bbi) {
      const idx_t b0 = bbi * bblock;
      const idx_t bb = std::min(bblock, n - b0);
      for (idx_t q0 = 0; q0 < nq; q0 += qblock) {
        const idx_t qb = std::min(qblock, nq - q0);
        tile_scores(queries + q0 * d, qnorms.data() + q0, base + b0 * d,
                    base_norms ? base_norms + b0 : nullptr, d, metric, qb, bb, tile.data());
        for (idx_t i = 0; i < qb; ++i) {
          heaps[static_cast<std::size_t>(q0 + i)].push_block(tile.data() + i * bb, bb, b0);
        }
      }
    }
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (idx_t q = 0; q < nq; ++q) {
    TopK& merged = partial[0][static_cast<std::size_t>(q)];
    for (int t = 1; t < threads; ++t) merged.merge(partial[static_cast<std::size_t>(t)][static_cast<std::size_t>(q)]);
    merged.write(distances + q * k, labels + q * k, negate, pad);
  }
}

}  // namespace knnx::cpu
