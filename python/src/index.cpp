// index.cpp — knnx.Index (the common interface) and knnx.IndexFlat.
//
// Each bound index owns its C++ index and a reader/writer lock. Calls that only read (search,
// reconstruct, the getters) take it shared, so any number of Python threads may search one index
// at the same time; calls that change the index (train, add, add_with_ids, remove_ids, reset) take
// it exclusively, so mixing them with searches from other threads is safe too (they wait).
// Every call that does real work converts its arguments first, then releases the GIL before
// taking the lock, so no thread ever waits for the lock while holding the GIL.
#include <fmt/format.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <variant>

#include "arrays.hpp"
#include "bindings.hpp"
#include "knnx/error.hpp"
#include "knnx/index.hpp"
#include "knnx/index_flat.hpp"

namespace knnx::python {
namespace {

using Matrix2D = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;
using Labels2D = nb::ndarray<nb::numpy, std::int64_t, nb::ndim<2>, nb::c_contig>;
using Vector1D = nb::ndarray<nb::numpy, float, nb::ndim<1>, nb::c_contig>;
using Ids1D = nb::ndarray<nb::numpy, std::int64_t, nb::ndim<1>, nb::c_contig>;

class PyIndex {
 public:
  explicit PyIndex(std::unique_ptr<Index> index) : index_(std::move(index)) {}
  virtual ~PyIndex() = default;

  // Properties fixed at construction: no lock needed.
  const Index& fixed() const { return *index_; }

  // Runs f(const Index&) without the GIL, under the shared lock.
  template <typename F>
  auto read(F&& f) const {
    nb::gil_scoped_release release;
    std::shared_lock lock(mutex_);
    return f(static_cast<const Index&>(*index_));
  }

  // Runs f(Index&) without the GIL, under the exclusive lock.
  template <typename F>
  auto write(F&& f) {
    nb::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    return f(*index_);
  }

