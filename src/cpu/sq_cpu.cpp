#include "cpu/sq_cpu.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <optional>
#include <vector>

#include "core/check.hpp"
#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "cpu/flat_search.hpp"
#include "cpu/ivf_code_lists.hpp"
#include "cpu/ivf_query_chunks.hpp"
#include "cpu/range_scan.hpp"
#include "cpu/sq_scan.hpp"
#include "cpu/topk.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Codes scored per call of the scanner: the scores stay in L1 for the top-k screen.
constexpr idx_t kScoreChunk = 1024;
// Vectors encoded per parallel step of add().
constexpr idx_t kEncodeChunk = 256;

class SqCpu final : public detail::SqBackend {
 public:
  explicit SqCpu(const detail::SqLayout& layout)
      : layout_(layout),
        lists_(layout.n_lists, ScalarQuantizer(layout.dim, layout.type).code_size()) {}

  const detail::SqLayout& layout() const override { return layout_; }

  void set_centroids(const float* centroids) override {
    std::vector<float> c(
        centroids, centroids + detail::checked_elements(layout_.n_lists, layout_.dim, "centroids"));
    std::vector<float> norms(static_cast<std::size_t>(layout_.n_lists));
    row_norms_sq(layout_.n_lists, layout_.dim, c.data(), norms.data());
    centroids_ = std::move(c);
    centroid_norms_ = std::move(norms);
  }

  std::vector<float> centroids() const override {
    if (!centroids_.empty()) return centroids_;
    return std::vector<float>(detail::checked_elements(layout_.n_lists, layout_.dim, "centroids"),
                              0.0f);
  }

  bool has_centroids() const override { return !centroids_.empty(); }

  void assign(idx_t n, const float* x, idx_t* lists) const override {
    if (!layout_.coarse) {
      std::fill(lists, lists + n, idx_t{0});
      return;
    }
    std::vector<float> distances;
    try {
      distances.resize(static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate the assignment of {} vectors", n));
    }
    flat_search(centroids_.data(), centroid_norms_.data(), layout_.n_lists, layout_.dim,
                layout_.metric, x, n, 1, distances.data(), lists,
                flat_search_params(config().num_threads));
  }

  void set_quantizer(const ScalarQuantizer& sq) override { quantizer_ = sq; }
  const std::optional<ScalarQuantizer>& quantizer() const override { return quantizer_; }

  void add(idx_t n, const float* x, const idx_t* ids, const idx_t* lists) override {
    const std::size_t cs = lists_.code_size();
    std::vector<std::uint8_t> codes;
    try {
      codes.resize(static_cast<std::size_t>(n) * cs);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(
          fmt::format("cannot allocate the codes of {} vectors ({} bytes each)", n, cs));
    }
    const ScalarQuantizer& sq = *quantizer_;
    const int d = layout_.dim;
    const idx_t chunks = (n + kEncodeChunk - 1) / kEncodeChunk;
    detail::ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) \
    num_threads(cpu_threads(config().num_threads)) if (chunks > 1)
    for (idx_t c = 0; c < chunks; ++c)
      errors.run([&] {
        const idx_t i0 = c * kEncodeChunk;
        const idx_t len = std::min(kEncodeChunk, n - i0);
        if (!layout_.by_residual) {
          sq.encode(len, x + i0 * d, codes.data() + static_cast<std::size_t>(i0) * cs);
          return;
        }
        std::vector<float> residual(static_cast<std::size_t>(d));
        for (idx_t i = i0; i < i0 + len; ++i) {
          const float* c0 = centroids_.data() + lists[i] * d;
          for (int j = 0; j < d; ++j) residual[static_cast<std::size_t>(j)] = x[i * d + j] - c0[j];
          sq.encode(1, residual.data(), codes.data() + static_cast<std::size_t>(i) * cs);
        }
      });
    errors.rethrow("CPU scalar-quantizer add");
    lists_.add(n, codes.data(), ids, lists);
  }

