// CPU backend of IndexIVFPQ: queries in chunks (cpu/ivf_query_chunks.hpp), each chunk's coarse
// quantisation by flat_search over the centroids, then each query's probed lists (IvfCodeLists)
// scanned with lookup tables: float tables over row-major 8-bit codes (cpu/pq_scan.hpp), or, for
// 4-bit codes in the fast-scan blocks, each probed list's table quantized to 8 bits
// (cpu/pq4_fast_scan.hpp).
//
// Codes encode residuals r = x - c of each vector from its list's centroid c, so the distance
// from a query q to an entry of list l is, for L2,
//   ||q - c - r||^2 = ||q - c||^2 + (||r||^2 + 2 <c, r>) - 2 <q, r>
// (FAISS's precomputed-table decomposition): the first term is the coarse distance, the second
// depends only on (list, code) and is tabulated once for all queries (n_lists x M x ksub floats,
// built by prepare() when it fits detail::kMaxPrecomputedTableBytes), the third needs one table
// per query.
// A probed list's table is then the sum of two tables instead of a pass over the codebooks.
// Without the precomputed table each probed list gets the L2 tables of the query's residual
// q - c. For the inner product, <q, c + r> = <q, c> + <q, r>: the coarse score plus the query's
// own tables, with no per-list work. Codes of the vectors themselves (the fast-scan index built
// without residuals, FAISS's "IVF<n>,PQ<M>x4fs") are scored with the query's own table in every
// list.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "core/check.hpp"
#include "cpu/blas.hpp"
#include "cpu/flat_search.hpp"
#include "cpu/ivf_code_lists.hpp"
#include "cpu/ivf_query_chunks.hpp"
#include "cpu/pq4_fast_scan.hpp"
#include "cpu/pq_cpu.hpp"
#include "cpu/pq_scan.hpp"
#include "cpu/pq_tables.hpp"
#include "cpu/range_scan.hpp"
#include "cpu/topk.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

class IvfPqCpu final : public detail::IvfPqBackend {
 public:
  IvfPqCpu(int dim, int n_lists, int code_size, detail::PqLayout layout, Metric metric,
           bool by_residual)
      : dim_(dim),
        n_lists_(n_lists),
        metric_(metric),
        by_residual_(by_residual),
        lists_(n_lists, static_cast<std::size_t>(code_size),
               layout == detail::PqLayout::FastScan4) {}

  int n_lists() const override { return n_lists_; }

  void set_centroids(const float* centroids) override {
    std::vector<float> c(centroids,
                         centroids + detail::checked_elements(n_lists_, dim_, "centroids"));
    std::vector<float> norms(static_cast<std::size_t>(n_lists_));
    row_norms_sq(n_lists_, dim_, c.data(), norms.data());
    centroids_ = std::move(c);
    centroid_norms_ = std::move(norms);
    precomputed_ = std::vector<float>{};  // built from the old centroids
  }

  std::vector<float> centroids() const override {
    if (!centroids_.empty()) return centroids_;
    return std::vector<float>(detail::checked_elements(n_lists_, dim_, "centroids"), 0.0f);
  }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    std::vector<float> distances;
    try {
      distances.resize(static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate the assignment of {} vectors", n));
    }
    flat_search(centroids_.data(), centroid_norms_.data(), n_lists_, dim_, metric_, x, n, 1,
                distances.data(), lists, flat_search_params(config().num_threads));
  }

  void prepare(const ProductQuantizer& pq, bool use_table) override {
    precomputed_ = std::vector<float>{};
    if (metric_ != Metric::L2 || !by_residual_ || !use_table || centroids_.empty()) return;
    const int m = pq.M(), ds = pq.dsub(), ksub = pq.ksub();
    const std::size_t per_list = static_cast<std::size_t>(m) * ksub;
    if (static_cast<std::size_t>(n_lists_) * per_list * sizeof(float) >
        detail::kMaxPrecomputedTableBytes) {
      return;  // per-list tables at search time
    }
    std::vector<float> table;
    try {
      table.resize(static_cast<std::size_t>(n_lists_) * per_list);
    } catch (const std::bad_alloc&) {
      return;  // the tables are an optimisation: search without them
    }
    const std::vector<float>& cb = pq.centroids();
    // ||r||^2 of every codebook entry, shared by all lists.
    std::vector<float> entry_norms(per_list);
    for (std::size_t e = 0; e < per_list; ++e) {
      float s = 0.0f;
      for (int t = 0; t < ds; ++t) s += cb[e * ds + t] * cb[e * ds + t];
      entry_norms[e] = s;
    }
#pragma omp parallel for schedule(static)
    for (int l = 0; l < n_lists_; ++l) {
      const float* c = centroids_.data() + static_cast<std::size_t>(l) * dim_;
      float* out = table.data() + static_cast<std::size_t>(l) * per_list;
      for (int s = 0; s < m; ++s) {
        const float* cs = c + s * ds;
        for (int j = 0; j < ksub; ++j) {
          const std::size_t e = static_cast<std::size_t>(s) * ksub + j;
          float dot = 0.0f;
          for (int t = 0; t < ds; ++t) dot += cs[t] * cb[e * ds + t];
          out[e] = entry_norms[e] + 2.0f * dot;
        }
      }
    }
    precomputed_ = std::move(table);
  }

