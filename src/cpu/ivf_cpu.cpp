// CPU IVF backend: inverted lists in host vectors; coarse quantisation by flat_search, then a
// list-major scan of the probed lists with BLAS tiles and per-thread top-k collectors.
#include "cpu/ivf_cpu.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <limits>
#include <new>
#include <numeric>
#include <vector>

#include "core/check.hpp"
#include "core/metric_dispatch.hpp"
#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "cpu/flat_search.hpp"
#include "cpu/range_scan.hpp"
#include "cpu/scan_kernels.hpp"
#include "cpu/topk.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Result labels inside a search are (list << kListShift) | position, mapped to ids at the end.
constexpr int kListShift = 32;
constexpr idx_t kMaxListSize = idx_t{1} << kListShift;
// Up to this many queries of one list, the direct kernel computes their products (in pairs,
// streaming the list from memory); past it a packed sgemm is faster. Lists are short, so
// packing costs relatively more than in the flat scan and the crossover comes later
// (bench/NOTES.md, "CPU IVF-Flat").
constexpr idx_t kDirectMaxQueries = 12;
// Largest (query group x list rows) tile one work item computes: 2 MiB, so that a tile is read
// back from cache by the collectors.
constexpr idx_t kQueryChunk = 256;
constexpr idx_t kRowChunk = 2048;
// Multiply-adds a thread should get before a step is split between threads: tens of
// microseconds of work, far above the cost of a fork and join, so few-query searches stay on
// one thread instead of paying synchronisation for microseconds of work.
constexpr double kMinWorkPerThread = double(1 << 20);
// Threads worth using for `work` multiply-adds, at most `threads`.
int team_for(double work, int threads) {
  return static_cast<int>(std::clamp(work / kMinWorkPerThread, 1.0, static_cast<double>(threads)));
}

struct InvertedList {
  std::vector<float> vectors;  // size x dim
  std::vector<float> norms;    // squared norms (L2 only)
  std::vector<idx_t> ids;
  idx_t size() const { return static_cast<idx_t>(ids.size()); }
};

// Geometric growth, so that many small adds stay linear overall.
template <typename T>
void reserve_for(std::vector<T>& v, std::size_t needed) {
  if (needed <= v.capacity()) return;
  v.reserve(std::max(needed, 2 * v.capacity()));
}

// One unit of scan work: rows [r0, r0 + len) of a list against a group of the queries probing it.
struct WorkItem {
  int list;
  idx_t q_begin;  // into the batch's probe order
  idx_t q_count;
  idx_t r0;
  idx_t len;
};

class IvfCpu final : public detail::IvfBackend {
 public:
  IvfCpu(int dim, int n_lists, Metric metric)
      : dim_(dim), n_lists_(n_lists), metric_(metric), lists_(static_cast<std::size_t>(n_lists)) {}

  int n_lists() const override { return n_lists_; }