 private:
  std::unique_ptr<Index> index_;
  mutable std::shared_mutex mutex_;
};

class PyIndexFlat : public PyIndex {
 public:
  PyIndexFlat(int d, Metric metric, Device device)
      : PyIndex(std::make_unique<IndexFlat>(d, metric, device)) {}
};

using PrecisionArg = std::variant<FlatPrecision, std::string>;

FlatPrecision precision_arg(const PrecisionArg& precision) {
  if (const auto* p = std::get_if<FlatPrecision>(&precision)) return *p;
  const std::string& name = std::get<std::string>(precision);
  if (name == "exact") return FlatPrecision::Exact;
  if (name == "fast") return FlatPrecision::Fast;
  throw InvalidArgument(
      fmt::format("precision must be \"exact\" or \"fast\" (or a knnx.FlatPrecision), got \"{}\"",
                  name));
}

using MetricArg = std::variant<Metric, std::string>;

Metric metric_arg(const MetricArg& metric) {
  if (const auto* name = std::get_if<std::string>(&metric)) return parse_metric(*name);
  return std::get<Metric>(metric);
}

int dim_arg(long long d) {
  if (d < 1 || d > kMaxDim) {
    throw InvalidArgument(fmt::format("d must be in [1, {}], got {}", kMaxDim, d));
  }
  return static_cast<int>(d);
}

int k_arg(long long k) {
  if (k < 1 || k > kMaxK) throw InvalidArgument(fmt::format("k must be in [1, {}], got {}", kMaxK, k));
  return static_cast<int>(k);
}

Rows<float> vectors_arg(const PyIndex& self, ArrayLike x, const char* name) {
  return to_rows<float>(x, ArraySpec{.name = name,
                                     .rank = Rank::kMatrixOrVector,
                                     .cols = self.fixed().dim()});
}

std::pair<Matrix2D, Labels2D> search(const PyIndex& self, ArrayLike queries, long long k_in) {
  const int k = k_arg(k_in);
  const Rows<float> q = vectors_arg(self, queries, "queries");
  const std::size_t count = static_cast<std::size_t>(q.rows()) * static_cast<std::size_t>(k);
  std::unique_ptr<float[]> distances(new float[count]);
  std::unique_ptr<idx_t[]> labels(new idx_t[count]);
  self.read([&](const Index& index) {
    index.search(q.rows(), q.data(), k, distances.get(), labels.get());
  });
  const std::size_t nq = static_cast<std::size_t>(q.rows());
  const std::size_t kk = static_cast<std::size_t>(k);
  return {make_numpy<Matrix2D>(std::move(distances), {nq, kk}),
          make_numpy<Labels2D>(std::move(labels), {nq, kk})};
}

void add_with_ids(PyIndex& self, ArrayLike x, ArrayLike ids) {
  const Rows<float> v = vectors_arg(self, x, "x");
  const Rows<idx_t> id = to_rows<idx_t>(ids, ArraySpec{.name = "ids", .rank = Rank::kVector});
  if (id.rows() != v.rows()) {
    throw InvalidArgument(fmt::format("ids has {} entries but x has {} vectors; they must match",
                                      id.rows(), v.rows()));
  }
  self.write([&](Index& index) { index.add_with_ids(v.rows(), v.data(), id.data()); });
}

idx_t remove_ids(PyIndex& self, ArrayLike ids) {
  const Rows<idx_t> id =
      to_rows<idx_t>(ids, ArraySpec{.name = "ids", .rank = Rank::kVector, .allow_empty = true});
  if (id.rows() == 0) return 0;
  return self.write([&](Index& index) { return index.remove_ids(id.rows(), id.data()); });
}

Vector1D reconstruct(const PyIndex& self, idx_t id) {
  const std::size_t d = static_cast<std::size_t>(self.fixed().dim());
  std::unique_ptr<float[]> out(new float[d]);
  self.read([&](const Index& index) { index.reconstruct(id, out.get()); });
  return make_numpy<Vector1D>(std::move(out), {d});
}

std::string repr(nb::handle self_handle, const PyIndex& self) {
  const Index& index = self.fixed();
  const idx_t ntotal = self.read([](const Index& i) { return i.ntotal(); });
  return fmt::format("{}(d={}, metric='{}', device='{}', ntotal={})",
                     nb::cast<std::string>(self_handle.type().attr("__name__")), index.dim(),
                     to_string(index.metric()), index.device().to_string(), ntotal);
}

}  // namespace

void bind_index(nb::module_& m) {
  nb::class_<PyIndex>(
      m, "Index",
      "Interface shared by every knnx index (FAISS conventions).\n\n"
      "Inputs are numpy arrays (or anything numpy.asarray accepts) of shape (n, d), float32 or\n"
      "float64, in C or Fortran order; a 1-D array of length d is read as one vector. Arrays\n"
      "that are already C-contiguous float32 are used without a copy; others are converted\n"
      "once. Search results are (distances float32 (nq, k), labels int64 (nq, k)), best first;\n"
      "where fewer than k vectors exist the labels are -1 and the distances +inf (L2) or -inf\n"
      "(inner product). Invalid input raises ValueError and leaves the index unchanged.\n\n"
      "Thread safety: search, reconstruct and the getters may run concurrently from any number\n"
      "of threads (the GIL is released while they run). train, add, add_with_ids, remove_ids\n"
      "and reset take the index exclusively: they wait for running searches and block new\n"
      "ones until done.")
      .def_prop_ro("d", [](const PyIndex& self) { return self.fixed().dim(); },
                   "Vector dimension.")
      .def_prop_ro("metric", [](const PyIndex& self) { return self.fixed().metric(); },
                   "The knnx.Metric results are ranked by.")
      .def_prop_ro("device", [](const PyIndex& self) { return self.fixed().device().to_string(); },
                   "Where the index lives: \"cpu\" or \"cuda:N\".")
      .def_prop_ro("ntotal",
                   [](const PyIndex& self) {
                     return self.read([](const Index& index) { return index.ntotal(); });
                   },
                   "Number of stored vectors.")
      .def_prop_ro("is_trained",
                   [](const PyIndex& self) {
                     return self.read([](const Index& index) { return index.is_trained(); });
                   },
                   "Whether the index is ready for add and search.")
      .def("__len__",
           [](const PyIndex& self) {
             return self.read([](const Index& index) { return index.ntotal(); });
           })
      .def("__repr__", [](nb::handle h) { return repr(h, nb::cast<const PyIndex&>(h)); })
      .def(
          "train",
          [](PyIndex& self, ArrayLike x) {
            const Rows<float> v = vectors_arg(self, x, "x");
            self.write([&](Index& index) { index.train(v.rows(), v.data()); });
          },
          nb::arg("x"),
          "Learns what the index needs from the vectors x (n, d); a no-op for exact indexes.")
      .def(
          "add",
          [](PyIndex& self, ArrayLike x) {
            const Rows<float> v = vectors_arg(self, x, "x");
            self.write([&](Index& index) { index.add(v.rows(), v.data()); });
          },
          nb::arg("x"),
          "Appends the vectors x (n, d). Ids are assigned sequentially, starting one past the\n"
          "largest id the index has ever held (0 for a fresh index).")
      .def("add_with_ids", &add_with_ids, nb::arg("x"), nb::arg("ids"),
           "Appends the vectors x (n, d) with the given ids (n,). Ids are converted to int64 and\n"
           "must be >= 0, unique, and not already stored; otherwise ValueError and nothing is\n"
           "added.")
      .def("search", &search, nb::arg("queries"), nb::arg("k"),
           "The k nearest stored vectors of each query (nq, d), 1 <= k <= 2048.\n"
           "Returns (distances float32 (nq, k), labels int64 (nq, k)), best first.")
      .def("remove_ids", &remove_ids, nb::arg("ids"),
           "Removes every stored vector whose id is in ids; absent ids are ignored. Returns\n"
           "the number of vectors removed.")
      .def("reconstruct", &reconstruct, nb::arg("id"),
           "The stored vector with this id, as a float32 array (d,). ValueError if absent.")
      .def(
          "reset", [](PyIndex& self) { self.write([](Index& index) { index.reset(); }); },
          "Removes every vector (keeps training state).");

  nb::enum_<FlatPrecision>(
      m, "FlatPrecision",
      "How a GPU IndexFlat computes distances. EXACT: float32 throughout. FAST: tensor-core\n"
      "(tf32) distances select KNNX_FLAT_OVERFETCH x k candidates that are re-ranked exactly in\n"
      "float32, so returned distances are exact and only the candidate set is approximate. The\n"
      "CPU backend is always exact.")
      .value("EXACT", FlatPrecision::Exact)
      .value("FAST", FlatPrecision::Fast);

  nb::class_<PyIndexFlat, PyIndex>(
      m, "IndexFlat",
      "Exact (brute-force) search over the stored vectors: blocked BLAS on the CPU, fused\n"
      "distance and k-selection kernels on a CUDA device.")
      .def(
          "__init__",
          [](PyIndexFlat* self, long long d, const MetricArg& metric, const std::string& device) {
            new (self) PyIndexFlat(dim_arg(d), metric_arg(metric), Device::parse(device));
          },
          nb::arg("d"), nb::arg("metric") = "l2", nb::arg("device") = "cpu",
          "An empty exact index for vectors of dimension d. metric: \"l2\" or \"ip\" (or a\n"
          "knnx.Metric); device: \"cpu\", \"cuda\" or \"cuda:N\".")
      .def(
          "vectors",
          [](const PyIndexFlat& self) {
            std::vector<float> v = self.read([](const Index& index) {
              return static_cast<const IndexFlat&>(index).vectors();
            });
            const std::size_t d = static_cast<std::size_t>(self.fixed().dim());
            const std::size_t n = v.size() / d;
            return make_numpy<Matrix2D>(std::move(v), {n, d});
          },
          "A copy of the stored vectors in row order, float32 (ntotal, d).")
      .def(
          "ids",
          [](const PyIndexFlat& self) {
            std::vector<idx_t> v = self.read([](const Index& index) {
              return static_cast<const IndexFlat&>(index).ids();
            });
            const std::size_t n = v.size();
            return make_numpy<Ids1D>(std::move(v), {n});
          },
          "The ids of the stored vectors in row order, int64 (ntotal,).")
      .def_prop_rw(
          "precision",
          [](const PyIndexFlat& self) {
            return self.read([](const Index& index) {
              return static_cast<const IndexFlat&>(index).precision();
            });
          },
          [](PyIndexFlat& self, const PrecisionArg& precision) {
            const FlatPrecision p = precision_arg(precision);
            self.write([p](Index& index) { static_cast<IndexFlat&>(index).set_precision(p); });
          },
          "knnx.FlatPrecision of GPU searches (EXACT by default); also settable as \"exact\"\n"
          "or \"fast\". Has no effect on the CPU, which is always exact.");
}

}  // namespace knnx::python
