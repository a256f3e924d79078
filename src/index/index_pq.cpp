// IndexPQ: owns the quantizer, the ids and one PQ backend holding the codes.
#include "knnx/index_pq.hpp"

#include <fmt/format.h>

#include <new>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/id_map.hpp"
#include "core/pq_backend.hpp"
#include "core/search_knobs.hpp"
#include "index/host_rows.hpp"

namespace knnx {

using detail::require;

IndexPQ::IndexPQ(int dim, int M, int nbits, Metric metric, Device device)
    : Index(dim, metric),
      device_(device),
      pq_(dim, M, nbits),
      backend_(detail::backend_for(device).make_pq(dim, pq_.code_size(), metric, device)),
      id_map_(std::make_unique<detail::IdMap>()) {}

IndexPQ::IndexPQ(int dim, ProductQuantizer pq, Metric metric, Device device)
    : Index(dim, metric),
      device_(device),
      pq_(std::move(pq)),
      backend_(detail::backend_for(device).make_pq_fast_scan(dim, pq_.code_size(), metric, device)),
      id_map_(std::make_unique<detail::IdMap>()) {}

IndexPQ::~IndexPQ() = default;

idx_t IndexPQ::ntotal() const { return backend_->size(); }

void IndexPQ::set_pq_params(const ProductQuantizerParams& params) {
  require(ntotal() == 0, "set_pq_params needs an empty index, but it holds {} vectors", ntotal());
  pq_.set_params(params);
}

std::vector<std::uint8_t> IndexPQ::codes() const { return backend_->codes(0, ntotal()); }

std::vector<idx_t> IndexPQ::ids() const { return id_map_->ids(); }

void IndexPQ::do_train(idx_t n, const float* x_in) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  require(ntotal() == 0, "train needs an empty index, but it holds {} vectors; reset() first",
          ntotal());
  pq_.train(n, x);
}

void IndexPQ::do_add(idx_t n, const float* x_in, const idx_t* ids) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  std::vector<std::uint8_t> codes;
  try {
    codes.resize(detail::checked_elements(n, pq_.code_size(), "codes"));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot allocate the codes of {} vectors", n));
  }
  pq_.encode(n, x, codes.data());
  // Codes, then ids (both strong guarantees); a failed id append drops the new codes again.
  backend_->add(n, codes.data());
  try {
    id_map_->append(n, ids);
  } catch (...) {
    std::vector<std::uint8_t> drop(static_cast<std::size_t>(backend_->size()), 0);
    std::fill(drop.end() - n, drop.end(), 1);
    backend_->remove_rows(drop);
    throw;
  }
}

void IndexPQ::do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                        const SearchParams* params) const {
  const detail::SearchKnobs knobs =
      detail::resolve_search_knobs(params, detail::IndexSearchDefaults{}, config());
  backend_->search(nq, queries, k, distances, labels, pq_, *id_map_, knobs);
}

RangeSearchResult IndexPQ::do_range_search(idx_t nq, const float* queries, float radius,
                                           const SearchParams* params) const {
  const detail::SearchKnobs knobs =
      detail::resolve_search_knobs(params, detail::IndexSearchDefaults{}, config());
  return backend_->range_search(nq, queries, radius, pq_, *id_map_, knobs);
}

std::vector<idx_t> IndexPQ::selected_ids(const IDSelector& sel) const {
  std::vector<idx_t> out;
  for (idx_t id : id_map_->ids()) {
    if (sel.is_member(id)) out.push_back(id);
  }
  return out;
}

idx_t IndexPQ::do_remove_ids(idx_t n, const idx_t* ids) {
  const std::vector<idx_t> rows = id_map_->rows_of(n, ids);
  if (rows.empty()) return 0;
  std::vector<std::uint8_t> remove(static_cast<std::size_t>(ntotal()), 0);
  for (idx_t r : rows) remove[static_cast<std::size_t>(r)] = 1;
  backend_->remove_rows(remove);
  id_map_->remove_rows(remove);
  return static_cast<idx_t>(rows.size());
}

void IndexPQ::do_reconstruct(idx_t id, float* out) const {
  const idx_t row = id_map_->row_of_id(id);
  require(row >= 0, "id {} is not stored in the index", id);
  const std::vector<std::uint8_t> code = backend_->codes(row, 1);
  pq_.decode(1, code.data(), out);
}

void IndexPQ::do_reset() {
  backend_->reset();
  id_map_->clear();
}

void IndexPQ::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_rows_on_host(n, dim(), x, what, device_);
}

void IndexPQ::check_queries(idx_t nq, const float* queries) const {
  if (detail::queries_checked_on_host(queries, device_)) Index::check_queries(nq, queries);
}

void IndexPQ::check_new_ids(idx_t n, const idx_t* ids) const { id_map_->check_new(n, ids); }

idx_t IndexPQ::next_sequential_id() const { return id_map_->next_id(); }

std::function<void()> IndexPQ::next_id_restorer() {
  return [ids = id_map_.get(), next = id_map_->next_id()] { ids->rewind_next_id(next); };
}

}  // namespace knnx
