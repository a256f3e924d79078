// knnx/index_refine.hpp — IndexRefineFlat: a base index's candidates re-ranked with exact
// distances, as FAISS's IndexRefineFlat.
//
// The index owns a base index (any kind, on any device; typically a compressed one, e.g.
// "IVF1024,SQ8") and keeps every vector exactly, in float32, in an IndexFlat (refine_index()).
// A search asks the base index for k * k_factor candidates (at most kMaxK), computes their exact
// distances and returns the best k of them; so results hold exact distances, and recall rises
// with k_factor up to the base index's recall at k * k_factor. add() stores each vector in both
// (with the same ids); train() trains the base index. Memory: the base index plus 4 * dim bytes
// a vector, where refine_storage() says. Search takes SearchParamsRefine (k_factor, base_params)
// or any params the base index takes, which are passed to it. range_search and
// remove_ids(IDSelector) are not available (NotSupported). write_index saves the index with its
// base index (docs/file_format.md).
//
// Where the exact vectors live (RefineStorage):
// - Host: host memory, re-ranked on the host (the default).
// - Mapped: mapped read-only from an index file (read_index with ReadIndexOptions::mmap), so
//   the vectors may exceed the host's memory; re-ranked on the host, with the same results as
//   Host, bit for bit. The index is read-only, as FAISS's IO_FLAG_MMAP indexes: add,
//   add_with_ids, remove_ids and reset throw NotSupported (set_refine_storage(Host) copies the
//   vectors into memory first).
// - Device: the memory of the base index's CUDA device. A search keeps the base index's
//   candidates on the device and re-ranks them there (gather, exact distance, top-k selection),
//   with no round trip through the host; k is then at most 2048 (NotSupported beyond, as the
//   GPU compressed indexes). Distances equal the host's within float rounding (another
//   summation order).
#pragma once

#include <memory>

#include "knnx/index.hpp"
#include "knnx/index_flat.hpp"

namespace knnx {

namespace detail {
class IdSet;
struct IndexRestore;
}

enum class RefineStorage { Host, Mapped, Device };

// "host", "mapped", "device".
const char* to_string(RefineStorage storage);

class IndexRefineFlat : public Index {
 public:
  // base: not null and empty (InvalidArgument otherwise); k_factor as set_k_factor; storage as
  // set_refine_storage.
  explicit IndexRefineFlat(std::unique_ptr<Index> base, float k_factor = 1.0f,
                           RefineStorage storage = RefineStorage::Host);
  ~IndexRefineFlat() override;

  Device device() const override { return base_->device(); }
  idx_t ntotal() const override { return refine_->ntotal(); }
  bool is_trained() const override { return base_->is_trained(); }

  const Index& base_index() const { return *base_; }
  const IndexFlat& refine_index() const { return *refine_; }
  // Candidates per result; finite and >= 1 (InvalidArgument otherwise). 1 by default, as FAISS.
  float k_factor() const { return k_factor_; }
  void set_k_factor(float k_factor);

  RefineStorage refine_storage() const;
  // Moves the exact vectors: Host copies them into host memory (from a mapping or a device),
  // Device onto the base index's CUDA device (InvalidArgument when the base index is on the
  // CPU). Mapped is InvalidArgument: only read_index maps vectors. The same storage is a no-op.
  // Strong guarantee (OutOfMemory leaves the vectors where they were). A mutating method.
  void set_refine_storage(RefineStorage storage);

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
  // Device vectors are checked on the host (a copy); queries are left to the base index's
  // search, which checks them.
  void check_finite(idx_t n, const float* x, const char* what) const override;
  void check_queries(idx_t nq, const float* queries) const override;

 private:
  friend struct detail::IndexRestore;

  // NotSupported naming `what` while the vectors are mapped.
  void refuse_if_mapped(const char* what) const;
  // The two re-ranking paths of do_search: the candidates' labels on the host or on the device.
  void search_host(idx_t nq, const float* queries, int k, int kb, float* distances, idx_t* labels,
                   const SearchParams* base_params) const;
  void search_device(idx_t nq, const float* queries, int k, int kb, float* distances, idx_t* labels,
                     const SearchParams* base_params) const;

  std::unique_ptr<Index> base_;
  std::unique_ptr<IndexFlat> refine_;
  std::unique_ptr<detail::IdSet> ids_;
  float k_factor_ = 1.0f;
};

}  // namespace knnx
