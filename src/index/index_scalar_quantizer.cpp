// IndexScalarQuantizer and IndexIVFScalarQuantizer: validation, ids and settings; the codes,
// centroids and searches are the backend's (core/sq_backend.hpp).
#include "knnx/index_scalar_quantizer.hpp"

#include <algorithm>
#include <new>
#include <typeinfo>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/id_set.hpp"
#include "core/search_knobs.hpp"
#include "core/sq_backend.hpp"
#include "index/host_rows.hpp"
#include "index/list_ids.hpp"

namespace knnx {

using detail::require;

namespace {

std::unique_ptr<detail::SqBackend> make_backend(int dim, ScalarQuantizer::Type type, Metric metric,
                                                int n_lists, bool coarse, bool by_residual,
                                                Device device) {
  require(n_lists >= 1, "n_lists must be >= 1, got {}", n_lists);
  const ScalarQuantizer check(dim, type);  // validates dim and type
  detail::SqLayout layout;
  layout.dim = dim;
  layout.n_lists = n_lists;
  layout.coarse = coarse;
  layout.by_residual = by_residual;
  layout.metric = metric;
  layout.type = type;
  std::unique_ptr<detail::SqBackend> backend =
      detail::backend_for(device).make_sq(layout, device);
  // Types without training are ready from the start.
  if (check.is_trained()) backend->set_quantizer(check);
  return backend;
}

KMeansParams default_kmeans_params() {
  KMeansParams p;
  p.n_iter = 10;
  return p;
}

}  // namespace

// ---- IndexScalarQuantizerBase ----

IndexScalarQuantizerBase::IndexScalarQuantizerBase(int dim, ScalarQuantizer::Type type,
                                                   Metric metric, int n_lists, bool coarse,
                                                   bool by_residual, Device device)
    : Index(dim, metric),
      device_(device),
      n_lists_(n_lists),
      type_(type),
      backend_(make_backend(dim, type, metric, n_lists, coarse, by_residual, device)),
      ids_(std::make_unique<detail::IdSet>()) {}

IndexScalarQuantizerBase::~IndexScalarQuantizerBase() = default;

idx_t IndexScalarQuantizerBase::ntotal() const { return backend_->size(); }

bool IndexScalarQuantizerBase::is_trained() const {
  return backend_->quantizer().has_value() &&
         (!backend_->layout().coarse || backend_->has_centroids());
}

const ScalarQuantizer& IndexScalarQuantizerBase::quantizer() const {
  require(backend_->quantizer().has_value(), "the {} quantizer is not trained yet",
          ScalarQuantizer::type_name(type_));
  return *backend_->quantizer();
}

std::size_t IndexScalarQuantizerBase::code_size() const {
  return ScalarQuantizer(dim(), type_).code_size();
}

void IndexScalarQuantizerBase::train_quantizer(idx_t n, const float* x) {
  ScalarQuantizer sq(dim(), type_);
  sq.train(n, x);
  backend_->set_quantizer(sq);
}

void IndexScalarQuantizerBase::do_add(idx_t n, const float* x_in, const idx_t* ids) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  std::vector<idx_t> lists;
  try {
    lists.resize(static_cast<std::size_t>(n));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot allocate the list numbers of {} vectors", n));
  }
  backend_->assign(n, x, lists.data());
  // Ids first, then the codes; if the codes fail to go in, the ids come out again.
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

detail::SearchKnobs IndexScalarQuantizerBase::search_knobs(const SearchParams* params) const {
  detail::IndexSearchDefaults own;
  own.nprobe = default_n_probe();
  own.n_lists = n_lists_;
  return detail::resolve_search_knobs(params, own, config());
}

void IndexScalarQuantizerBase::do_search(idx_t nq, const float* queries, int k, float* distances,
                                         idx_t* labels, const SearchParams* params) const {
  backend_->search(nq, queries, k, distances, labels, search_knobs(params));
}

RangeSearchResult IndexScalarQuantizerBase::do_range_search(idx_t nq, const float* queries,
                                                            float radius,
                                                            const SearchParams* params) const {
  return backend_->range_search(nq, queries, radius, search_knobs(params));
}

std::vector<idx_t> IndexScalarQuantizerBase::selected_ids(const IDSelector& sel) const {
  return detail::ids_selected_in_lists(n_lists_, sel, [&](int l) { return backend_->list_ids(l); });
}

idx_t IndexScalarQuantizerBase::do_remove_ids(idx_t n, const idx_t* ids) {
  return detail::remove_stored_ids(*ids_, n, ids, [&](const std::vector<idx_t>& sorted) {
    return backend_->remove_ids(sorted);
  });
}

void IndexScalarQuantizerBase::do_reconstruct(idx_t id, float* out) const {
  require(ids_->contains(id), "id {} is not stored in the index", id);
  if (!backend_->reconstruct(id, out)) {
    // The id set and the lists always agree; reaching here would be a bug in knnx.
    throw Error(fmt::format("id {} is in the id set but in no list of codes", id));
  }
}

void IndexScalarQuantizerBase::do_reset() {
  backend_->reset();
  ids_->clear();
}

void IndexScalarQuantizerBase::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_rows_on_host(n, dim(), x, what, device_);
}

