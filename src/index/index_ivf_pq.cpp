// IndexIVFPQ: owns the quantizer, the id set and one IVF-PQ backend holding centroids and lists.
#include "knnx/index_ivf_pq.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <typeinfo>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/id_set.hpp"
#include "core/pq_backend.hpp"
#include "core/search_knobs.hpp"
#include "index/host_rows.hpp"
#include "index/list_ids.hpp"

namespace knnx {

using detail::require;

namespace {

int checked_n_lists(int n_lists) {
  require(n_lists >= 1, "n_lists must be >= 1, got {}", n_lists);
  return n_lists;
}

template <typename T>
std::vector<T> allocate(idx_t n, idx_t width, const char* what) {
  try {
    return std::vector<T>(detail::checked_elements(n, width, what));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot allocate the {} of {} vectors", what, n));
  }
}

}  // namespace

IndexIVFPQ::IndexIVFPQ(int dim, int n_lists, int M, int nbits, Metric metric, Device device)
    : Index(dim, metric),
      device_(device),
      n_lists_(checked_n_lists(n_lists)),
      pq_(dim, M, nbits),
      backend_(
          detail::backend_for(device).make_ivf_pq(dim, n_lists, pq_.code_size(), metric, device)),
      ids_(std::make_unique<detail::IdSet>()) {
  kmeans_params_.n_iter = 10;  // as IndexIVFFlat and FAISS's IVF indexes
}

IndexIVFPQ::IndexIVFPQ(int dim, int n_lists, ProductQuantizer pq, bool by_residual, Metric metric,
                       Device device)
    : Index(dim, metric),
      device_(device),
      n_lists_(checked_n_lists(n_lists)),
      by_residual_(by_residual),
      pq_(std::move(pq)),
      backend_(detail::backend_for(device).make_ivf_pq_fast_scan(dim, n_lists, pq_.code_size(),
                                                                 by_residual, metric, device)),
      ids_(std::make_unique<detail::IdSet>()) {
  kmeans_params_.n_iter = 10;  // as IndexIVFFlat and FAISS's IVF indexes
}

IndexIVFPQ::~IndexIVFPQ() = default;

idx_t IndexIVFPQ::ntotal() const { return backend_->size(); }

void IndexIVFPQ::set_n_probe(int n_probe) {
  require(n_probe >= 1, "n_probe must be >= 1, got {}", n_probe);
  n_probe_ = std::min(n_probe, n_lists_);
}

void IndexIVFPQ::set_kmeans_params(const KMeansParams& params) {
  KMeansParams p = params;
  p.device = Device::cpu();
  KMeans check(dim(), n_lists_, metric(), p);  // validates every field
  kmeans_params_ = params;
}

void IndexIVFPQ::set_pq_params(const ProductQuantizerParams& params) {
  require(ntotal() == 0, "set_pq_params needs an empty index, but it holds {} vectors", ntotal());
  pq_.set_params(params);
}

bool IndexIVFPQ::precomputed_table_in_use() const { return backend_->has_precomputed_table(); }

void IndexIVFPQ::set_use_precomputed_table(bool use) {
  precompute_ = use;
  if (trained_) backend_->prepare(pq_, precompute_);
}

std::vector<float> IndexIVFPQ::centroids() const { return backend_->centroids(); }

std::vector<idx_t> IndexIVFPQ::list_sizes() const { return backend_->list_sizes(); }

void IndexIVFPQ::check_list(int list) const {
  require(list >= 0 && list < n_lists_, "list must be in [0, {}), got {}", n_lists_, list);
}

std::vector<idx_t> IndexIVFPQ::list_ids(int list) const {
  check_list(list);
  return backend_->list_ids(list);
}

std::vector<std::uint8_t> IndexIVFPQ::list_codes(int list) const {
  check_list(list);
  return backend_->list_codes(list);
}

void IndexIVFPQ::residuals(idx_t n, const float* x, const idx_t* lists, float* out) const {
  const std::vector<float> c = backend_->centroids();
  const idx_t d = dim();
  for (idx_t i = 0; i < n; ++i) {
    const float* ci = c.data() + lists[i] * d;
    for (idx_t j = 0; j < d; ++j) out[i * d + j] = x[i * d + j] - ci[j];
  }
}

void IndexIVFPQ::do_train(idx_t n, const float* x_in) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  require(ntotal() == 0, "train needs an empty index, but it holds {} vectors; reset() first",
          ntotal());
  require(n >= n_lists_, "n must be >= n_lists: {} training vectors cannot make {} lists", n,
          n_lists_);
  require(n >= pq_.ksub(),
          "n must be >= ksub = {}: {} training vectors cannot train the product quantizer",
          pq_.ksub(), n);
  KMeansParams params = kmeans_params_;
  params.device = device_;
  KMeans kmeans(dim(), n_lists_, metric(), params);
  kmeans.train(n, x);
  // The quantizer learns the residuals from the new centroids (or the vectors themselves);
  // nothing changes until both trainings succeeded.
  ProductQuantizer pq = pq_;
  if (!by_residual_) {
    pq.train(n, x);
  } else {
    std::vector<idx_t> lists = allocate<idx_t>(n, 1, "list numbers");
    kmeans.assign(n, x, lists.data());
    std::vector<float> res = allocate<float>(n, dim(), "residuals");
    const std::vector<float>& c = kmeans.centroids();
    for (idx_t i = 0; i < n; ++i) {
      for (int j = 0; j < dim(); ++j)
        res[i * dim() + j] = x[i * dim() + j] - c[lists[i] * dim() + j];
    }
    pq.train(n, res.data());
  }
  backend_->set_centroids(kmeans.centroids().data());
  pq_ = std::move(pq);
  backend_->prepare(pq_, precompute_);
  trained_ = true;
}

