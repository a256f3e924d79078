// CPU flat backend: vectors and their squared norms in host vectors (or the vectors read in place
// from a file mapping), searched by flat_search.
#include "cpu/flat_cpu.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "core/check.hpp"
#include "cpu/flat_search.hpp"
#include "cpu/range_scan.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

class FlatCpu final : public detail::FlatBackend {
 public:
  FlatCpu(int dim, Metric metric) : dim_(dim), metric_(metric) {}

  idx_t size() const override { return static_cast<idx_t>(norms_.size()); }

  void add(idx_t n, const float* x) override {
    refuse_if_viewed("add to");
    const std::size_t elems = detail::checked_elements(n, dim_, "x");
    try {
      // Reserve both first: after that the inserts cannot throw, so a failure changes nothing.
      reserve_for(data_, data_.size() + elems);
      reserve_for(norms_, norms_.size() + static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot grow the CPU flat index by {} vectors of dim {}", n, dim_));
    }
    data_.insert(data_.end(), x, x + elems);
    const std::size_t old = norms_.size();
    norms_.resize(old + static_cast<std::size_t>(n));
    row_norms_sq(n, dim_, x, norms_.data() + old);
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const detail::IdMap& ids, const detail::SearchKnobs& knobs) const override {
    const Rows rows = rows_to_scan(ids, knobs.sel);
    flat_search(rows_data() + rows.first * dim_, norms_.data() + rows.first, rows.count, dim_,
                metric_, queries, nq, k, distances, labels, flat_search_params(knobs), rows.sel,
                ids.data() + rows.first);
    const std::size_t count = static_cast<std::size_t>(nq) * static_cast<std::size_t>(k);
    if (rows.first > 0) {
      for (std::size_t i = 0; i < count; ++i) {
        if (labels[i] >= 0) labels[i] += rows.first;
      }
    }
    ids.rows_to_ids(count, labels);
  }

  bool filters() const override { return true; }

  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const detail::IdMap& ids,
                                 const detail::SearchKnobs& knobs) const override {
    const Rows rows = rows_to_scan(ids, knobs.sel);
    return range_search_by_query(
        nq, metric_, knobs.num_threads, [&](idx_t q, std::vector<RangeHit>& hits) {
          range_scan_rows(queries + q * dim_, rows_data() + rows.first * dim_,
                          ids.data() + rows.first, rows.count, dim_, metric_, radius, rows.sel,
                          hits);
        });
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    refuse_if_viewed("remove vectors from");
    std::size_t out = 0;
    const std::size_t d = static_cast<std::size_t>(dim_);
    for (std::size_t r = 0; r < norms_.size(); ++r) {
      if (remove[r]) continue;
      if (out != r) {
        std::memmove(data_.data() + out * d, data_.data() + r * d, d * sizeof(float));
        norms_[out] = norms_[r];
      }
      ++out;
    }
    data_.resize(out * d);
    norms_.resize(out);
  }

  void reconstruct(idx_t row, float* out) const override {
    std::copy_n(rows_data() + row * dim_, dim_, out);
  }

  std::vector<float> vectors() const override {
    if (view_ == nullptr) return data_;
    return std::vector<float>(view_, view_ + norms_.size() * static_cast<std::size_t>(dim_));
  }

  const float* host_rows() const override { return rows_data(); }

  void view_rows(idx_t n, const float* rows, std::shared_ptr<const void> keep) override {
    detail::require(size() == 0, "view_rows needs an empty index, it holds {} rows", size());
    std::vector<float> norms;
    try {
      norms.resize(static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate the norms of {} mapped vectors", n));
    }
    row_norms_sq(n, dim_, rows, norms.data());
    norms_ = std::move(norms);
    view_ = rows;
    keep_ = std::move(keep);
  }

  bool rows_viewed() const override { return view_ != nullptr; }

  void reset() override {
    refuse_if_viewed("reset");
    data_.clear();
    norms_.clear();
  }

  void check_finite(idx_t n, const float* x, const char* what) const override {
    detail::check_vectors_host(n, dim_, x, what);
  }

 private:
  // The rows a filtered search must scan, and the selector still to apply to them.
  struct Rows {
    idx_t first;
    idx_t count;
    const IDSelector* sel;
  };

  // While ids are row numbers, an IDSelectorRange is the rows [imin, imax): only they are
  // scanned, and no row needs testing (FAISS's flat search does the same).
  Rows rows_to_scan(const detail::IdMap& ids, const IDSelector* sel) const {
    const auto* range = dynamic_cast<const IDSelectorRange*>(sel);
    if (range == nullptr || !ids.is_identity()) return {0, size(), sel};
    const idx_t first = std::clamp<idx_t>(range->imin(), 0, size());
    const idx_t last = std::clamp<idx_t>(range->imax(), first, size());
    return {first, last - first, nullptr};
  }

  const float* rows_data() const { return view_ != nullptr ? view_ : data_.data(); }

  void refuse_if_viewed(const char* what) const {
    if (view_ == nullptr) return;
    throw NotSupported(fmt::format(
        "cannot {} an index whose vectors are memory-mapped read-only from its file (read_index "
        "with mmap); load it without mmap to change it",
        what));
  }

  // Amortised growth: at least double, so repeated small adds stay linear overall.
  template <typename T>
  static void reserve_for(std::vector<T>& v, std::size_t needed) {
    if (needed <= v.capacity()) return;
    v.reserve(std::max(needed, 2 * v.capacity()));
  }

  int dim_;
  Metric metric_;
  std::vector<float> data_;
  std::vector<float> norms_;
  const float* view_ = nullptr;  // rows read in place (view_rows), kept alive by keep_
  std::shared_ptr<const void> keep_;
};

}  // namespace

std::unique_ptr<detail::FlatBackend> make_flat_backend(int dim, Metric metric) {
  return std::make_unique<FlatCpu>(dim, metric);
}

}  // namespace knnx::cpu