void IndexScalarQuantizerBase::check_queries(idx_t nq, const float* queries) const {
  if (detail::queries_checked_on_host(queries, device_)) Index::check_queries(nq, queries);
}

void IndexScalarQuantizerBase::check_new_ids(idx_t n, const idx_t* ids) const {
  ids_->check_new(n, ids);
}

idx_t IndexScalarQuantizerBase::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexScalarQuantizerBase::next_id_restorer() {
  return [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); };
}

// ---- IndexScalarQuantizer ----

IndexScalarQuantizer::IndexScalarQuantizer(int dim, ScalarQuantizer::Type type, Metric metric,
                                           Device device)
    : IndexScalarQuantizerBase(dim, type, metric, 1, false, false, device) {}

void IndexScalarQuantizer::do_train(idx_t n, const float* x_in) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  require(ntotal() == 0, "train needs an empty index, but it holds {} vectors; reset() first",
          ntotal());
  train_quantizer(n, x);
}

// ---- IndexIVFScalarQuantizer ----

IndexIVFScalarQuantizer::IndexIVFScalarQuantizer(int dim, int n_lists, ScalarQuantizer::Type type,
                                                 Metric metric, bool by_residual, Device device)
    : IndexScalarQuantizerBase(dim, type, metric, n_lists, true, by_residual, device),
      by_residual_(by_residual),
      kmeans_params_(default_kmeans_params()) {}

void IndexIVFScalarQuantizer::set_n_probe(int n_probe) {
  require(n_probe >= 1, "n_probe must be >= 1, got {}", n_probe);
  n_probe_ = std::min(n_probe, n_lists_);
}

void IndexIVFScalarQuantizer::set_kmeans_params(const KMeansParams& params) {
  KMeansParams p = params;
  p.device = Device::cpu();
  KMeans check(dim(), n_lists_, metric(), p);  // validates every field
  kmeans_params_ = params;
}

std::vector<float> IndexIVFScalarQuantizer::centroids() const { return backend_->centroids(); }

std::vector<idx_t> IndexIVFScalarQuantizer::list_sizes() const { return backend_->list_sizes(); }

std::vector<idx_t> IndexIVFScalarQuantizer::list_ids(int list) const {
  require(list >= 0 && list < n_lists_, "list must be in [0, {}), got {}", n_lists_, list);
  return backend_->list_ids(list);
}

void IndexIVFScalarQuantizer::do_train(idx_t n, const float* x_in) {
  const detail::HostRows host(n, dim(), x_in, device_);
  const float* x = host.data();
  require(ntotal() == 0, "train needs an empty index, but it holds {} vectors; reset() first",
          ntotal());
  require(n >= n_lists_, "n must be >= n_lists: {} training vectors cannot make {} lists", n,
          n_lists_);
  KMeansParams params = kmeans_params_;
  params.device = device_;
  KMeans kmeans(dim(), n_lists_, metric(), params);
  kmeans.train(n, x);
  const std::vector<float> centroids = kmeans.centroids();
  // The quantizer learns from what it will code: residuals from the assigned centroids, or the
  // vectors themselves. Both are installed only once both are trained.
  std::unique_ptr<detail::SqBackend> staged =
      detail::backend_for(device_).make_sq(backend_->layout(), device_);
  staged->set_centroids(centroids.data());
  ScalarQuantizer sq(dim(), type_);
  if (by_residual_) {
    std::vector<idx_t> lists(static_cast<std::size_t>(n));
    staged->assign(n, x, lists.data());
    std::vector<float> residuals(detail::checked_elements(n, dim(), "x"));
    const std::size_t d = static_cast<std::size_t>(dim());
    for (idx_t i = 0; i < n; ++i) {
      const float* c =
          centroids.data() + static_cast<std::size_t>(lists[static_cast<std::size_t>(i)]) * d;
      for (std::size_t j = 0; j < d; ++j) {
        residuals[static_cast<std::size_t>(i) * d + j] =
            x[static_cast<std::size_t>(i) * d + j] - c[j];
      }
    }
    sq.train(n, residuals.data());
  } else {
    sq.train(n, x);
  }
  backend_->set_centroids(centroids.data());
  backend_->set_quantizer(sq);
}

void IndexIVFScalarQuantizer::check_search_params(const SearchParams& params) const {
  require(typeid(params) == typeid(SearchParams) || typeid(params) == typeid(SearchParamsIVF),
          "IndexIVFScalarQuantizer takes knnx::SearchParams or knnx::SearchParamsIVF, not {}",
          detail::search_params_type_name(params));
}

}  // namespace knnx
