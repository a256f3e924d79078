// knnx/index_scalar_quantizer.hpp — indexes storing ScalarQuantizer codes
// (knnx/scalar_quantizer.hpp) instead of float32 vectors, as FAISS's IndexScalarQuantizer and
// IndexIVFScalarQuantizer.
//
// Search scores every candidate against its decoded code (the distances returned are those to
// the decoded vectors, so they differ from exact ones by the quantizer's error), and reconstruct
// returns the decoded vector. QT_8bit and QT_4bit learn their ranges in train(); QT_fp16 and
// QT_bf16 need no training for the codes themselves (IndexScalarQuantizer with them is trained
// from the start; IndexIVFScalarQuantizer still trains its centroids).
//
// Ids follow the Index contract as in IndexIVFFlat: add() numbers from one past the largest id
// ever held; add_with_ids takes any new ids. reconstruct(id) scans the stored ids: O(ntotal).
// Both take IDSelector filters (SearchParams::sel) and have range_search. On a CUDA device the
// codes live in GPU memory and searches (range searches included) run there (src/cuda/sq/); the
// quantizer is trained and vectors are encoded on the host, device arrays copied there first,
// while device queries go straight to the GPU search.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "knnx/index.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/scalar_quantizer.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
class SqBackend;
class IdSet;
struct SearchKnobs;
}  // namespace detail

// What the two scalar-quantizer indexes share: codes in lists, ids, search and removal.
class IndexScalarQuantizerBase : public Index {
 public:
  ~IndexScalarQuantizerBase() override;

  Device device() const override { return device_; }
  idx_t ntotal() const override;
  bool is_trained() const override;
  ScalarQuantizer::Type quantizer_type() const { return type_; }
  // The trained quantizer (its ranges); InvalidArgument before training for QT_8bit / QT_4bit.
  const ScalarQuantizer& quantizer() const;
  // Bytes stored per vector (the quantizer's code_size).
  std::size_t code_size() const;

 protected:
  IndexScalarQuantizerBase(int dim, ScalarQuantizer::Type type, Metric metric, int n_lists,
                           bool coarse, bool by_residual, Device device);

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
  // On a GPU, x and queries may be device memory (vectors are copied to the host, where they
  // are checked and encoded; the search checks its staged copy of the queries).
  void check_finite(idx_t n, const float* x, const char* what) const override;
  void check_queries(idx_t nq, const float* queries) const override;

  // Lists a search scans unless its params say otherwise (1 for flat codes).
  virtual int default_n_probe() const { return 1; }
  // Trains the quantizer on n vectors, in the space they are coded in, and installs it.
  void train_quantizer(idx_t n, const float* x);
  detail::SearchKnobs search_knobs(const SearchParams* params) const;

  friend struct detail::IndexRestore;

  Device device_;
  int n_lists_;
  ScalarQuantizer::Type type_;
  std::unique_ptr<detail::SqBackend> backend_;
  std::unique_ptr<detail::IdSet> ids_;
};

// Flat codes: every stored vector is scored by every search.
class IndexScalarQuantizer : public IndexScalarQuantizerBase {
 public:
  IndexScalarQuantizer(int dim, ScalarQuantizer::Type type, Metric metric = Metric::L2,
                       Device device = Device::cpu());

 protected:
  // Learns the quantizer's ranges from n host vectors (a no-op for QT_fp16 / QT_bf16); refused
  // while the index holds vectors.
  void do_train(idx_t n, const float* x) override;
};

// Inverted lists of codes behind n_lists k-means centroids, as IndexIVFFlat. With by_residual
// (the default, as FAISS's "IVF<n>,SQ8") each vector is coded as its residual from its list's
// centroid, which makes the codes more precise; otherwise the vector itself is coded.
class IndexIVFScalarQuantizer : public IndexScalarQuantizerBase {
 public:
  IndexIVFScalarQuantizer(int dim, int n_lists, ScalarQuantizer::Type type,
                          Metric metric = Metric::L2, bool by_residual = true,
                          Device device = Device::cpu());

  int n_lists() const { return n_lists_; }
  bool by_residual() const { return by_residual_; }
  // Lists scanned per query, as IndexIVFFlat::n_probe (1 by default; clamped to n_lists).
  int n_probe() const { return n_probe_; }
  void set_n_probe(int n_probe);
  // The k-means settings of train(), as IndexIVFFlat's (n_iter = 10 by default).
  const KMeansParams& kmeans_params() const { return kmeans_params_; }
  void set_kmeans_params(const KMeansParams& params);

  // The n_lists x dim centroids (zeros before training).
  std::vector<float> centroids() const;
  // Vectors per list, and one list's ids in insertion order (list in [0, n_lists)).
  std::vector<idx_t> list_sizes() const;
  std::vector<idx_t> list_ids(int list) const;

 protected:
  // k-means on n >= n_lists host vectors, then the quantizer on the residuals (or the vectors);
  // refused while the index holds vectors.
  void do_train(idx_t n, const float* x) override;
  // Takes SearchParams and SearchParamsIVF.
  void check_search_params(const SearchParams& params) const override;
  int default_n_probe() const override { return n_probe_; }

 private:
  friend struct detail::IndexRestore;

  bool by_residual_;
  int n_probe_ = 1;
  KMeansParams kmeans_params_;
};

}  // namespace knnx
