// knnx/index_ivf_flat.hpp — IndexIVFFlat: an inverted-file index storing full vectors, as
// FAISS's IndexIVFFlat.
//
// train() clusters sample vectors into n_lists centroids with KMeans (or set_centroids() installs
// given ones); add() puts every vector into the list of its nearest centroid (by the index
// metric); search() scans the lists of the n_probe centroids nearest to each query and returns
// the exact distances of the best k vectors found there. n_probe = n_lists gives exact results;
// smaller values trade recall for speed.
//
// Ids follow the Index contract, as in IndexFlat: add() numbers from one past the largest id the
// index has ever held (0 for a fresh or reset index); add_with_ids refuses negative, repeated or
// already stored ids. reconstruct(id) scans the lists' ids, so it costs O(ntotal).
#pragma once

#include <memory>
#include <vector>

#include "knnx/index.hpp"
#include "knnx/kmeans.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
class IvfBackend;
class IdSet;
struct SearchKnobs;
}  // namespace detail

class IndexIVFFlat : public Index {
 public:
  // n_lists >= 1 (InvalidArgument otherwise); NotSupported when knnx has no IVF implementation
  // for `device`.
  IndexIVFFlat(int dim, int n_lists, Metric metric = Metric::L2, Device device = Device::cpu());
  ~IndexIVFFlat() override;

  Device device() const override { return device_; }
  idx_t ntotal() const override;
  bool is_trained() const override { return trained_; }
  int n_lists() const { return n_lists_; }

  // Lists scanned per query; 1 by default (as in FAISS). Values < 1 throw InvalidArgument;
  // values > n_lists are clamped to n_lists (as FAISS does), so n_probe() returns the value in
  // force.
  int n_probe() const { return n_probe_; }
  void set_n_probe(int n_probe);

  // The k-means settings train() uses. The default is KMeansParams with n_iter = 10, the number
  // of iterations FAISS's IVF indexes train with. With the inner-product metric the k-means is
  // the plain one (centroids are not normalised) unless spherical is set, as in FAISS.
  // params.device is ignored: train() runs k-means on the index's device.
  const KMeansParams& kmeans_params() const { return kmeans_params_; }
  void set_kmeans_params(const KMeansParams& params);

  // Installs n_lists x dim centroids (host memory, finite) instead of training; the index is
  // trained afterwards. Like train(), only while the index holds no vectors (InvalidArgument
  // otherwise; reset() first).
  void set_centroids(const float* centroids);
  // The n_lists x dim centroids (zeros before training).
  std::vector<float> centroids() const;

  // Vectors per list.
  std::vector<idx_t> list_sizes() const;
  // How unevenly the vectors spread over the lists, as FAISS's imbalance_factor:
  // n_lists * sum(size^2) / ntotal^2; 1 for perfectly even lists, n_lists when one list holds
  // everything. 0 for an empty index.
  double imbalance_factor() const;

  // The ids and vectors of one list, in insertion order (list in [0, n_lists)).
  std::vector<idx_t> list_ids(int list) const;
  std::vector<float> list_vectors(int list) const;

 protected:
  // Runs k-means on n >= n_lists vectors, which must be in host memory whatever the device;
  // refused (InvalidArgument) while the index holds vectors. Retraining an empty index
  // replaces its centroids.
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  // Takes SearchParams and SearchParamsIVF.
  void check_search_params(const SearchParams& params) const override;
  RangeSearchResult do_range_search(idx_t nq, const float* queries, float radius,
                                    const SearchParams* params) const override;
  std::vector<idx_t> selected_ids(const IDSelector& sel) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  // A linear scan over the lists' ids: O(ntotal).
  void do_reconstruct(idx_t id, float* out) const override;
  // Empties the lists and restarts ids at 0; the centroids stay (the index stays trained).
  void do_reset() override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override;
  std::function<void()> next_id_restorer() override;
  void check_finite(idx_t n, const float* x, const char* what) const override;
  void check_queries(idx_t nq, const float* queries) const override;

 private:
  // read_index rebuilds saved lists and ids through it (src/index/index_restore.hpp).
  friend struct detail::IndexRestore;

  void check_list(int list) const;
  // The knobs of one search; NotSupported for a selector the backend cannot apply.
  detail::SearchKnobs search_knobs(const SearchParams* params) const;

  Device device_;
  int n_lists_;
  int n_probe_ = 1;
  bool trained_ = false;
  KMeansParams kmeans_params_;
  std::unique_ptr<detail::IvfBackend> backend_;
  std::unique_ptr<detail::IdSet> ids_;
};

}  // namespace knnx
