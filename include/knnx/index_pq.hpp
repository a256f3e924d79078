// knnx/index_pq.hpp — IndexPQ: vectors stored as product-quantizer codes and searched by
// asymmetric distances over all of them, as FAISS's IndexPQ.
//
// train() trains the ProductQuantizer (knnx/product_quantizer.hpp) on a sample; add() stores
// each vector's code (M bytes for 8-bit codes, instead of 4 * dim); search() compares each query
// (exact) with every code through its lookup tables and returns the best k, with distances to
// the codes' reconstructions, so results are approximate. reconstruct() returns the decoded
// vector, not the one added. Ids and SearchParams::sel as IndexFlat. range_search() returns the
// rows whose search distance (the lookup tables') passes the radius, as FAISS's IndexPQ.
//
// On a CUDA device the codes live in GPU memory and searches run there (src/cuda/pq/); the
// quantizer is trained and vectors are encoded on the host, device arrays copied there first.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "knnx/index.hpp"
#include "knnx/product_quantizer.hpp"

namespace knnx {

namespace detail {
struct IndexRestore;
class PqBackend;
class IdMap;
struct SearchKnobs;
}  // namespace detail

class IndexPQ : public Index {
 public:
  // M divides dim, nbits = 8 (InvalidArgument naming the value otherwise).
  IndexPQ(int dim, int M, int nbits = 8, Metric metric = Metric::L2, Device device = Device::cpu());
  ~IndexPQ() override;

  Device device() const override { return device_; }
  idx_t ntotal() const override;
  bool is_trained() const override { return pq_.is_trained(); }

  const ProductQuantizer& pq() const { return pq_; }
  // The training settings of the quantizer (k-means iterations, sample size, seed); only while
  // the index holds no vectors (InvalidArgument otherwise).
  void set_pq_params(const ProductQuantizerParams& params);

  // Stored codes in row order (ntotal x pq().code_size()), and the ids of the rows.
  std::vector<std::uint8_t> codes() const;
  std::vector<idx_t> ids() const;

 protected:
  // IndexPQFastScan: an index over pq's 4-bit codes (ProductQuantizer::fast_scan), kept in the
  // fast-scan layout.
  IndexPQ(int dim, ProductQuantizer pq, Metric metric, Device device);

  // Trains the quantizer on n >= ksub rows; refused while the index holds vectors.
  void do_train(idx_t n, const float* x) override;
  void do_add(idx_t n, const float* x, const idx_t* ids) override;
  void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                 const SearchParams* params) const override;
  RangeSearchResult do_range_search(idx_t nq, const float* queries, float radius,
                                    const SearchParams* params) const override;
  std::vector<idx_t> selected_ids(const IDSelector& sel) const override;
  idx_t do_remove_ids(idx_t n, const idx_t* ids) override;
  // The decoded vector.
  void do_reconstruct(idx_t id, float* out) const override;
  // Drops the codes; the quantizer stays trained.
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

  Device device_;
  ProductQuantizer pq_;
  std::unique_ptr<detail::PqBackend> backend_;
  std::unique_ptr<detail::IdMap> id_map_;
};

}  // namespace knnx
