// IndexFlat: owns the ids and one flat backend (CPU or CUDA) holding the vectors.
#include "knnx/index_flat.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/flat_backend.hpp"
#include "core/id_map.hpp"
#include "core/search_knobs.hpp"

namespace knnx {

IndexFlat::IndexFlat(int dim, Metric metric, Device device)
    : Index(dim, metric),
      device_(device),
      backend_(detail::backend_for(device).make_flat(dim, metric, device.ordinal)),
      id_map_(std::make_unique<detail::IdMap>()) {}

IndexFlat::~IndexFlat() = default;

idx_t IndexFlat::ntotal() const { return backend_->size(); }

std::vector<float> IndexFlat::vectors() const { return backend_->vectors(); }

std::vector<idx_t> IndexFlat::ids() const { return id_map_->ids(); }

void IndexFlat::set_precision(FlatPrecision precision) { precision_ = precision; }

void IndexFlat::do_train(idx_t, const float*) {}  // exact search learns nothing

void IndexFlat::do_add(idx_t n, const float* x, const idx_t* ids) {
  // Both appends have the strong guarantee; if the id append fails after the rows went in,
  // the new rows are dropped again so the index is left as it was.
  backend_->add(n, x);
  try {
    id_map_->append(n, ids);
  } catch (...) {
    std::vector<std::uint8_t> drop(static_cast<std::size_t>(backend_->size()), 0);
    std::fill(drop.end() - n, drop.end(), 1);
    backend_->remove_rows(drop);
    throw;
  }
}

detail::SearchKnobs IndexFlat::search_knobs(const SearchParams* params) const {
  detail::IndexSearchDefaults own;
  own.precision = precision_;
  detail::SearchKnobs knobs = detail::resolve_search_knobs(params, own, config());
  if (knobs.sel && !backend_->filters()) {
    throw NotSupported(fmt::format("IndexFlat on {} does not take an IDSelector (SearchParams.sel)",
                                   device_.to_string()));
  }
  return knobs;
}

FlatPrecision IndexFlat::precision_used(idx_t nq, int k, const SearchParams* params) const {
  if (params) params->validate();
  return backend_->precision_used(nq, k, search_knobs(params));
}

void IndexFlat::do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                          const SearchParams* params) const {
  backend_->search(nq, queries, k, distances, labels, *id_map_, search_knobs(params));
}

RangeSearchResult IndexFlat::do_range_search(idx_t nq, const float* queries, float radius,
                                             const SearchParams* params) const {
  return backend_->range_search(nq, queries, radius, *id_map_, search_knobs(params));
}

std::vector<idx_t> IndexFlat::selected_ids(const IDSelector& sel) const {
  std::vector<idx_t> out;
  for (idx_t id : id_map_->ids()) {
    if (sel.is_member(id)) out.push_back(id);
  }
  return out;
}

idx_t IndexFlat::do_remove_ids(idx_t n, const idx_t* ids) {
  const std::vector<idx_t> rows = id_map_->rows_of(n, ids);
  if (rows.empty()) return 0;
  std::vector<std::uint8_t> remove(static_cast<std::size_t>(ntotal()), 0);
  for (idx_t r : rows) remove[static_cast<std::size_t>(r)] = 1;
  backend_->remove_rows(remove);
  id_map_->remove_rows(remove);
  return static_cast<idx_t>(rows.size());
}

void IndexFlat::do_reconstruct(idx_t id, float* out) const {
  const idx_t row = id_map_->row_of_id(id);
  detail::require(row >= 0, "id {} is not stored in the index", id);
  backend_->reconstruct(row, out);
}

void IndexFlat::do_reset() {
  backend_->reset();
  id_map_->clear();
}

void IndexFlat::check_new_ids(idx_t n, const idx_t* ids) const { id_map_->check_new(n, ids); }

idx_t IndexFlat::next_sequential_id() const { return id_map_->next_id(); }

std::function<void()> IndexFlat::next_id_restorer() {
  return [ids = id_map_.get(), next = id_map_->next_id()] { ids->rewind_next_id(next); };
}

void IndexFlat::check_finite(idx_t n, const float* x, const char* what) const {
  backend_->check_finite(n, x, what);
}

void IndexFlat::check_queries(idx_t nq, const float* queries) const {
  backend_->check_queries(nq, queries);
}

}  // namespace knnx
