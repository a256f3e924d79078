#include "cpu/flat_search.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "core/metric_dispatch.hpp"
#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "cpu/scan_kernels.hpp"
#include "cpu/topk.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

using detail::ParallelErrors;

// Bytes of base rows one direct-kernel step covers: small enough to stay in L2 while each group
// of queries passes over them.
constexpr idx_t kDirectChunkBytes = 128 * 1024;
// Fewest queries per thread for which threads take separate query blocks; with fewer (and at
// most one query block) the threads split the base instead, keeping the sgemm's query
// dimension large. Either way a thread holds collectors for at most one query block.
constexpr idx_t kMinQueriesPerThread = 64;

// One search's inputs; the metric is the scan functions' template argument.
struct Scan {
  const float* base;
  const float* base_norms;  // read for L2 only
  idx_t n;
  int d;
  const float* queries;
  const float* qnorms;    // zeros for inner product
  const IDSelector* sel;  // null: every row is admitted
  const idx_t* row_ids;   // ids of the rows, for sel
};

// Tiles hold alpha * q.x: the L2 score adds the norms to -2 q.x, inner product ranks -q.x.
template <Metric M>
inline constexpr float kAlpha = detail::kIsL2<M> ? -2.0f : -1.0f;

// BLAS threads: every sgemm runs inside one of the parallel regions below, on the thread that
// calls it. A region of one thread (few base chunks, or KNNX_NUM_THREADS=1) is not an active
// parallel region, so the OpenMP build of OpenBLAS would start its own threads there — more
// threads than KNNX_NUM_THREADS asks for, and, when several searches run at once, all of them
// queueing for OpenBLAS's one set of threading buffers. Each region therefore sets its threads'
// OpenMP thread count to 1 first, as the IVF scan and k-means do.

// Tile of queries [q0, q0+qb) against base rows [b0, b0+bb) into per-query collectors.
template <Metric M>
void gemm_tile(const Scan& s, idx_t q0, idx_t qb, idx_t b0, idx_t bb, float* tile, TopK* topk) {
  sgemm_abt(qb, bb, s.d, kAlpha<M>, s.queries + q0 * s.d, s.base + b0 * s.d, tile);
  const float* bn = detail::kIsL2<M> ? s.base_norms + b0 : nullptr;
  const idx_t* ids = s.sel ? s.row_ids + b0 : nullptr;
  for (idx_t i = 0; i < qb; ++i) {
    topk[i].push_tile_row<M>(tile + i * bb, bn, s.qnorms[q0 + i], bb, b0, s.sel, ids);
  }
}

// Per-thread buffers, allocated before a parallel region so that a failure throws on the caller.
template <typename T>
std::vector<std::vector<T>> per_thread(int threads, std::size_t count, const T& value,
                                       const char* what) {
  try {
    return std::vector<std::vector<T>>(static_cast<std::size_t>(threads),
                                       std::vector<T>(count, value));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(
        fmt::format("CPU flat search: {} threads x {} {} do not fit in host memory (lower "
                    "KNNX_CPU_QUERY_BLOCK, KNNX_CPU_BASE_BLOCK or KNNX_NUM_THREADS)",
                    threads, count, what));
  }
}

// Each thread owns whole query blocks and scans the whole base for them.
template <Metric M>
void search_by_query_blocks(const Scan& s, idx_t nq, int k, idx_t qblock, idx_t bblock, int threads,
                            float* distances, idx_t* labels, bool negate, float pad) {
  const idx_t n_qblocks = (nq + qblock - 1) / qblock;
  const idx_t tile_cols = std::min(bblock, std::max<idx_t>(s.n, 1));
  threads = static_cast<int>(std::clamp<idx_t>(n_qblocks, 1, threads));
  auto tiles =
      per_thread(threads, static_cast<std::size_t>(qblock * tile_cols), 0.0f, "tile floats");
  auto collectors = per_thread(threads, static_cast<std::size_t>(qblock), TopK(k), "collectors");
  ParallelErrors errors;
#pragma omp parallel num_threads(threads)
  {
    omp_set_num_threads(1);  // sgemm on this thread alone, also in a team of one
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    float* tile = tiles[t].data();
    std::vector<TopK>& topk = collectors[t];
#pragma omp for schedule(dynamic, 1)
    for (idx_t qbi = 0; qbi < n_qblocks; ++qbi) {
      errors.run([&] {
        const idx_t q0 = qbi * qblock;
        const idx_t qb = std::min(qblock, nq - q0);
        for (idx_t i = 0; i < qb; ++i) topk[static_cast<std::size_t>(i)].reset(k);
        for (idx_t b0 = 0; b0 < s.n; b0 += bblock) {
          gemm_tile<M>(s, q0, qb, b0, std::min(bblock, s.n - b0), tile, topk.data());
        }
        for (idx_t i = 0; i < qb; ++i) {
          topk[static_cast<std::size_t>(i)].write(distances + (q0 + i) * k, labels + (q0 + i) * k,
                                                  negate, pad);
        }
      });
    }
  }
  errors.rethrow("CPU flat search");
}

