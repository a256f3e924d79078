// CPU backend of IndexPQ and IndexPQFastScan: every code in one array (row by row, or in the
// fast-scan blocks: cpu/code_layout.hpp), scanned in full for each query.
#include "cpu/pq_cpu.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "cpu/code_layout.hpp"
#include "cpu/pq4_fast_scan.hpp"
#include "cpu/pq_scan.hpp"
#include "cpu/range_scan.hpp"
#include "cpu/topk.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

class PqCpu final : public detail::PqBackend {
 public:
  PqCpu(int dim, int code_size, detail::PqLayout layout, Metric metric)
      : dim_(dim),
        code_size_(code_size),
        layout_{static_cast<std::size_t>(code_size), layout == detail::PqLayout::FastScan4},
        metric_(metric) {}

  idx_t size() const override { return size_; }

  void add(idx_t n, const std::uint8_t* codes) override {
    const std::size_t bytes = layout_.bytes_for(size_ + n);
    try {
      if (bytes > codes_.capacity()) codes_.reserve(std::max(bytes, 2 * codes_.capacity()));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(
          fmt::format("cannot grow the CPU PQ index by {} codes of {} bytes", n, code_size_));
    }
    codes_.resize(bytes);  // within the capacity reserved
    layout_.write(codes_.data(), size_, n, codes);
    size_ += n;
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const ProductQuantizer& pq, const detail::IdMap& ids,
              const detail::SearchKnobs& knobs) const override {
    const int m = pq.M();
    const idx_t n = size();
    const bool ip = metric_ != Metric::L2;
    const float pad = empty_distance(metric_);
    const int threads = cpu_threads(knobs.num_threads);
    detail::ParallelErrors errors;
#pragma omp parallel num_threads(threads) if (nq > 1)
    {
      std::vector<float> table, scratch;
      Pq4Scratch fast_scratch;
      TopK topk;
#pragma omp for schedule(dynamic)
      for (idx_t q = 0; q < nq; ++q)
        errors.run([&] {
          table.resize(static_cast<std::size_t>(m) * pq.ksub());
          scratch.resize(kCollectChunk);
          pq.compute_distance_tables(1, queries + q * dim_, metric_, table.data());
          if (ip) {
            for (float& v : table) v = -v;
          }
          topk.reset(k);
          if (layout_.fast_scan_blocks) {
            pq4_scan_into(topk, table.data(), m, 0.0f, codes_.data(), n, 0, knobs.sel, ids.data(),
                          fast_scratch);
          } else {
            pq_scan_into(topk, table.data(), m, 0.0f, codes_.data(), n, 0, knobs.sel, ids.data(),
                         scratch.data());
          }
          topk.write(distances + q * k, labels + q * k, ip, pad);
        });
    }
    errors.rethrow("CPU PQ search");
    ids.rows_to_ids(static_cast<std::size_t>(nq) * static_cast<std::size_t>(k), labels);
  }

  // The scores of search's scan (inner products negated in the table, then back), so a row
  // passes the radius exactly when its search distance does.
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const ProductQuantizer& pq, const detail::IdMap& ids,
                                 const detail::SearchKnobs& knobs) const override {
    if (layout_.fast_scan_blocks) {
      throw NotSupported(
          "IndexPQFastScan has no range_search (nor has FAISS's); IndexPQ and "
          "IndexIVFPQFastScan have");
    }
    const int m = pq.M();
    const idx_t n = size();
    return range_search_by_query(
        nq, metric_, knobs.num_threads, [&](idx_t q, std::vector<RangeHit>& hits) {
          std::vector<float> table(static_cast<std::size_t>(m) * pq.ksub());
          std::vector<float> scores(kCollectChunk);
          pq.compute_distance_tables(1, queries + q * dim_, metric_, table.data());
          if (metric_ != Metric::L2) {
            for (float& v : table) v = -v;
          }
          for (idx_t j0 = 0; j0 < n; j0 += kCollectChunk) {
            const idx_t len = std::min<idx_t>(kCollectChunk, n - j0);
            pq_score_codes(table.data(), m, 0.0f, codes_.data() + j0 * m, len, scores.data());
            append_scores_within(scores.data(), len, ids.data() + j0, metric_, radius, knobs.sel,
                                 hits);
          }
        });
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    idx_t out = 0;
    for (std::size_t r = 0; r < remove.size(); ++r) {
      if (remove[r] != 0) continue;
      if (out != static_cast<idx_t>(r)) layout_.move(codes_.data(), static_cast<idx_t>(r), out);
      ++out;
    }
    codes_.resize(layout_.bytes_for(out));
    size_ = out;
  }

  std::vector<std::uint8_t> codes(idx_t row0, idx_t n) const override {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n) * layout_.code_size);
    layout_.read(codes_.data(), row0, n, out.data());
    return out;
  }

  void reset() override {
    codes_ = std::vector<std::uint8_t>{};
    size_ = 0;
  }

 private:
  int dim_;
  int code_size_;
  CodeLayout layout_;
  Metric metric_;
  std::vector<std::uint8_t> codes_;  // layout_.bytes_for(size_) bytes
  idx_t size_ = 0;
};

}  // namespace

std::unique_ptr<detail::PqBackend> make_pq_backend(int dim, int code_size, detail::PqLayout layout,
                                                   Metric metric) {
  return std::make_unique<PqCpu>(dim, code_size, layout, metric);
}

}  // namespace knnx::cpu
