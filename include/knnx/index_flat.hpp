// knnx/index_flat.hpp — IndexFlat: exact (brute-force) search over stored vectors.
//
// On the CPU it runs blocked BLAS sgemm with precomputed norms and a top-k selection fused
// per block; on a CUDA device it runs knnx's fused distance + k-selection kernels.
#pragma once

#include <memory>
#include <vector>

#include "knnx/index.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
class FlatBackend;
class IdMap;
struct SearchKnobs;
}  // namespace detail

class IndexFlat : public Index {
 public:
  IndexFlat(int dim, Metric metric = Metric::L2, Device device = Device::cpu());
  ~IndexFlat() override;

  Device device() const override { return device_; }
  idx_t ntotal() const override;
  bool is_trained() const override { return true; }

  // Stored vectors in row order (ntotal x dim), copied to host memory.
  std::vector<float> vectors() const;
  // Stored ids in row order.
  std::vector<idx_t> ids() const;

  // How GPU searches compute distances (FlatPrecision, knnx/search_params.hpp); Exact by
  // default. SearchParams::precision overrides it for one call.
  FlatPrecision precision() const { return precision_; }
  void set_precision(FlatPrecision precision);
  // The precision a search of nq queries for k results with these params computes with: Fast
  // only where the fast mode can gain (a GPU index, batches of many queries, k up to
  // KNNX_FLAT_FAST_MAX_K; docs/knobs.md), Exact otherwise, and always Exact on the CPU. A search
  // asked to run fast that cannot gain runs exact; this says which one ran. Throws as search
  // does for params out of range.
  FlatPrecision precision_used(idx_t nq, int k, const SearchParams* params = nullptr) const;

 protected:
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  RangeSearchResult do_range_search(idx_t nq, const float* queries, float radius,
                                    const SearchParams* params) const override;
  std::vector<idx_t> selected_ids(const IDSelector& sel) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  void do_reconstruct(idx_t id, float* out) const override;
  void do_reset() override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override;
  std::function<void()> next_id_restorer() override;
  void check_finite(idx_t n, const float* x, const char* what) const override;
  void check_queries(idx_t nq, const float* queries) const override;

 private:
  // read_index rebuilds saved rows and ids through it (src/index/index_restore.hpp).
  friend struct detail::IndexRestore;
  // IndexRefineFlat re-ranks with the backend of its IndexFlat of exact vectors.
  friend class IndexRefineFlat;

  // The knobs of one search; NotSupported for a selector the backend cannot apply.
  detail::SearchKnobs search_knobs(const SearchParams* params) const;

  Device device_;
  FlatPrecision precision_ = FlatPrecision::Exact;
  std::unique_ptr<detail::FlatBackend> backend_;
  std::unique_ptr<detail::IdMap> id_map_;
};

}  // namespace knnx