  void add_codes(int list, idx_t n, const std::uint8_t* codes, const idx_t* ids) override {
    lists_.append(list, n, codes, ids);
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::SearchKnobs& knobs) const override {
    const int n_probe = probes_of(knobs);
    const int threads = cpu_threads(knobs.num_threads);
    std::vector<ThreadState> states;
    try {
      states.reserve(static_cast<std::size_t>(threads));
      for (int t = 0; t < threads; ++t) states.emplace_back(*quantizer_, layout_, k);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(
          fmt::format("cannot allocate the scratch memory of a CPU "
                      "scalar-quantizer search of {} queries with k = {}",
                      nq, k));
    }
    const bool l2 = layout_.metric == Metric::L2;
    const float pad = empty_distance(layout_.metric);
    probe_and_scan(
        coarse_centroids(), queries, nq, n_probe, knobs, threads, "CPU scalar-quantizer search",
        [&](int t, idx_t q, const idx_t* probed, const float*) {
          ThreadState& s = states[static_cast<std::size_t>(t)];
          s.topk.reset(k);
          scan_query(queries + q * layout_.dim, probed, n_probe, s,
                     [&](const float* scores, idx_t n, idx_t first_label, const idx_t* ids) {
                       s.topk.push_block(scores, n, first_label, knobs.sel, ids);
                     });
          idx_t* lq = labels + q * k;
          s.topk.write(distances + q * k, lq, !l2, pad);
          lists_.labels_to_ids(lq, k);
        });
  }

  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::SearchKnobs& knobs) const override {
    const int n_probe = probes_of(knobs);
    return range_search_by_query(
        nq, layout_.metric, knobs.num_threads, [&](idx_t q, std::vector<RangeHit>& hits) {
          const float* query = queries + q * layout_.dim;
          const std::vector<idx_t> probed = probe(1, query, n_probe, knobs, 1);
          ThreadState s(*quantizer_, layout_, 1);
          scan_query(query, probed.data(), n_probe, s,
                     [&](const float* scores, idx_t n, idx_t, const idx_t* ids) {
                       append_scores_within(scores, n, ids, layout_.metric, radius, knobs.sel,
                                            hits);
                     });
        });
  }

  idx_t size() const override { return lists_.size(); }
  std::vector<idx_t> list_sizes() const override { return lists_.list_sizes(); }

  std::vector<idx_t> list_ids(int list) const override {
    const idx_t* ids = lists_.ids(list);
    return std::vector<idx_t>(ids, ids + lists_.list_size(list));
  }

  std::vector<std::uint8_t> list_codes(int list) const override {
    const std::uint8_t* codes = lists_.codes(list);
    return std::vector<std::uint8_t>(
        codes, codes + static_cast<std::size_t>(lists_.list_size(list)) * lists_.code_size());
  }

  bool reconstruct(idx_t id, float* out) const override {
    const std::optional<IvfCodeLists::Position> at = lists_.find(id);
    if (!at) return false;
    quantizer_->decode(
        1, lists_.codes(at->list) + static_cast<std::size_t>(at->offset) * lists_.code_size(), out);
    if (layout_.by_residual) {
      const float* c = centroids_.data() + static_cast<std::size_t>(at->list) * layout_.dim;
      for (int j = 0; j < layout_.dim; ++j) out[j] += c[j];
    }
    return true;
  }

  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) override {
    return lists_.remove_ids(sorted_ids);
  }

  void reset() override { lists_.reset(); }

 private:
  // What one thread needs to scan a query.
  struct ThreadState {
    ThreadState(const ScalarQuantizer& sq, const detail::SqLayout& layout, int k)
        : scanner(sq, layout.metric),
          topk(k),
          scores(static_cast<std::size_t>(kScoreChunk)),
          residual(static_cast<std::size_t>(layout.dim)) {}
    SqScanner scanner;
    TopK topk;
    std::vector<float> scores;
    std::vector<float> residual;
  };

  int probes_of(const detail::SearchKnobs& knobs) const {
    return layout_.coarse ? std::clamp(knobs.nprobe, 1, layout_.n_lists) : 1;
  }

  // The coarse quantizer as probe_and_scan takes it (none without one).
  CoarseCentroids coarse_centroids() const {
    return CoarseCentroids{layout_.coarse ? centroids_.data() : nullptr, centroid_norms_.data(),
                           layout_.n_lists, layout_.dim, layout_.metric};
  }

  // The n_probe lists of each of nq queries (nq x n_probe; -1 where there are fewer lists).
  std::vector<idx_t> probe(idx_t nq, const float* queries, int n_probe,
                           const detail::SearchKnobs& knobs, int threads) const {
    std::vector<idx_t> lists(static_cast<std::size_t>(nq) * static_cast<std::size_t>(n_probe), 0);
    if (!layout_.coarse) return lists;
    std::vector<float> dist(lists.size());
    FlatSearchParams coarse = flat_search_params(knobs);
    coarse.num_threads = threads;
    flat_search(centroids_.data(), centroid_norms_.data(), layout_.n_lists, layout_.dim,
                layout_.metric, queries, nq, n_probe, dist.data(), lists.data(), coarse);
    return lists;
  }

  // Scores the codes of one query's probed lists, chunk by chunk: emit(scores, n, first_label,
  // ids) with labels (list << kOffsetBits) + offset and the chunk's stored ids.
  template <typename Emit>
  void scan_query(const float* query, const idx_t* probed, int n_probe, ThreadState& s,
                  const Emit& emit) const {
    const int d = layout_.dim;
    const bool l2 = layout_.metric == Metric::L2;
    if (!layout_.by_residual) s.scanner.set_query(query);
    const std::size_t cs = lists_.code_size();
    for (int p = 0; p < n_probe; ++p) {
      const idx_t l = probed[p];
      if (l < 0) continue;
      const int list = static_cast<int>(l);
      const idx_t n = lists_.list_size(list);
      if (n == 0) continue;
      if (layout_.by_residual) {
        // L2: the residual of the query against the codes of residuals; inner product: the
        // query itself, plus its product with the centroid.
        const float* c = centroids_.data() + static_cast<std::size_t>(list) * d;
        if (l2) {
          for (int j = 0; j < d; ++j) s.residual[static_cast<std::size_t>(j)] = query[j] - c[j];
          s.scanner.set_query(s.residual.data());
        } else {
          double qc = 0.0;
          for (int j = 0; j < d; ++j) qc += static_cast<double>(query[j]) * c[j];
          s.scanner.set_query(query, static_cast<float>(qc));
        }
      }
      const std::uint8_t* codes = lists_.codes(list);
      const idx_t* ids = lists_.ids(list);
      for (idx_t r0 = 0; r0 < n; r0 += kScoreChunk) {
        const idx_t len = std::min(kScoreChunk, n - r0);
        s.scanner.scores(codes + static_cast<std::size_t>(r0) * cs, len, s.scores.data());
        emit(s.scores.data(), len, (l << IvfCodeLists::kOffsetBits) + r0, ids + r0);
      }
    }
  }

  detail::SqLayout layout_;
  IvfCodeLists lists_;
  std::optional<ScalarQuantizer> quantizer_;
  std::vector<float> centroids_;
  std::vector<float> centroid_norms_;
};

}  // namespace

std::unique_ptr<detail::SqBackend> make_sq_backend(const detail::SqLayout& layout) {
  return std::make_unique<SqCpu>(layout);
}

}  // namespace knnx::cpu