  bool has_precomputed_table() const override { return !precomputed_.empty(); }

  void add(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists) override {
    lists_.add(n, codes, ids, lists);
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const ProductQuantizer& pq, const detail::SearchKnobs& knobs) const override {
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    const int threads = cpu_threads(knobs.num_threads);
    const int m = pq.M();
    const bool fast_scan = lists_.layout().fast_scan_blocks;
    const bool l2 = metric_ == Metric::L2;
    const float pad = empty_distance(metric_);
    std::vector<ThreadState> states;
    try {
      states.resize(static_cast<std::size_t>(threads));
      for (ThreadState& s : states) s.scratch.resize(kCollectChunk);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format(
          "cannot allocate the scratch memory of a CPU IVF-PQ search of {} queries", nq));
    }
    const CoarseCentroids coarse{centroids_.data(), centroid_norms_.data(), n_lists_, dim_,
                                 metric_};
    probe_and_scan(
        coarse, queries, nq, n_probe, knobs, threads, "CPU IVF-PQ search",
        [&](int t, idx_t q, const idx_t* probed, const float* probe_dist) {
          ThreadState& s = states[static_cast<std::size_t>(t)];
          s.topk.reset(k);
          // 4-bit codes of the vectors themselves: every list is scored with the query's own
          // table, quantized once.
          bool quantized = false;
          visit_probed_lists(
              queries + q * dim_, probed, probe_dist, n_probe, pq, s.tables,
              [&](const float* table, float base, int list) {
                const idx_t first_label = static_cast<idx_t>(list) << IvfCodeLists::kOffsetBits;
                const idx_t size = lists_.list_size(list);
                if (fast_scan) {
                  if (by_residual_ || !quantized) {
                    pq4_quantize_table(table, m, s.fast_scratch.table);
                    quantized = true;
                  }
                  pq4_scan_quantized(s.topk, m, base, lists_.codes(list), size, first_label,
                                     knobs.sel, lists_.ids(list), s.fast_scratch);
                } else {
                  pq_scan_into(s.topk, table, m, base, lists_.codes(list), size, first_label,
                               knobs.sel, lists_.ids(list), s.scratch.data());
                }
              });
          idx_t* lq = labels + q * k;
          s.topk.write(distances + q * k, lq, !l2, pad);
          lists_.labels_to_ids(lq, k);
        });
  }

  // Each query's probes, tables and scores are those of a search of that query alone (for 4-bit
  // codes, the scores of the quantized tables), so an entry passes the radius exactly when its
  // distance in such a search does. (In a search of many queries the coarse distances may come
  // from sgemm, rounded differently.)
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const ProductQuantizer& pq,
                                 const detail::SearchKnobs& knobs) const override {
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    FlatSearchParams coarse = flat_search_params(knobs);
    coarse.num_threads = 1;
    const int m = pq.M();
    const bool fast_scan = lists_.layout().fast_scan_blocks;
    return range_search_by_query(
        nq, metric_, knobs.num_threads, [&](idx_t q, std::vector<RangeHit>& hits) {
          const float* query = queries + q * dim_;
          std::vector<idx_t> probed(static_cast<std::size_t>(n_probe));
          std::vector<float> probe_dist(static_cast<std::size_t>(n_probe));
          flat_search(centroids_.data(), centroid_norms_.data(), n_lists_, dim_, metric_, query, 1,
                      n_probe, probe_dist.data(), probed.data(), coarse);
          QueryTables tables;
          std::vector<float> scores;
          Pq4Scratch fast_scratch;
          visit_probed_lists(query, probed.data(), probe_dist.data(), n_probe, pq, tables,
                             [&](const float* table, float base, int list) {
                               const idx_t size = lists_.list_size(list);
                               const std::uint8_t* codes = lists_.codes(list);
                               const idx_t* ids = lists_.ids(list);
                               if (fast_scan) {
                                 pq4_score_codes(table, m, base, codes, size, fast_scratch, scores);
                                 append_scores_within(scores.data(), size, ids, metric_, radius,
                                                      knobs.sel, hits);
                                 return;
                               }
                               scores.resize(kCollectChunk);
                               for (idx_t j0 = 0; j0 < size; j0 += kCollectChunk) {
                                 const idx_t len = std::min<idx_t>(kCollectChunk, size - j0);
                                 pq_score_codes(table, m, base, codes + j0 * m, len, scores.data());
                                 append_scores_within(scores.data(), len, ids + j0, metric_, radius,
                                                      knobs.sel, hits);
                               }
                             });
        });
  }

  idx_t size() const override { return lists_.size(); }
  std::vector<idx_t> list_sizes() const override { return lists_.list_sizes(); }

  std::vector<std::uint8_t> list_codes(int list) const override { return lists_.row_codes(list); }

  std::vector<idx_t> list_ids(int list) const override {
    const idx_t* first = lists_.ids(list);
    return std::vector<idx_t>(first, first + lists_.list_size(list));
  }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    return lists_.remove_ids(sorted_ids);
  }

  void reset() override { lists_.reset(); }

 private:
  // One query's tables: its own, and the probed list's being scored.
  struct QueryTables {
    std::vector<float> query_table, list_table, residual;
  };

  // What one thread of a search holds: its query's tables, score scratch and collector.
  struct ThreadState {
    QueryTables tables;
    std::vector<float> scratch;  // kCollectChunk scores
    Pq4Scratch fast_scratch;
    TopK topk;
  };

  // Calls visit(table, base, list) for each non-empty list of probed[0..n_probe) (-1: none) with
  // the table (minimised scores: L2 squared distances, negated inner products) and the base the
  // list's entries are scored with: base + sum_m table[m][code_m].
  template <typename Visit>
  void visit_probed_lists(const float* query, const idx_t* probed, const float* probe_dist,
                          int n_probe, const ProductQuantizer& pq, QueryTables& t,
                          const Visit& visit) const {
    const std::size_t table_size = static_cast<std::size_t>(pq.M()) * pq.ksub();
    const bool l2 = metric_ == Metric::L2;
    const bool use_precomputed = l2 && !precomputed_.empty();
    t.query_table.resize(table_size);
    t.list_table.resize(table_size);
    t.residual.resize(static_cast<std::size_t>(dim_));
    // <q, r> tables: the -2 <q, r> term of L2 with precomputed tables (scaled as each list's
    // table is summed); the score itself (negated, as scores are minimised) for the inner
    // product. Codes of the vectors themselves: the query's own table for every list.
    if (!by_residual_) {
      pq.compute_distance_tables(1, query, metric_, t.query_table.data());
      if (!l2) {
        for (float& v : t.query_table) v = -v;
      }
    } else if (use_precomputed) {
      pq.compute_distance_tables(1, query, Metric::InnerProduct, t.query_table.data());
    } else if (!l2) {
      pq.compute_distance_tables(1, query, Metric::InnerProduct, t.query_table.data());
      for (float& v : t.query_table) v = -v;
    }
    for (int p = 0; p < n_probe; ++p) {
      const idx_t l = probed[p];
      if (l < 0) continue;
      const int list = static_cast<int>(l);
      if (lists_.list_size(list) == 0) continue;
      const float coarse = probe_dist[p];
      const float* table = t.query_table.data();
      float base = 0.0f;
      if (!by_residual_) {
        // the query's table, nothing added
      } else if (use_precomputed) {
        const float* pre = precomputed_.data() + static_cast<std::size_t>(list) * table_size;
        pq_add_scaled(pre, -2.0f, t.query_table.data(), table_size, t.list_table.data());
        table = t.list_table.data();
        base = coarse;
      } else if (l2) {
        const float* c = centroids_.data() + static_cast<std::size_t>(list) * dim_;
        for (int j = 0; j < dim_; ++j) t.residual[static_cast<std::size_t>(j)] = query[j] - c[j];
        pq.compute_distance_tables(1, t.residual.data(), Metric::L2, t.list_table.data());
        table = t.list_table.data();
      } else {
        base = -coarse;
      }
      visit(table, base, list);
    }
  }

  int dim_;
  int n_lists_;
  Metric metric_;
  bool by_residual_;
  IvfCodeLists lists_;
  std::vector<float> centroids_;
  std::vector<float> centroid_norms_;
  // L2: n_lists x M x ksub entries ||r||^2 + 2 <c, r> (empty: per-list tables at search time).
  std::vector<float> precomputed_;
};

}  // namespace

std::unique_ptr<detail::IvfPqBackend> make_ivf_pq_backend(int dim, int n_lists, int code_size,
                                                          detail::PqLayout layout, Metric metric,
                                                          bool by_residual) {
  return std::make_unique<IvfPqCpu>(dim, n_lists, code_size, layout, metric, by_residual);
}

}  // namespace knnx::cpu
