// knnx/index_refine.hpp — IndexRefineFlat: a base index's candidates re-ranked with exact
// distances, as FAISS's IndexRefineFlat.
//
// The index owns a base index (any kind, on any device; typically a compressed one, e.g.
// "IVF1024,SQ8") and keeps every vector exactly, in float32, in an IndexFlat on the host. A
// search asks the base index for k * k_factor candidates (at most kMaxK), computes their exact
// distances and returns the best k of them; so results hold exact distances, and recall rises
// with k_factor up to the base index's recall at k * k_factor. add() stores each vector in both
// (with the same ids); train() trains the base index. Memory: the base index plus 4 * dim bytes
// a vector. Search takes SearchParamsRefine (k_factor, base_params) or any params the base
// index takes, which are passed to it. range_search and remove_ids(IDSelector) are not
// available (NotSupported); write_index refuses the index (NotSupported).
#pragma once

#include <memory>

#include "knnx/index.hpp"
#include "knnx/index_flat.hpp"

namespace knnx {

namespace detail {
class IdSet;
struct IndexRestore;
}

class IndexRefineFlat : public Index {
 public:
  // base: not null and empty (InvalidArgument otherwise); k_factor as set_k_factor.
  explicit IndexRefineFlat(std::unique_ptr<Index> base, float k_factor = 1.0f);
  ~IndexRefineFlat() override;

  Device device() const override { return base_->device(); }
  idx_t ntotal() const override { return refine_->ntotal(); }
  bool is_trained() const override { return base_->is_trained(); }

  const Index& base_index() const { return *base_; }
  const IndexFlat& refine_index() const { return *refine_; }
  // Candidates per result; finite and >= 1 (InvalidArgument otherwise). 1 by default, as FAISS.
  float k_factor() const { return k_factor_; }
  void set_k_factor(float k_factor);

 protected:
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  // Takes SearchParamsRefine, and whatever the base index takes.
  void check_search_params(const SearchParams& params) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  void do_reconstruct(idx_t id, float* out) const override;
  void do_reset() override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override;
  std::function<void()> next_id_restorer() override;

 private:
  friend struct detail::IndexRestore;

  std::unique_ptr<Index> base_;
  std::unique_ptr<IndexFlat> refine_;
  std::unique_ptr<detail::IdSet> ids_;
  float k_factor_ = 1.0f;
};

}  // namespace knnx
