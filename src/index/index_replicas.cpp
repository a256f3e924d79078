// IndexReplicas: the same contents on every sub-index; searches split their queries into one
// contiguous block per replica, searched in parallel and written in place.
#include "knnx/index_replicas.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "core/id_set.hpp"
#include "index/sub_indexes.hpp"
#include "knnx/error.hpp"

namespace knnx {

using detail::require;

IndexReplicas::IndexReplicas(int dim, std::string_view spec, std::vector<Device> devices,
                             Metric metric)
    : IndexReplicas(dim, metric, std::move(devices), detail::spec_factory(dim, spec, metric)) {}

IndexReplicas::IndexReplicas(int dim, Metric metric, std::vector<Device> devices,
                             const SubIndexFactory& factory)
    : Index(dim, metric),
      subs_(std::make_unique<detail::SubIndexes>(dim, metric, std::move(devices), factory,
                                                 "replica")),
      ids_(std::make_unique<detail::IdSet>()) {}

IndexReplicas::IndexReplicas(const Index& source, std::vector<Device> devices)
    : Index(source.dim(), source.metric()), ids_(std::make_unique<detail::IdSet>()) {
  const detail::IndexContents contents = detail::read_contents(source);
  subs_ = std::make_unique<detail::SubIndexes>(dim(), metric(), std::move(devices),
                                               detail::contents_factory(dim(), metric(), contents),
                                               "replica");
  if (!contents.ids.empty()) {
    check_new_ids(static_cast<idx_t>(contents.ids.size()), contents.ids.data());
    do_add(static_cast<idx_t>(contents.ids.size()), contents.vectors.data(), contents.ids.data());
  }
}

IndexReplicas::~IndexReplicas() = default;

Device IndexReplicas::device() const { return subs_->devices().front(); }

idx_t IndexReplicas::ntotal() const { return (*subs_)[0].ntotal(); }

bool IndexReplicas::is_trained() const { return subs_->is_trained(); }

int IndexReplicas::n_replicas() const { return subs_->size(); }

const std::vector<Device>& IndexReplicas::devices() const { return subs_->devices(); }

Index& IndexReplicas::replica(int i) { return subs_->at(i); }

const Index& IndexReplicas::replica(int i) const { return subs_->at(i); }

void IndexReplicas::set_n_probe(int n_probe) { subs_->set_n_probe(n_probe); }

int IndexReplicas::n_probe() const { return subs_->n_probe(); }

std::unique_ptr<Index> IndexReplicas::merged(Device device) const {
  const detail::IndexContents c = detail::read_contents((*subs_)[0]);
  std::unique_ptr<Index> out = detail::contents_factory(dim(), metric(), c)(device);
  if (!c.ids.empty()) {
    out->add_with_ids(static_cast<idx_t>(c.ids.size()), c.vectors.data(), c.ids.data());
  }
  return out;
}

void IndexReplicas::do_train(idx_t n, const float* x) { subs_->train(n, x); }

void IndexReplicas::do_add(idx_t n, const float* x, const idx_t* ids) {
  const detail::IdSet::Mark mark = ids_->mark();
  ids_->insert(n, ids);
  std::vector<char> done(static_cast<std::size_t>(subs_->size()), 0);
  try {
    subs_->workers().run_all([&](int i) {
      (*subs_)[i].add_with_ids(n, x, ids);
      done[static_cast<std::size_t>(i)] = 1;
    });
  } catch (...) {
    for (int i = 0; i < subs_->size(); ++i) {
      if (!done[static_cast<std::size_t>(i)]) continue;
      try {
        (*subs_)[i].remove_ids(n, ids);
      } catch (...) {
      }
    }
    ids_->revert_insert(n, ids, mark);
    throw;
  }
}

void IndexReplicas::check_search_params(const SearchParams& params) const {
  for (int i = 0; i < subs_->size(); ++i) (*subs_)[i].validate_search_params(params);
}

void IndexReplicas::do_search(idx_t nq, const float* queries, int k, float* distances,
                              idx_t* labels, const SearchParams* params) const {
  detail::SubIndexes::require_host(distances, "distances");
  detail::SubIndexes::require_host(labels, "labels");
  // Replica r searches queries [first[r], first[r+1]): blocks differ in size by at most one.
  const int r = static_cast<int>(std::min<idx_t>(subs_->size(), nq));
  std::vector<int> busy(static_cast<std::size_t>(r));
  for (int i = 0; i < r; ++i) busy[static_cast<std::size_t>(i)] = i;
  subs_->workers().run_on(busy, [&](int i) {
    const idx_t a = nq * i / r;
    const idx_t b = nq * (i + 1) / r;
    (*subs_)[i].search(b - a, queries + a * dim(), k, distances + a * k, labels + a * k, params);
  });
}

idx_t IndexReplicas::do_remove_ids(idx_t n, const idx_t* ids) {
  return subs_->remove_ids(*ids_, n, ids).front();  // every replica removes the same ids
}

void IndexReplicas::do_reconstruct(idx_t id, float* out) const {
  require(ids_->contains(id), "id {} is not stored in the index", id);
  (*subs_)[0].reconstruct(id, out);
}

void IndexReplicas::do_reset() {
  subs_->workers().run_all([&](int i) { (*subs_)[i].reset(); });
  ids_->clear();
}

void IndexReplicas::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexReplicas::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexReplicas::next_id_restorer() {
  std::vector<Index*> held;
  for (int i = 0; i < subs_->size(); ++i) held.push_back(&(*subs_)[i]);
  return next_id_restorer_with(
      [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); }, held);
}

void IndexReplicas::check_finite(idx_t n, const float* x, const char* what) const {
  detail::SubIndexes::require_host(x, what);
  Index::check_finite(n, x, what);
}

}  // namespace knnx