  // The centroids are allocated when they are set, not before: an untrained index (e.g. one
  // loaded from a file that declares many lists) holds no memory for them.
  void set_centroids(const float* centroids) override {
    std::vector<float> c(centroids,
                         centroids + detail::checked_elements(n_lists_, dim_, "centroids"));
    std::vector<float> norms(static_cast<std::size_t>(n_lists_));
    row_norms_sq(n_lists_, dim_, c.data(), norms.data());
    centroids_ = std::move(c);
    centroid_norms_ = std::move(norms);
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

  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    const std::size_t d = static_cast<std::size_t>(dim_);
    const bool l2 = metric_ == Metric::L2;
    std::vector<idx_t> counts;
    std::vector<float> norms;
    try {
      counts.assign(static_cast<std::size_t>(n_lists_), 0);
      for (idx_t i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(lists[i])];
      for (int l = 0; l < n_lists_; ++l) {
        const idx_t after = lists_[static_cast<std::size_t>(l)].size() + counts[static_cast<std::size_t>(l)];
        if (after > kMaxListSize) {
          throw NotSupported(fmt::format("inverted list {} would hold {} vectors; at most {} fit",
                                         l, after, kMaxListSize));
        }
      }
      if (l2) norms.resize(static_cast<std::size_t>(n));
      // Reserve everything first: after that no append can throw, so a failure changes nothing.
      for (int l = 0; l < n_lists_; ++l) {
        const std::size_t c = static_cast<std::size_t>(counts[static_cast<std::size_t>(l)]);
        if (c == 0) continue;
        InvertedList& list = lists_[static_cast<std::size_t>(l)];
        reserve_for(list.vectors, list.vectors.size() + c * d);
        if (l2) reserve_for(list.norms, list.norms.size() + c);
        reserve_for(list.ids, list.ids.size() + c);
      }
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot grow the CPU IVF index by {} vectors of dim {}", n, dim_));
    }
    if (l2) row_norms_sq(n, dim_, x, norms.data());
    for (idx_t i = 0; i < n; ++i) {
      InvertedList& list = lists_[static_cast<std::size_t>(lists[i])];
      list.vectors.insert(list.vectors.end(), x + i * dim_, x + (i + 1) * dim_);
      if (l2) list.norms.push_back(norms[static_cast<std::size_t>(i)]);
      list.ids.push_back(ids[i]);
    }
    size_ += n;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    const int threads = cpu_threads(knobs.num_threads);
    const FlatSearchParams coarse = flat_search_params(knobs);
    const std::size_t per_query = static_cast<std::size_t>(threads) * 2 * static_cast<std::size_t>(k) * sizeof(Scored);
    const idx_t batch = std::max<idx_t>(1, static_cast<idx_t>(kCollectorBudgetBytes / per_query));
    try {
      Scratch scratch;
      for (idx_t q0 = 0; q0 < nq; q0 += batch) {
        const idx_t qn = std::min(batch, nq - q0);
        detail::dispatch_metric(metric_, [&](auto m) {
          search_batch<decltype(m)::value>(qn, queries + q0 * dim_, k, n_probe, threads, coarse,
                                           knobs.sel, distances + q0 * k, labels + q0 * k, scratch);
        });
      }
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate the scratch memory of a CPU IVF search of {} "
                                    "queries with k = {} and n_probe = {}", nq, k, n_probe));
    }
  }

  bool filters() const override { return true; }

  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::SearchKnobs& knobs) const override {
    const int n_probe = std::clamp(knobs.nprobe, 1, n_lists_);
    return range_search_by_query(
        nq, metric_, knobs.num_threads, [&](idx_t q, std::vector<RangeHit>& hits) {
          const float* query = queries + q * dim_;
          std::vector<float> probe_dist(static_cast<std::size_t>(n_probe));
          std::vector<idx_t> probe_lists(static_cast<std::size_t>(n_probe));
          FlatSearchParams coarse = flat_search_params(knobs);
          coarse.num_threads = 1;  // inside the per-query parallel loop
          flat_search(centroids_.data(), centroid_norms_.data(), n_lists_, dim_, metric_, query, 1,
                      n_probe, probe_dist.data(), probe_lists.data(), coarse);
          for (idx_t l : probe_lists) {
            if (l < 0) continue;
            const InvertedList& list = lists_[static_cast<std::size_t>(l)];
            range_scan_rows(query, list.vectors.data(), list.ids.data(), list.size(), dim_, metric_,
                            radius, knobs.sel, hits);
          }
        });
  }

  idx_t size() const override { return size_; }

  std::vector<idx_t> list_sizes() const override {
    std::vector<idx_t> sizes(lists_.size());
    for (std::size_t l = 0; l < lists_.size(); ++l) sizes[l] = lists_[l].size();
    return sizes;
  }

  std::vector<float> list_vectors(int list) const override {
    return lists_[static_cast<std::size_t>(list)].vectors;
  }

  std::vector<idx_t> list_ids(int list) const override {
    return lists_[static_cast<std::size_t>(list)].ids;
  }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    if (sorted_ids.empty()) return 0;
    const std::size_t d = static_cast<std::size_t>(dim_);
    idx_t removed = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : removed) num_threads(thread_count())
    for (int l = 0; l < n_lists_; ++l) {
      InvertedList& list = lists_[static_cast<std::size_t>(l)];
      std::size_t out = 0;
      for (std::size_t r = 0; r < list.ids.size(); ++r) {
        if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), list.ids[r])) continue;
        if (out != r) {
          std::copy_n(list.vectors.data() + r * d, d, list.vectors.data() + out * d);
          if (!list.norms.empty()) list.norms[out] = list.norms[r];  // L2 lists keep norms
          list.ids[out] = list.ids[r];
        }
        ++out;
      }
      removed += static_cast<idx_t>(list.ids.size() - out);
      list.vectors.resize(out * d);
      if (!list.norms.empty()) list.norms.resize(out);
      list.ids.resize(out);
    }
    size_ -= removed;
    return removed;
  }

  void reset() override {
    for (InvertedList& list : lists_) list = InvertedList{};  // gives the memory back
    size_ = 0;
  }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    detail::check_vectors_host(n, dim_, x, what);
  }

 private:
  // Buffers reused by every batch of one search call.
  struct Scratch {
    std::vector<idx_t> probe_lists;   // qn x n_probe coarse labels
    std::vector<float> probe_dist;    // qn x n_probe coarse distances
    std::vector<float> qnorms;        // qn
    std::vector<idx_t> list_begin;    // n_lists + 1: the batch's probes grouped by list
    std::vector<idx_t> probe_query;   // query of each grouped probe
    std::vector<WorkItem> work;
    std::vector<std::vector<TopK>> topk;    // per thread, qn collectors
    std::vector<std::vector<float>> tiles;  // per thread
    std::vector<std::vector<float>> qbufs;  // per thread: gathered queries
  };

  static int thread_count() { return cpu_threads(config().num_threads); }

  // sel (may be null): the ids results may hold, tested by stored id inside the selection.
  template <Metric M>
  void search_batch(idx_t qn, const float* queries, int k, int n_probe, int threads,
                    FlatSearchParams coarse, const IDSelector* sel, float* distances, idx_t* labels,
                    Scratch& s) const {
    constexpr bool kL2 = detail::kIsL2<M>;
    const std::size_t probes = static_cast<std::size_t>(qn) * static_cast<std::size_t>(n_probe);

    // 1. Coarse quantisation: the n_probe nearest centroids of every query.
    s.probe_lists.resize(probes);
    s.probe_dist.resize(probes);
    coarse.num_threads = team_for(static_cast<double>(qn) * n_lists_ * dim_, threads);
    flat_search(centroids_.data(), centroid_norms_.data(), n_lists_, dim_, metric_, queries, qn,
                n_probe, s.probe_dist.data(), s.probe_lists.data(), coarse);
    s.qnorms.assign(static_cast<std::size_t>(qn), 0.0f);
    if constexpr (kL2) row_norms_sq(qn, dim_, queries, s.qnorms.data());

    // 2. Group the probes by list (counting sort; queries ascending within a list).
    s.list_begin.assign(static_cast<std::size_t>(n_lists_) + 1, 0);
    for (idx_t p = 0; p < static_cast<idx_t>(probes); ++p) {
      ++s.list_begin[static_cast<std::size_t>(s.probe_lists[static_cast<std::size_t>(p)]) + 1];
    }
    std::partial_sum(s.list_begin.begin(), s.list_begin.end(), s.list_begin.begin());
    s.probe_query.resize(probes);
    {
      std::vector<idx_t> next(s.list_begin.begin(), s.list_begin.end() - 1);
      for (idx_t p = 0; p < static_cast<idx_t>(probes); ++p) {
        const std::size_t l = static_cast<std::size_t>(s.probe_lists[static_cast<std::size_t>(p)]);
        s.probe_query[static_cast<std::size_t>(next[l]++)] = p / n_probe;
      }
    }

    // 3. Work items: (list, query group, row range), most expensive first for the dynamic
    //    schedule to balance.
    s.work.clear();
    idx_t max_group = 0, max_rows = 0;
    double work = 0.0;
    for (int l = 0; l < n_lists_; ++l) {
      const idx_t b = s.list_begin[static_cast<std::size_t>(l)];
      const idx_t m = s.list_begin[static_cast<std::size_t>(l) + 1] - b;
      const idx_t size = lists_[static_cast<std::size_t>(l)].size();
      if (m == 0 || size == 0) continue;
      for (idx_t g = 0; g < m; g += kQueryChunk) {
        for (idx_t r0 = 0; r0 < size; r0 += kRowChunk) {
          const WorkItem w{l, b + g, std::min(kQueryChunk, m - g), r0, std::min(kRowChunk, size - r0)};
          max_group = std::max(max_group, w.q_count);
          max_rows = std::max(max_rows, w.len);
          work += static_cast<double>(w.q_count) * static_cast<double>(w.len) * dim_;
          s.work.push_back(w);
        }
      }
    }
    std::stable_sort(s.work.begin(), s.work.end(), [](const WorkItem& a, const WorkItem& b) {
      return a.q_count * a.len > b.q_count * b.len;
    });

    // 4. Per-thread state, allocated before the parallel region so that a failure throws here.
    const int team = std::min(team_for(work, threads),
                              static_cast<int>(std::max<std::size_t>(s.work.size(), 1)));
    if (s.topk.size() < static_cast<std::size_t>(team)) {
      s.topk.resize(static_cast<std::size_t>(team));
      s.tiles.resize(static_cast<std::size_t>(team));
      s.qbufs.resize(static_cast<std::size_t>(team));
    }
    for (int t = 0; t < team; ++t) {
      std::vector<TopK>& tk = s.topk[static_cast<std::size_t>(t)];
      if (tk.size() < static_cast<std::size_t>(qn)) tk.resize(static_cast<std::size_t>(qn));
      for (idx_t q = 0; q < qn; ++q) tk[static_cast<std::size_t>(q)].reset(k);
      s.tiles[static_cast<std::size_t>(t)].resize(static_cast<std::size_t>(max_group * max_rows));
      s.qbufs[static_cast<std::size_t>(t)].resize(static_cast<std::size_t>(max_group) * dim_);
    }

    // 5. Scan.
    constexpr float alpha = kL2 ? -2.0f : -1.0f;
    const idx_t n_work = static_cast<idx_t>(s.work.size());
    detail::ParallelErrors errors;
#pragma omp parallel num_threads(team)
    {
      omp_set_num_threads(1);  // sgemm on this thread alone, also in a team of one
      const int t = omp_get_thread_num();
      TopK* topk = s.topk[static_cast<std::size_t>(t)].data();
      float* tile = s.tiles[static_cast<std::size_t>(t)].data();
      float* qbuf = s.qbufs[static_cast<std::size_t>(t)].data();
#pragma omp for schedule(dynamic, 1)
      for (idx_t wi = 0; wi < n_work; ++wi)
        errors.run([&] {
          const WorkItem& w = s.work[static_cast<std::size_t>(wi)];
          const InvertedList& list = lists_[static_cast<std::size_t>(w.list)];
          const idx_t* group = s.probe_query.data() + w.q_begin;
          const idx_t m = w.q_count;
          for (idx_t i = 0; i < m; ++i) {
            std::copy_n(queries + group[i] * dim_, dim_, qbuf + i * dim_);
          }
          const float* rows = list.vectors.data() + w.r0 * dim_;
          if (m <= kDirectMaxQueries) {
            for (idx_t i = 0; i < m; i += kSmallBatchMax) {
              const int g = static_cast<int>(std::min<idx_t>(kSmallBatchMax, m - i));
              small_batch_products(qbuf + i * dim_, g, rows, w.len, dim_, alpha, tile + i * w.len,
                                   w.len);
            }
          } else {
            sgemm_abt(m, w.len, dim_, alpha, qbuf, rows, tile);
          }
          const float* norms = kL2 ? list.norms.data() + w.r0 : nullptr;
          const idx_t first_label = (static_cast<idx_t>(w.list) << kListShift) + w.r0;
          for (idx_t i = 0; i < m; ++i) {
            const idx_t q = group[i];
            topk[q].template push_tile_row<M>(tile + i * w.len, norms,
                                              s.qnorms[static_cast<std::size_t>(q)], w.len,
                                              first_label, sel, list.ids.data() + w.r0);
          }
        });
    }
    errors.rethrow("CPU IVF search");

    // 6. Merge the threads' collectors and write ids.
    constexpr bool negate = !kL2;  // inner-product scores are negated products
    const float pad = empty_distance(M);
#pragma omp parallel for schedule(static) num_threads(team) if (qn >= 64)
    for (idx_t q = 0; q < qn; ++q)
      errors.run([&] {
        TopK& merged = s.topk[0][static_cast<std::size_t>(q)];
        for (int t = 1; t < team; ++t)
          merged.merge(s.topk[static_cast<std::size_t>(t)][static_cast<std::size_t>(q)]);
        float* dq = distances + q * k;
        idx_t* lq = labels + q * k;
        merged.write(dq, lq, negate, pad);
        for (int j = 0; j < k; ++j) {
          if (lq[j] < 0) continue;
          const idx_t list = lq[j] >> kListShift;
          const idx_t pos = lq[j] & (kMaxListSize - 1);
          lq[j] = lists_[static_cast<std::size_t>(list)].ids[static_cast<std::size_t>(pos)];
        }
        complete_with_overflowed_rows(s.probe_lists.data() + q * n_probe, n_probe, k, pad, sel, dq,
                                      lq);
      });
    errors.rethrow("CPU IVF search");
  }

  // Rows whose score is not finite (vectors so large that the distance overflows float) never
  // enter a top-k. As the flat search does, the result still holds every probed row when k
  // allows: the missing slots take the probed lists' other rows at the worst distance, in probe
  // order, then row order. They are exactly the non-finite ones, since when fewer than k rows
  // were found every finite candidate is among them. With a selector, only admitted rows.
  void complete_with_overflowed_rows(const idx_t* probed, int n_probe, int k, float pad,
                                     const IDSelector* sel, float* dq, idx_t* lq) const {
    idx_t found = std::find(lq, lq + k, kNoLabel) - lq;
    if (found == k) return;
    std::vector<idx_t> taken(lq, lq + found);
    std::sort(taken.begin(), taken.end());
    for (int p = 0; p < n_probe && found < k; ++p) {
      if (probed[p] < 0) continue;
      for (const idx_t id : lists_[static_cast<std::size_t>(probed[p])].ids) {
        if (found == k) break;
        if (sel && !sel->is_member(id)) continue;
        if (std::binary_search(taken.begin(), taken.end(), id)) continue;
        lq[found] = id;
        dq[found] = pad;
        ++found;
      }
    }
  }

  int dim_;
  int n_lists_;
  Metric metric_;
  std::vector<InvertedList> lists_;
  std::vector<float> centroids_;
  std::vector<float> centroid_norms_;
  idx_t size_ = 0;
};

}  // namespace

std::unique_ptr<detail::IvfBackend> make_ivf_backend(int dim, int n_lists, Metric metric) {
  return std::make_unique<IvfCpu>(dim, n_lists, metric);
}

}  // namespace knnx::cpu
