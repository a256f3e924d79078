// knnx/index.hpp — the abstract Index every knnx index implements. The contracts below hold for
// every index; a subclass's header states only what it adds or narrows.
//
// Shapes and units (as FAISS): vectors are row-major float32 arrays of n x dim(), n >= 1 (n = 0
// only where a method says so); ids and labels are int64 (idx_t), >= 0. Search writes nq x k
// distances and labels, best first: squared L2 distances (smaller is better) or inner products
// (larger is better); where fewer than k results exist the remaining labels are -1 and the
// distances +inf (L2) / -inf (inner product). Sizes are counts of vectors, never of bytes.
//
// Ownership: the index copies what it stores; it keeps no pointer it was given beyond the call
// (search params included), and callers keep ownership of every array they pass.
//
// Memory: on a CPU index every pointer is host memory. On a CUDA index (device().is_cuda()),
// search's queries, distances and labels, and add's / add_with_ids' x, may each be host memory
// or device memory of the index's device (see knnx/device.hpp); results land where the output
// pointers point. train(), ids, reconstruct's out and everything else are host memory. Composite
// indexes (IndexShards, IndexReplicas) take host memory only and refuse device pointers.
//
// Errors and guarantees: every public method validates its arguments first and throws
// InvalidArgument (naming the argument and its value) before touching the index or any output
// array. Past validation, a mutating method either completes or throws leaving the index as it
// was (strong guarantee): OutOfMemory when host or device memory runs out, CudaError on a device
// fault, NotSupported where an index kind lacks an operation. A const method never changes the
// index; when it throws after validation (OutOfMemory, CudaError) its output arrays may hold
// partial results. Errors derive from knnx::Error (knnx/error.hpp). An add split into chunks
// (AddOptions) is one call like any other: everything is validated before the first chunk goes
// in, and if a later chunk (or the progress callback) throws, the chunks already added are taken
// out again and the next sequential id is set back, so the index is exactly as before the call.
//
// Thread safety: const methods (search, reconstruct, ...) may run concurrently from many
// threads, with the same or different SearchParams, and return what a serial call returns;
// mutating methods (train, add, add_with_ids, remove_ids, reset, and the setters of subclasses)
// need exclusive access. The index takes no lock itself: guard it with a knnx::SharedMutex
// (knnx/shared_mutex.hpp), searches under std::shared_lock and writers under
// std::unique_lock, as the Python binding does; a chunked add holds the lock for the whole call,
// so no other writer's rows come between its chunks. Settings that should differ between concurrent
// searches go in SearchParams, not in the index's setters.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "knnx/add_options.hpp"
#include "knnx/device.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/metric.hpp"
#include "knnx/range_search.hpp"
#include "knnx/search_params.hpp"
#include "knnx/types.hpp"

namespace knnx {

class Index {
 public:
  virtual ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  int dim() const { return dim_; }
  Metric metric() const { return metric_; }
  virtual Device device() const = 0;
  virtual idx_t ntotal() const = 0;
  virtual bool is_trained() const = 0;

  // Learns whatever the index needs from n sample vectors (host memory; a no-op for exact
  // indexes). Indexes that learn refuse to train while they hold vectors.
  void train(idx_t n, const float* x);

  // Appends n vectors. Ids are assigned sequentially, starting one past the largest id the
  // index has ever held (0 for a fresh index), so they never collide with stored ids.
  // options: chunks and a progress callback (knnx/add_options.hpp); a chunk's invalid value is
  // reported as "in rows a:b of x: ..." with its row within the chunk.
  void add(idx_t n, const float* x, const AddOptions& options = {});

  // Appends n vectors with caller-chosen ids. Ids must be >= 0, unique within the call and
  // absent from the index; otherwise InvalidArgument is thrown and nothing is added.
  void add_with_ids(idx_t n, const float* x, const idx_t* ids, const AddOptions& options = {});

  // k nearest neighbours of nq queries; 1 <= k <= kMaxK. distances/labels hold nq*k entries.
  // params (knnx/search_params.hpp), when not null, override the index's settings for this call
  // only; they are validated first (InvalidArgument naming the field, or the params type when
  // the index kind does not take it). The index does not keep the pointer.
  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const SearchParams* params = nullptr) const;

  // Every stored vector within `radius` of each of nq queries, as FAISS's range_search: L2
  // results have (squared) distance strictly below radius, inner-product results a score
  // strictly above it. radius must not be NaN (InvalidArgument). params as in search; their sel
  // restricts the ids. Each query's results are sorted best first (knnx/range_search.hpp; FAISS
  // leaves them unsorted). Queries are processed in chunks, so scratch memory stays bounded
  // and the result holds only what was found. Queries in host memory. NotSupported for index
  // kinds without range search (IndexFlat, IndexIVFFlat and the scalar-quantizer indexes have
  // it, on the CPU and on CUDA devices, where each chunk of queries is scanned twice, to count
  // and then to write its hits; IndexPQ, IndexIVFPQ and IndexIVFPQFastScan on the CPU, with the
  // distances their search returns).
  RangeSearchResult range_search(idx_t nq, const float* queries, float radius,
                                 const SearchParams* params = nullptr) const;