// Threads split the base into chunks of `chunk` rows; each keeps collectors for every query,
// merged at the end. score_chunk(c0, len, tile, topk) scores rows [c0, c0+len) for all queries.
template <typename ScoreChunk>
void search_by_base_chunks(idx_t n, idx_t nq, int k, idx_t chunk, int threads, float* distances,
                           idx_t* labels, bool negate, float pad, std::size_t tile_floats,
                           ScoreChunk score_chunk) {
  const idx_t n_chunks = (n + chunk - 1) / chunk;
  threads = static_cast<int>(std::clamp<idx_t>(n_chunks, 1, threads));
  auto partial = per_thread(threads, static_cast<std::size_t>(nq), TopK(k), "collectors");
  auto tiles = per_thread(threads, tile_floats, 0.0f, "tile floats");
  ParallelErrors errors;
#pragma omp parallel num_threads(threads)
  {
    omp_set_num_threads(1);  // sgemm on this thread alone, also in a team of one
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    std::vector<TopK>& topk = partial[t];
    float* tile = tiles[t].data();
#pragma omp for schedule(dynamic, 1)
    for (idx_t c = 0; c < n_chunks; ++c) {
      errors.run([&] {
        const idx_t c0 = c * chunk;
        score_chunk(c0, std::min(chunk, n - c0), tile, topk.data());
      });
    }
  }
  errors.rethrow("CPU flat search");
#pragma omp parallel for schedule(static) num_threads(threads) if (nq > 1)
  for (idx_t q = 0; q < nq; ++q) {
    errors.run([&] {
      TopK& merged = partial[0][static_cast<std::size_t>(q)];
      for (std::size_t t = 1; t < partial.size(); ++t) {
        merged.merge(partial[t][static_cast<std::size_t>(q)]);
      }
      merged.write(distances + q * k, labels + q * k, negate, pad);
    });
  }
  errors.rethrow("CPU flat search");
}

}  // namespace

FlatSearchParams flat_search_params(int num_threads) {
  const Config cfg = config();
  return FlatSearchParams{cfg.cpu_query_block, cfg.cpu_base_block, num_threads,
                          cfg.cpu_direct_max_nq};
}

FlatSearchParams flat_search_params(const detail::SearchKnobs& knobs) {
  return FlatSearchParams{knobs.cpu_query_block, knobs.cpu_base_block, knobs.num_threads,
                          knobs.cpu_direct_max_nq};
}

void row_norms_sq(idx_t n, int d, const float* x, float* out) {
#pragma omp parallel for schedule(static) if (n * d > (1 << 16))
  for (idx_t i = 0; i < n; ++i) {
    const float* r = x + i * d;
    float s = 0.0f;
    for (int j = 0; j < d; ++j) s += r[j] * r[j];
    out[i] = s;
  }
}

