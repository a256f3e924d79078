// py_index.hpp — PyIndex, the object every bound index class wraps, and the argument helpers
// the index bindings share (index.cpp, index_ivf.cpp, transform.cpp, index_file.cpp).
//
// A PyIndex owns its C++ index and a reader/writer lock (knnx::SharedMutex). Calls that only
// read (search, reconstruct, the getters) take it shared, so any number of Python threads may
// search one index at the same time; calls that change the index (train, add, add_with_ids,
// remove_ids, reset, settings) take it exclusively. read() and write() release the GIL before
// taking the lock, so no thread ever waits for the lock while holding the GIL.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "arrays.hpp"
#include "knnx/index.hpp"
#include "knnx/metric.hpp"
#include "knnx/shared_mutex.hpp"

namespace knnx {
class IndexIVFFlat;
}  // namespace knnx

namespace knnx::python {

namespace nb = nanobind;

using Matrix2D = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;
using Labels2D = nb::ndarray<nb::numpy, std::int64_t, nb::ndim<2>, nb::c_contig>;
using Vector1D = nb::ndarray<nb::numpy, float, nb::ndim<1>, nb::c_contig>;
using Ids1D = nb::ndarray<nb::numpy, std::int64_t, nb::ndim<1>, nb::c_contig>;
using Doubles1D = nb::ndarray<nb::numpy, double, nb::ndim<1>, nb::c_contig>;

class PyIndex {
 public:
  explicit PyIndex(std::unique_ptr<Index> index) : index_(std::move(index)) {}
  virtual ~PyIndex() = default;

  // Whether this object still holds its index (take() hands it over).
  bool present() const { return index_ != nullptr; }

  // Properties fixed at construction: no lock needed.
  const Index& fixed() const {
    check_present();
    return *index_;
  }

  // Runs f(const Index&) without the GIL, under the shared lock. A read from a callback of a
  // change in progress on this thread (a progress callback of train reading ntotal) runs
  // without taking the lock, which that thread already holds: waiting for it would deadlock.
  template <typename F>
  auto read(F&& f) const {
    check_present();
    if (writer_ == std::this_thread::get_id()) return f(static_cast<const Index&>(*index_));
    nb::gil_scoped_release release;
    std::shared_lock lock(mutex_);
    return f(static_cast<const Index&>(*index_));
  }

  // Runs f(Index&) without the GIL, under the exclusive lock. From a callback of a change in
  // progress on the same index (the lock is already held by this thread) it raises
  // InvalidArgument instead of deadlocking: an index cannot be changed from inside its own
  // train or add.
  template <typename F>
  auto write(F&& f) {
    check_present();
    check_not_reentered();
    nb::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    WriterMark mark(writer_);
    return f(*index_);
  }

  // Hands the C++ index over (to an IndexPreTransform); this object is unusable afterwards.
  std::unique_ptr<Index> take() {
    check_present();
    check_not_reentered();
    nb::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    return std::move(index_);
  }

  // As read() / write(), with the index cast to its concrete type T.
  template <typename T, typename F>
  auto read_as(F&& f) const {
    return read([&](const Index& index) { return f(static_cast<const T&>(index)); });
  }
  template <typename T, typename F>
  auto write_as(F&& f) {
    return write([&](Index& index) { return f(static_cast<T&>(index)); });
  }

 private:
  // Records the thread holding the exclusive lock while it does.
  struct WriterMark {
    explicit WriterMark(std::atomic<std::thread::id>& w) : writer(w) {
      writer = std::this_thread::get_id();
    }
    ~WriterMark() { writer = std::thread::id(); }
    std::atomic<std::thread::id>& writer;
  };

  // InvalidArgument once take() has handed the index over (a moved-from index is empty).
  void check_present() const;
  // InvalidArgument when this thread holds the exclusive lock (a callback of train or add).
  void check_not_reentered() const;

  std::unique_ptr<Index> index_;
  // Lets a waiting writer in: std::shared_mutex (glibc) would starve it behind searches that
  // keep overlapping (knnx/shared_mutex.hpp).
  mutable SharedMutex mutex_;
  std::atomic<std::thread::id> writer_{};  // the thread in write(), if any
};

// A C++ index on its way to a Python object: read_index and index_factory return one, and the
// __init__ of the bound class its kind names takes it over (python/knnx/_index_file.py).
struct IndexHandle {
  std::unique_ptr<Index> index;
  std::unique_ptr<Index> take();  // InvalidArgument when already taken
};

// "Flat", "IVFFlat", "ScalarQuantizer", "IVFScalarQuantizer", "RefineFlat", "PreTransform", or
// "Index" for other types.
const char* index_kind(const Index& index);

// "l2" / "ip" (any spelling parse_metric takes), a knnx.Metric, or FAISS's integer code
// (METRIC_INNER_PRODUCT = 0, METRIC_L2 = 1; InvalidArgument for any other integer).
using MetricArg = std::variant<Metric, std::string, long long>;
Metric metric_arg(const MetricArg& metric);
inline constexpr int kFaissMetricInnerProduct = 0;
inline constexpr int kFaissMetricL2 = 1;
// FAISS's integer code of metric.
int faiss_metric_code(Metric metric);

// d in [1, kMaxDim] (InvalidArgument naming `name` otherwise).
int dim_arg(long long d, const char* name = "d");

// k in [1, kMaxK].
int k_arg(long long k);

// A copy of params (null for null) of its own type, so a search reads parameters no other
// Python thread can change while the GIL is released (search_params.cpp).
std::unique_ptr<SearchParams> copy_search_params(const SearchParams* params);

// Vectors for this index: (n, d) or (d,), converted to float32 rows.
Rows<float> vectors_arg(const PyIndex& self, ArrayLike x, const char* name);

// The IndexIVFFlat index is or wraps (through IndexPreTransforms), or null (index_ivf.cpp).
IndexIVFFlat* inner_ivf(Index& index);
const IndexIVFFlat* inner_ivf(const Index& index);

// Trains index on n rows of x; when an IndexIVFFlat is inside, progress(iteration, objective,
// seconds) is called (with the GIL) after every k-means iteration. progress must stay alive
// for the call; its exceptions abort the training and propagate (index_ivf.cpp).
void train_with_progress(Index& index, idx_t n, const float* x, nb::handle progress);

}  // namespace knnx::python