void IndexIVFPQ::do_add(idx_t n, const float* x_in, const idx_t* ids) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  std::vector<idx_t> lists = allocate<idx_t>(n, 1, "list numbers");
  backend_->assign(n, x, lists.data());
  std::vector<std::uint8_t> codes = allocate<std::uint8_t>(n, pq_.code_size(), "codes");
  if (!by_residual_) {
    pq_.encode(n, x, codes.data());
  } else {
    std::vector<float> res = allocate<float>(n, dim(), "residuals");
    residuals(n, x, lists.data(), res.data());
    pq_.encode(n, res.data(), codes.data());
  }
  // Ids first (strong guarantee), then the codes (strong guarantee); if the codes fail to go
  // in, the ids come out again.
  const detail::IdSet::Mark before = ids_->mark();
  try {
    ids_->insert(n, ids);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot grow the id set of the index by {} ids", n));
  }
  try {
    backend_->add(n, codes.data(), ids, lists.data());
  } catch (...) {
    ids_->revert_insert(n, ids, before);
    throw;
  }
}

void IndexIVFPQ::check_search_params(const SearchParams& params) const {
  require(typeid(params) == typeid(SearchParams) || typeid(params) == typeid(SearchParamsIVF),
          "IndexIVFPQ takes knnx::SearchParams or knnx::SearchParamsIVF, not {}",
          detail::search_params_type_name(params));
}

detail::SearchKnobs IndexIVFPQ::search_knobs(const SearchParams* params) const {
  detail::IndexSearchDefaults own;
  own.nprobe = n_probe_;
  own.n_lists = n_lists_;
  return detail::resolve_search_knobs(params, own, config());
}

void IndexIVFPQ::do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                           const SearchParams* params) const {
  backend_->search(nq, queries, k, distances, labels, pq_, search_knobs(params));
}

RangeSearchResult IndexIVFPQ::do_range_search(idx_t nq, const float* queries, float radius,
                                              const SearchParams* params) const {
  return backend_->range_search(nq, queries, radius, pq_, search_knobs(params));
}

std::vector<idx_t> IndexIVFPQ::selected_ids(const IDSelector& sel) const {
  return detail::ids_selected_in_lists(n_lists_, sel,
                                       [&](int l) { return backend_->list_ids(l); });
}

idx_t IndexIVFPQ::do_remove_ids(idx_t n, const idx_t* ids) {
  return detail::remove_stored_ids(*ids_, n, ids, [&](const std::vector<idx_t>& sorted) {
    return backend_->remove_ids(sorted);
  });
}

void IndexIVFPQ::do_reconstruct(idx_t id, float* out) const {
  require(ids_->contains(id), "id {} is not stored in the index", id);
  for (int l = 0; l < n_lists_; ++l) {
    const std::vector<idx_t> list = backend_->list_ids(l);
    const auto it = std::find(list.begin(), list.end(), id);
    if (it == list.end()) continue;
    const std::vector<std::uint8_t> codes = backend_->list_codes(l);
    const std::size_t row = static_cast<std::size_t>(it - list.begin());
    pq_.decode(1, codes.data() + row * static_cast<std::size_t>(pq_.code_size()), out);
    if (!by_residual_) return;
    const std::vector<float> c = backend_->centroids();
    for (int j = 0; j < dim(); ++j) out[j] += c[static_cast<std::size_t>(l) * dim() + j];
    return;
  }
  throw Error(fmt::format("id {} is in the id set but in no inverted list", id));
}

void IndexIVFPQ::do_reset() {
  backend_->reset();
  ids_->clear();
}

void IndexIVFPQ::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_rows_on_host(n, dim(), x, what, device_);
}

void IndexIVFPQ::check_queries(idx_t nq, const float* queries) const {
  if (detail::queries_checked_on_host(queries, device_)) Index::check_queries(nq, queries);
}

void IndexIVFPQ::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexIVFPQ::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexIVFPQ::next_id_restorer() {
  return [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); };
}

}  // namespace knnx