namespace {

template <Metric M>
void search_finite(const float* base, const float* base_norms, idx_t n, int d, const float* queries,
                   idx_t nq, int k, float* distances, idx_t* labels, const FlatSearchParams& params,
                   const IDSelector* sel, const idx_t* row_ids) {
  constexpr bool negate = !detail::kIsL2<M>;  // inner-product scores are negated products
  const float pad = empty_distance(M);
  const int threads = cpu_threads(params.num_threads);
  // Each thread holds a block of collectors: with a large k, fewer queries a block keep them
  // within kCollectorBudgetBytes (at k = 16384 a collector holds up to 384 KiB).
  const idx_t qblock_budget = static_cast<idx_t>(
      kCollectorBudgetBytes / (static_cast<std::size_t>(threads) * TopK::collector_bytes(k)));
  const idx_t qblock_max = std::clamp<idx_t>(qblock_budget, 1, std::max(1, params.query_block));
  const idx_t bblock = std::max(16, params.base_block);

  std::vector<float> qnorms(static_cast<std::size_t>(nq), 0.0f);
  if constexpr (detail::kIsL2<M>) row_norms_sq(nq, d, queries, qnorms.data());
  const Scan s{base, base_norms, n, d, queries, qnorms.data(), sel, row_ids};

  // Up to a few queries, distances come from small_batch_products reading the base straight
  // from memory: sgemm would first pack every base block, which costs more than the arithmetic
  // when each packed row serves few queries. Where sgemm catches up depends on the CPU.
  const int direct_max =
      params.direct_max_queries > 0 ? params.direct_max_queries : flat_direct_max_queries();
  if (nq <= direct_max && nq <= qblock_max) {
    const idx_t chunk = std::max<idx_t>(8, kDirectChunkBytes / (static_cast<idx_t>(d) * 4) / 8 * 8);
    search_by_base_chunks(
        n, nq, k, chunk, threads, distances, labels, negate, pad,
        static_cast<std::size_t>(nq * chunk),
        [&](idx_t c0, idx_t len, float* tile, TopK* topk) {
          for (idx_t q0 = 0; q0 < nq; q0 += kSmallBatchMax) {
            const int g = static_cast<int>(std::min<idx_t>(kSmallBatchMax, nq - q0));
            small_batch_products(queries + q0 * d, g, base + c0 * d, len, d, kAlpha<M>,
                                 tile + q0 * chunk, chunk);
          }
          const float* bn = detail::kIsL2<M> ? base_norms + c0 : nullptr;
          const idx_t* ids = sel ? row_ids + c0 : nullptr;
          for (idx_t i = 0; i < nq; ++i) {
            topk[i].push_tile_row<M>(tile + i * chunk, bn, qnorms[static_cast<std::size_t>(i)], len,
                                     c0, sel, ids);
          }
        });
    return;
  }

  if (nq > qblock_max || nq >= kMinQueriesPerThread * threads) {
    // As many blocks as the knob's size asks for, rounded up to a multiple of the thread count
    // so every thread gets the same number of equally sized blocks.
    idx_t n_blocks = (nq + qblock_max - 1) / qblock_max;
    n_blocks = (n_blocks + threads - 1) / threads * threads;
    const idx_t qblock = (nq + n_blocks - 1) / n_blocks;
    search_by_query_blocks<M>(s, nq, k, qblock, bblock, threads, distances, labels, negate, pad);
    return;
  }

  // One query block, too small to split between the threads: they split the base instead.
  search_by_base_chunks(n, nq, k, bblock, threads, distances, labels, negate, pad,
                        static_cast<std::size_t>(nq * std::min(bblock, n)),
                        [&](idx_t b0, idx_t bb, float* tile, TopK* topk) {
                          gemm_tile<M>(s, 0, nq, b0, bb, tile, topk);
                        });
}

// Rows whose score is not finite (vectors so large that the distance overflows float: +inf, or
// NaN from inf - inf) never enter a top-k, whose bound starts at +inf. An exact search still
// owes min(k, n) results: the missing ones are such rows, at the worst distance, smallest row
// first (the order of equal scores). Runs only for queries that came up short. With a selector,
// only admitted rows count: a short query then took every admitted row of finite score.
void complete_with_overflowed_rows(idx_t n, idx_t nq, int k, Metric metric, float* distances,
                                   idx_t* labels, const IDSelector* sel, const idx_t* row_ids) {
  const idx_t want = std::min<idx_t>(k, n);
  const float worst = empty_distance(metric);
  for (idx_t q = 0; q < nq; ++q) {
    idx_t* lab = labels + q * k;
    const idx_t found = std::find(lab, lab + k, idx_t{-1}) - lab;
    if (found >= want) continue;
    std::vector<idx_t> taken(lab, lab + found);
    std::sort(taken.begin(), taken.end());
    idx_t next = found;
    for (idx_t row = 0; row < n && next < want; ++row) {
      if (sel && !sel->is_member(row_ids[row])) continue;
      if (std::binary_search(taken.begin(), taken.end(), row)) continue;
      lab[next] = row;
      distances[q * k + next] = worst;
      ++next;
    }
  }
}

}  // namespace

void flat_search(const float* base, const float* base_norms, idx_t n, int d, Metric metric,
                 const float* queries, idx_t nq, int k, float* distances, idx_t* labels,
                 const FlatSearchParams& params, const IDSelector* sel, const idx_t* row_ids) {
  detail::dispatch_metric(metric, [&](auto m) {
    search_finite<decltype(m)::value>(base, base_norms, n, d, queries, nq, k, distances, labels,
                                      params, sel, row_ids);
  });
  complete_with_overflowed_rows(n, nq, k, metric, distances, labels, sel, row_ids);
}

}  // namespace knnx::cpu
