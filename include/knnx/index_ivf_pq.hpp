// knnx/index_ivf_pq.hpp — IndexIVFPQ: an inverted-file index storing product-quantizer codes of
// residuals, as FAISS's IndexIVFPQ (by_residual, 8-bit codes).
//
// train() clusters the sample into n_lists centroids (KMeans, as IndexIVFFlat), then trains the
// ProductQuantizer on the sample's residuals x - c (c: the nearest centroid). add() stores, in
// the list of each vector's nearest centroid, the code of its residual (pq().code_size() bytes
// a vector). search() scans the n_probe lists nearest to each query with asymmetric distances:
// lookup tables built once per query and probed list (for L2 from a table precomputed per list
// at training, FAISS's decomposition), so distances are to the reconstructions c + decode(code)
// and results are approximate even at n_probe = n_lists. reconstruct() returns c +
// decode(code). Ids, n_probe, SearchParamsIVF and SearchParams::sel as IndexIVFFlat.
// range_search() returns the entries of the probed lists whose search distance passes the
// radius, as FAISS's IndexIVFPQ.
//
// On a CUDA device the codes live in GPU memory and searches run there (src/cuda/pq/); the
// quantizer is trained and vectors are encoded on the host, device arrays copied there first.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "knnx/index.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/product_quantizer.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
class IvfPqBackend;
class IdSet;
struct SearchKnobs;
}  // namespace detail

class IndexIVFPQ : public Index {
 public:
  // n_lists >= 1, M divides dim, nbits = 8 (InvalidArgument naming the value otherwise).
  IndexIVFPQ(int dim, int n_lists, int M, int nbits = 8, Metric metric = Metric::L2,
             Device device = Device::cpu());
  ~IndexIVFPQ() override;

  Device device() const override { return device_; }
  idx_t ntotal() const override;
  bool is_trained() const override { return trained_; }
  int n_lists() const { return n_lists_; }
  const ProductQuantizer& pq() const { return pq_; }
  // Whether codes encode x - c (c: the list's centroid) rather than x. Always true here;
  // IndexIVFPQFastScan may be built without (FAISS's "IVF<n>,PQ<M>x4fs").
  bool by_residual() const { return by_residual_; }

  // Lists scanned per query, as IndexIVFFlat::n_probe (1 by default, clamped to n_lists).
  int n_probe() const { return n_probe_; }
  void set_n_probe(int n_probe);

  // The coarse k-means settings (as IndexIVFFlat::kmeans_params; n_iter 10 by default) and the
  // quantizer's; settable only while the index holds no vectors.
  const KMeansParams& kmeans_params() const { return kmeans_params_; }
  void set_kmeans_params(const KMeansParams& params);
  void set_pq_params(const ProductQuantizerParams& params);

  // L2: whether searches add a per-list table precomputed at training (n_lists x M x ksub
  // floats, FAISS's use_precomputed_table) to each query's table instead of building every
  // probed list's tables from the query's residual. On by default. The table is built only when
  // it fits 1 GiB, and never for the inner product, which needs none:
  // precomputed_table_in_use() says whether one is in use. Results agree either way up to
  // float rounding.
  bool use_precomputed_table() const { return precompute_; }
  void set_use_precomputed_table(bool use);
  bool precomputed_table_in_use() const;

  // The n_lists x dim centroids (zeros before training).
  std::vector<float> centroids() const;
  // Vectors per list; one list's ids and codes (size x code_size), in insertion order.
  std::vector<idx_t> list_sizes() const;
  std::vector<idx_t> list_ids(int list) const;
  std::vector<std::uint8_t> list_codes(int list) const;

 protected:
  // IndexIVFPQFastScan: an index over pq's 4-bit codes (ProductQuantizer::fast_scan), kept in
  // the fast-scan layout, of residuals or (by_residual false) of the vectors themselves.
  IndexIVFPQ(int dim, int n_lists, ProductQuantizer pq, bool by_residual, Metric metric,
             Device device);

  // Runs k-means on n >= n_lists vectors, then trains the quantizer on their residuals
  // (n >= ksub); refused while the index holds vectors.
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  RangeSearchResult do_range_search(idx_t nq, const float* queries, float radius,
                                    const SearchParams* params) const override;
  // Takes SearchParams and SearchParamsIVF.
  void check_search_params(const SearchParams& params) const override;
  std::vector<idx_t> selected_ids(const IDSelector& sel) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  // c + decode(code), found by a scan of the lists' ids: O(ntotal).
  void do_reconstruct(idx_t id, float* out) const override;
  // Empties the lists; centroids and quantizer stay.
  void do_reset() override;
  // On a GPU, x and queries may be device memory: vectors are copied to the host, where they
  // are checked and encoded; queries are checked by the GPU search, on its copy of them.
  void check_finite(idx_t n, const float* x, const char* what) const override;
  void check_queries(idx_t nq, const float* queries) const override;
  void check_new_ids(idx_t n, const idx_t* ids) const override;
  idx_t next_sequential_id() const override;
  std::function<void()> next_id_restorer() override;

 private:
  friend struct detail::IndexRestore;

  void check_list(int list) const;
  // The knobs of a search or range search: params over n_probe and the configuration.
  detail::SearchKnobs search_knobs(const SearchParams* params) const;
  // residuals (n x dim) = x - the centroid of each vector's list.
  void residuals(idx_t n, const float* x, const idx_t* lists, float* out) const;

  Device device_;
  int n_lists_;
  int n_probe_ = 1;
  bool by_residual_ = true;
  bool trained_ = false;
  bool precompute_ = true;
  KMeansParams kmeans_params_;
  ProductQuantizer pq_;
  std::unique_ptr<detail::IvfPqBackend> backend_;
  std::unique_ptr<detail::IdSet> ids_;
};

}  // namespace knnx
