// IndexPreTransform: a transform in front of any Index.
#include <algorithm>

#include "core/check.hpp"
#include "knnx/error.hpp"
#include "knnx/transform.hpp"

namespace knnx {

using detail::require;

namespace {

// Validates the pair before the Index base is built from it.
int checked_dim(const std::shared_ptr<VectorTransform>& transform,
                const std::unique_ptr<Index>& index) {
  require(transform != nullptr, "transform must not be null");
  require(index != nullptr, "index must not be null");
  require(index->dim() == transform->d_out(),
          "index dim {} must equal the transform's d_out {}", index->dim(), transform->d_out());
  require(index->ntotal() == 0, "the wrapped index must be empty, it holds {} vectors",
          index->ntotal());
  return transform->d_in();
}

Metric metric_of(const std::unique_ptr<Index>& index) {
  return index ? index->metric() : Metric::L2;
}

}  // namespace

IndexPreTransform::IndexPreTransform(std::shared_ptr<VectorTransform> transform,
                                     std::unique_ptr<Index> index)
    : Index(checked_dim(transform, index), metric_of(index)),
      transform_(std::move(transform)),
      index_(std::move(index)) {
  std::lock_guard<std::mutex> lock(transform_->users_mutex_);
  transform_->users_.push_back(this);
}

IndexPreTransform::~IndexPreTransform() {
  std::lock_guard<std::mutex> lock(transform_->users_mutex_);
  auto& users = transform_->users_;
  users.erase(std::find(users.begin(), users.end(), this));
}

void IndexPreTransform::do_train(idx_t n, const float* x) {
  if (!transform_->is_trained()) transform_->train(n, x);
  const std::vector<float> y = transform_->apply(n, x);
  index_->train(n, y.data());
}

// The wrapped index stores the ids: its check covers them all, before a chunked add begins.
void IndexPreTransform::check_new_ids(idx_t n, const idx_t* ids) const {
  check_new_ids_of(*index_, n, ids);
}

std::function<void()> IndexPreTransform::next_id_restorer() {
  return next_id_restorer_with([this, next = next_id_] { next_id_ = next; }, {index_.get()});
}

void IndexPreTransform::do_add(idx_t n, const float* x, const idx_t* ids) {
  const std::vector<float> y = transform_->apply(n, x);
  index_->add_with_ids(n, y.data(), ids);
  next_id_ = std::max(next_id_, *std::max_element(ids, ids + n) + 1);
}

void IndexPreTransform::check_search_params(const SearchParams& params) const {
  index_->validate_search_params(params);
}

void IndexPreTransform::do_search(idx_t nq, const float* queries, int k, float* distances,
                                  idx_t* labels, const SearchParams* params) const {
  const std::vector<float> y = transform_->apply(nq, queries);
  index_->search(nq, y.data(), k, distances, labels, params);
}

idx_t IndexPreTransform::do_remove_ids(idx_t n, const idx_t* ids) {
  return index_->remove_ids(n, ids);
}

void IndexPreTransform::do_reconstruct(idx_t id, float* out) const {
  if (!transform_->reversible()) {
    throw NotSupported("reconstruct: the index's transform has no reverse");
  }
  std::vector<float> y(static_cast<std::size_t>(transform_->d_out()));
  index_->reconstruct(id, y.data());
  transform_->reverse(1, y.data(), out);
}

void IndexPreTransform::do_reset() { index_->reset(); }

}  // namespace knnx