  // Throws InvalidArgument (naming the field or the type) unless search() would take params:
  // the index kind takes their dynamic type and every field is in range.
  void validate_search_params(const SearchParams& params) const;

  // Removes every stored vector whose id is in ids[0..n); absent ids are ignored.
  // Returns the number of vectors removed.
  idx_t remove_ids(idx_t n, const idx_t* ids);
  // Removes every stored vector whose id sel admits (FAISS's remove_ids(IDSelector)). Returns
  // the number removed. NotSupported for index kinds other than IndexFlat and IndexIVFFlat.
  idx_t remove_ids(const IDSelector& sel);

  // Copies the stored vector with this id into out[0..dim). InvalidArgument if absent.
  void reconstruct(idx_t id, float* out) const;

  // Copies the vectors with ids i0, i0 + 1, ..., i0 + ni - 1 into out[0..ni*dim) (FAISS's
  // reconstruct_n: with sequential ids, the ni vectors added from the i0-th on). i0, ni >= 0;
  // InvalidArgument naming the first absent id (out is then partly written).
  void reconstruct_n(idx_t i0, idx_t ni, float* out) const;

  // Removes every vector (keeps training state); ids restart at 0.
  void reset();

 protected:
  Index(int dim, Metric metric);

  virtual void do_train(idx_t n, const float* x) = 0;
  virtual void do_add(idx_t n, const float* x, const idx_t* ids) = 0;  // ids validated, never null
  // params: null or validated, of a type check_search_params accepted.
  virtual void do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                         const SearchParams* params) const = 0;
  virtual idx_t do_remove_ids(idx_t n, const idx_t* ids) = 0;
  // Arguments validated (radius not NaN, nq >= 0, queries non-null when nq > 0). The default
  // throws NotSupported.
  virtual RangeSearchResult do_range_search(idx_t nq, const float* queries, float radius,
                                            const SearchParams* params) const;
  // The stored ids sel admits, for remove_ids(sel). The default throws NotSupported.
  virtual std::vector<idx_t> selected_ids(const IDSelector& sel) const;
  virtual void do_reconstruct(idx_t id, float* out) const = 0;
  virtual void do_reset() = 0;

  // Throws InvalidArgument unless this index kind takes params of this dynamic type. The default
  // takes plain SearchParams only; indexes with their own variant (SearchParamsIVF) accept it
  // too, and composite indexes accept whatever the indexes they hold accept.
  virtual void check_search_params(const SearchParams& params) const;
  // Throws InvalidArgument if any of ids[0..n) is negative, repeated, or already stored.
  virtual void check_new_ids(idx_t n, const idx_t* ids) const = 0;
  // The first id add() would assign.
  virtual idx_t next_sequential_id() const = 0;
  // A function that sets next_sequential_id() back to its value now, with those of the indexes
  // this one holds. A chunked add whose later chunk fails calls it after removing the chunks it
  // added. Taking it may throw (before anything changed); calling it never throws. The default
  // returns an empty function: the index cannot restore it, so add ignores chunk_size and adds
  // in one piece (the progress callback is then called once, and if it throws, the rows are
  // removed again but the next sequential id stays advanced). Every knnx index overrides it.
  virtual std::function<void()> next_id_restorer();
  // For indexes that hold others (IndexPreTransform, IndexShards, IndexReplicas): check_new_ids
  // of a held index, and one restorer that runs `own` and the restorers of the held indexes
  // (empty when one of those is).
  static void check_new_ids_of(const Index& held, idx_t n, const idx_t* ids) {
    held.check_new_ids(n, ids);
  }
  static std::function<void()> next_id_restorer_with(std::function<void()> own,
                                                     const std::vector<Index*>& held);
  // Throws InvalidArgument when x[0..n*dim) holds NaN or Inf, or a row whose squared L2 norm is
  // above kMaxSquaredNorm (knnx/types.hpp). The default reads host memory; device backends
  // override it for device pointers, checking on their device.
  virtual void check_finite(idx_t n, const float* x, const char* what) const;
  // The same for the queries of a search. Defaults to check_finite; a device backend may
  // instead check the queries inside the search itself, on its device copy, to avoid a separate
  // round trip and a host pass over them.
  virtual void check_queries(idx_t nq, const float* queries) const;

 private:
  // The validation add and add_with_ids share: sizes, training, chunk size, finite values.
  void check_add(idx_t n, const float* x, const char* method, const AddOptions& options) const;
  // do_add over the chunks options asks for, undone as a whole when one of them fails.
  void add_in_chunks(idx_t n, const float* x, const idx_t* ids, const AddOptions& options);

  int dim_;
  Metric metric_;
};

}  // namespace knnx
