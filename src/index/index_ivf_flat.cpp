// IndexIVFFlat: owns the id set and one IVF backend (CPU or CUDA) holding centroids and lists.
#include "knnx/index_ivf_flat.hpp"

#include <algorithm>
#include <new>
#include <typeinfo>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/id_set.hpp"
#include "core/ivf_backend.hpp"
#include "core/search_knobs.hpp"
#include "index/list_ids.hpp"

namespace knnx {

using detail::require;

namespace {

int checked_n_lists(int n_lists) {
  require(n_lists >= 1, "n_lists must be >= 1, got {}", n_lists);
  return n_lists;
}

KMeansParams default_kmeans_params() {
  KMeansParams p;
  p.n_iter = 10;
  return p;
}

}  // namespace

IndexIVFFlat::IndexIVFFlat(int dim, int n_lists, Metric metric, Device device)
    : Index(dim, metric),
      device_(device),
      n_lists_(checked_n_lists(n_lists)),
      kmeans_params_(default_kmeans_params()),
      backend_(detail::backend_for(device).make_ivf(dim, n_lists, metric, device.ordinal)),
      ids_(std::make_unique<detail::IdSet>()) {}

IndexIVFFlat::~IndexIVFFlat() = default;

idx_t IndexIVFFlat::ntotal() const { return backend_->size(); }

void IndexIVFFlat::set_n_probe(int n_probe) {
  require(n_probe >= 1, "n_probe must be >= 1, got {}", n_probe);
  n_probe_ = std::min(n_probe, n_lists_);
}

void IndexIVFFlat::set_kmeans_params(const KMeansParams& params) {
  KMeansParams p = params;
  p.device = Device::cpu();
  KMeans check(dim(), n_lists_, metric(), p);  // validates every field
  kmeans_params_ = params;
}

void IndexIVFFlat::set_centroids(const float* centroids) {
  detail::check_not_null(centroids, "centroids");
  require(ntotal() == 0,
          "set_centroids needs an empty index, but it holds {} vectors; reset() first", ntotal());
  detail::check_vectors_host(n_lists_, dim(), centroids, "centroids");
  backend_->set_centroids(centroids);
  trained_ = true;
}

std::vector<float> IndexIVFFlat::centroids() const { return backend_->centroids(); }

std::vector<idx_t> IndexIVFFlat::list_sizes() const { return backend_->list_sizes(); }

double IndexIVFFlat::imbalance_factor() const {
  const std::vector<idx_t> sizes = list_sizes();
  double total = 0.0, squares = 0.0;
  for (idx_t s : sizes) {
    total += static_cast<double>(s);
    squares += static_cast<double>(s) * static_cast<double>(s);
  }
  if (total == 0.0) return 0.0;
  return static_cast<double>(n_lists_) * squares / (total * total);
}

void IndexIVFFlat::check_list(int list) const {
  require(list >= 0 && list < n_lists_, "list must be in [0, {}), got {}", n_lists_, list);
}

std::vector<idx_t> IndexIVFFlat::list_ids(int list) const {
  check_list(list);
  return backend_->list_ids(list);
}

std::vector<float> IndexIVFFlat::list_vectors(int list) const {
  check_list(list);
  return backend_->list_vectors(list);
}

void IndexIVFFlat::do_train(idx_t n, const float* x) {
  require(ntotal() == 0,
          "train needs an empty index, but it holds {} vectors; reset() first", ntotal());
  require(n >= n_lists_, "n must be >= n_lists: {} training vectors cannot make {} lists", n,
          n_lists_);
  KMeansParams params = kmeans_params_;
  params.device = device_;
  KMeans kmeans(dim(), n_lists_, metric(), params);
  kmeans.train(n, x);
  backend_->set_centroids(kmeans.centroids().data());
  trained_ = true;
}

void IndexIVFFlat::do_add(idx_t n, const float* x, const idx_t* ids) {
  std::vector<idx_t> lists;
  try {
    lists.resize(static_cast<std::size_t>(n));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot allocate the list numbers of {} vectors", n));
  }
  backend_->assign(n, x, lists.data());
  // Ids first (strong guarantee), then the vectors (strong guarantee); if the vectors fail to
  // go in, the ids come out again, so the index is left as it was.
  const detail::IdSet::Mark before = ids_->mark();
  try {
    ids_->insert(n, ids);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot grow the id set of the index by {} ids", n));
  }
  try {
    backend_->add(n, x, ids, lists.data());
  } catch (...) {
    ids_->revert_insert(n, ids, before);
    throw;
  }
}

void IndexIVFFlat::check_search_params(const SearchParams& params) const {
  require(typeid(params) == typeid(SearchParams) || typeid(params) == typeid(SearchParamsIVF),
          "IndexIVFFlat takes knnx::SearchParams or knnx::SearchParamsIVF, not {}",
          detail::search_params_type_name(params));
}

detail::SearchKnobs IndexIVFFlat::search_knobs(const SearchParams* params) const {
  detail::IndexSearchDefaults own;
  own.nprobe = n_probe_;
  own.n_lists = n_lists_;
  detail::SearchKnobs knobs = detail::resolve_search_knobs(params, own, config());
  if (knobs.sel && !backend_->filters()) {
    throw NotSupported(fmt::format(
        "IndexIVFFlat on {} does not take an IDSelector (SearchParams.sel)", device_.to_string()));
  }
  return knobs;
}

void IndexIVFFlat::do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                             const SearchParams* params) const {
  backend_->search(nq, queries, k, distances, labels, search_knobs(params));
}

RangeSearchResult IndexIVFFlat::do_range_search(idx_t nq, const float* queries, float radius,
                                                const SearchParams* params) const {
  return backend_->range_search(nq, queries, radius, search_knobs(params));
}

std::vector<idx_t> IndexIVFFlat::selected_ids(const IDSelector& sel) const {
  return detail::ids_selected_in_lists(n_lists_, sel, [&](int l) { return backend_->list_ids(l); });
}

idx_t IndexIVFFlat::do_remove_ids(idx_t n, const idx_t* ids) {
  return detail::remove_stored_ids(*ids_, n, ids, [&](const std::vector<idx_t>& sorted) {
    return backend_->remove_ids(sorted);
  });
}

void IndexIVFFlat::do_reconstruct(idx_t id, float* out) const {
  require(ids_->contains(id), "id {} is not stored in the index", id);
  for (int l = 0; l < n_lists_; ++l) {
    const std::vector<idx_t> list = backend_->list_ids(l);
    const auto it = std::find(list.begin(), list.end(), id);
    if (it == list.end()) continue;
    const std::vector<float> vectors = backend_->list_vectors(l);
    const std::size_t row = static_cast<std::size_t>(it - list.begin());
    std::copy_n(vectors.data() + row * static_cast<std::size_t>(dim()), dim(), out);
    return;
  }
  // The id set and the lists always agree; reaching here would be a bug in knnx.
  throw Error(fmt::format("id {} is in the id set but in no inverted list", id));
}

void IndexIVFFlat::do_reset() {
  backend_->reset();
  ids_->clear();
}

void IndexIVFFlat::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexIVFFlat::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexIVFFlat::next_id_restorer() {
  return [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); };
}

void IndexIVFFlat::check_finite(idx_t n, const float* x, const char* what) const {
  backend_->check_finite(n, x, what);
}

void IndexIVFFlat::check_queries(idx_t nq, const float* queries) const {
  backend_->check_queries(nq, queries);
}

}  // namespace knnx
