// index_ivf.cpp — knnx.IndexIVFFlat: the inverted-file index, its probe count, centroids and
// inverted lists. Everything else (train, add, search, ids, the raw-pointer methods) comes from
// knnx.Index (index.cpp).
#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <climits>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "kmeans_params.hpp"
#include "knnx/error.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/transform.hpp"
#include "py_index.hpp"

namespace knnx::python {

const IndexIVFFlat* inner_ivf(const Index& index) {
  if (const auto* ivf = dynamic_cast<const IndexIVFFlat*>(&index)) return ivf;
  if (const auto* pre = dynamic_cast<const IndexPreTransform*>(&index)) {
    return inner_ivf(pre->index());
  }
  return nullptr;
}

// The wrapped index of an IndexPreTransform is its own (non-const) object, handed out as const
// only to keep callers from going around the wrapper; the bindings change only its settings.
IndexIVFFlat* inner_ivf(Index& index) {
  return const_cast<IndexIVFFlat*>(inner_ivf(static_cast<const Index&>(index)));
}

void train_with_progress(Index& index, idx_t n, const float* x, nb::handle progress) {
  IndexIVFFlat* ivf = inner_ivf(index);
  if (ivf == nullptr || !progress.is_valid() || progress.is_none()) {
    index.train(n, x);
    return;
  }
  // The callback captures the bare pointer (no reference counting): the parameters are copied
  // without the GIL, and the caller keeps `progress` alive.
  PyObject* callback = progress.ptr();
  const KMeansParams saved = ivf->kmeans_params();
  KMeansParams params = saved;
  params.progress = [callback, user = saved.progress](int iter, double objective, double seconds) {
    if (user) user(iter, objective, seconds);
    nb::gil_scoped_acquire gil;
    nb::handle fn(callback);
    fn(iter, objective, seconds);
  };
  ivf->set_kmeans_params(params);
  try {
    index.train(n, x);
  } catch (...) {
    ivf->set_kmeans_params(saved);
    throw;
  }
  ivf->set_kmeans_params(saved);
}

namespace {

class PyIndexIVFFlat : public PyIndex {
 public:
  PyIndexIVFFlat(int d, int n_lists, Metric metric, Device device)
      : PyIndex(std::make_unique<IndexIVFFlat>(d, n_lists, metric, device)) {}
  explicit PyIndexIVFFlat(std::unique_ptr<Index> index) : PyIndex(std::move(index)) {}

  const IndexIVFFlat& ivf() const { return static_cast<const IndexIVFFlat&>(fixed()); }

  // The progress callback of the k-means parameters (None or a callable), kept alive here
  // because the C++ parameters hold it by bare pointer. Accessed with the GIL held.
  nb::object progress = nb::none();
};

// Garbage-collector support for the progress callable, which may refer back to the index.
int ivf_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  PyIndexIVFFlat* ivf = nb::inst_ptr<PyIndexIVFFlat>(self);
  Py_VISIT(ivf->progress.ptr());
  // The C++ parameters own a second reference while this object still holds the index.
  if (ivf->present()) Py_VISIT(ivf->progress.ptr());
  return 0;
}

// Runs only on unreachable objects, so no train() can be using the callback (and no lock is
// needed to drop the parameters' reference).
int ivf_clear(PyObject* self) {
  PyIndexIVFFlat* ivf = nb::inst_ptr<PyIndexIVFFlat>(self);
  if (ivf->present()) {
    auto& index = const_cast<IndexIVFFlat&>(ivf->ivf());
    KMeansParams p = index.kmeans_params();
    p.progress = nullptr;
    index.set_kmeans_params(p);
  }
  ivf->progress = nb::none();
  return 0;
}

PyType_Slot ivf_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(ivf_traverse)},
                           {Py_tp_clear, reinterpret_cast<void*>(ivf_clear)},
                           {0, nullptr}};

PyKMeansParams kmeans_params(const PyIndexIVFFlat& self) {
  KMeansParams p = self.read_as<IndexIVFFlat>([](const IndexIVFFlat& ivf) {
    KMeansParams q = ivf.kmeans_params();
    q.progress = nullptr;  // copied back under the GIL, as a Python object
    return q;
  });
  return from_cpp(p, self.progress);
}

void set_kmeans_params(PyIndexIVFFlat& self, const PyKMeansParams& params) {
  const KMeansParams p = params.to_cpp();
  self.write_as<IndexIVFFlat>([&](IndexIVFFlat& ivf) { ivf.set_kmeans_params(p); });
  self.progress = params.progress;
}

int n_lists_arg(long long n_lists) {
  if (n_lists < 1 || n_lists > INT_MAX) {
    throw InvalidArgument(fmt::format("n_lists must be in [1, {}], got {}", INT_MAX, n_lists));
  }
  return static_cast<int>(n_lists);
}

// n_probe values above INT_MAX are clamped like any value above n_lists.
int n_probe_arg(long long n_probe) {
  if (n_probe < 1) throw InvalidArgument(fmt::format("n_probe must be >= 1, got {}", n_probe));
  return n_probe > INT_MAX ? INT_MAX : static_cast<int>(n_probe);
}

int list_arg(const PyIndexIVFFlat& self, long long list) {
  const int n_lists = self.ivf().n_lists();
  if (list < 0 || list >= n_lists) {
    throw InvalidArgument(fmt::format("list must be in [0, {}), got {}", n_lists, list));
  }
  return static_cast<int>(list);
}

Matrix2D centroids(const PyIndexIVFFlat& self) {
  std::vector<float> c =
      self.read_as<IndexIVFFlat>([](const IndexIVFFlat& ivf) { return ivf.centroids(); });
  const auto rows = static_cast<std::size_t>(self.ivf().n_lists());
  const auto d = static_cast<std::size_t>(self.fixed().dim());
  return make_numpy<Matrix2D>(std::move(c), {rows, d});
}

void set_centroids(PyIndexIVFFlat& self, ArrayLike centroids) {
  const int n_lists = self.ivf().n_lists();
  const Rows<float> c = to_rows<float>(
      centroids, ArraySpec{.name = "centroids", .rank = Rank::kMatrix, .cols = self.fixed().dim()});
  if (c.rows() != n_lists) {
    throw InvalidArgument(fmt::format("centroids has {} rows (shape {}), expected n_lists = {}",
                                      c.rows(), shape_text(c.source()), n_lists));
  }
  self.write_as<IndexIVFFlat>([&](IndexIVFFlat& ivf) { ivf.set_centroids(c.data()); });
}

Ids1D list_sizes(const PyIndexIVFFlat& self) {
  std::vector<idx_t> sizes =
      self.read_as<IndexIVFFlat>([](const IndexIVFFlat& ivf) { return ivf.list_sizes(); });
  const std::size_t n = sizes.size();
  return make_numpy<Ids1D>(std::move(sizes), {n});
}

Ids1D list_ids(const PyIndexIVFFlat& self, long long list_in) {
  const int list = list_arg(self, list_in);
  std::vector<idx_t> ids =
      self.read_as<IndexIVFFlat>([&](const IndexIVFFlat& ivf) { return ivf.list_ids(list); });
  const std::size_t n = ids.size();
  return make_numpy<Ids1D>(std::move(ids), {n});
}

Matrix2D list_vectors(const PyIndexIVFFlat& self, long long list_in) {
  const int list = list_arg(self, list_in);
  std::vector<float> v =
      self.read_as<IndexIVFFlat>([&](const IndexIVFFlat& ivf) { return ivf.list_vectors(list); });
  const auto d = static_cast<std::size_t>(self.fixed().dim());
  const std::size_t n = v.size() / d;
  return make_numpy<Matrix2D>(std::move(v), {n, d});
}

}  // namespace

void bind_index_ivf(nb::module_& m) {
  nb::class_<PyIndexIVFFlat, PyIndex>(
      m, "IndexIVFFlat", nb::type_slots(ivf_slots),
      "Inverted-file index storing full vectors (FAISS's IndexIVFFlat).\n\n"
      "train() clusters the sample into n_lists centroids with k-means (see kmeans_params);\n"
      "add() puts each vector into the list of its nearest centroid; search() scans the lists\n"
      "of the n_probe centroids nearest to each query and returns exact distances of the best\n"
      "k vectors found there. n_probe = n_lists gives exact results. train needs n >= n_lists\n"
      "vectors and an empty index; add and search need a trained index (ValueError\n"
      "otherwise). reconstruct(id) scans every list's ids: O(ntotal).")
      .def(
          "__init__",
          [](PyIndexIVFFlat* self, long long d, long long n_lists, const MetricArg& metric,
             const std::string& device) {
            new (self) PyIndexIVFFlat(dim_arg(d), n_lists_arg(n_lists), metric_arg(metric),
                                      Device::parse(device));
          },
          nb::arg("d"), nb::arg("n_lists"), nb::arg("metric") = "l2", nb::arg("device") = "cpu",
          "An untrained IVF index for vectors of dimension d with n_lists inverted lists.\n"
          "metric: \"l2\" or \"ip\" (or a knnx.Metric); device: \"cpu\", \"cuda\" or \"cuda:N\".")
      .def(
          "__init__",
          [](PyIndexIVFFlat* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexIVFFlat*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexIVFFlat");
            }
            new (self) PyIndexIVFFlat(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (read_index).")
      .def_prop_ro(
          "n_lists", [](const PyIndexIVFFlat& self) { return self.ivf().n_lists(); },
          "Number of inverted lists (centroids).")
      .def_prop_rw(
          "n_probe",
          [](const PyIndexIVFFlat& self) {
            return self.read_as<IndexIVFFlat>(
                [](const IndexIVFFlat& ivf) { return ivf.n_probe(); });
          },
          [](PyIndexIVFFlat& self, long long n_probe) {
            const int p = n_probe_arg(n_probe);
            self.write_as<IndexIVFFlat>([p](IndexIVFFlat& ivf) { ivf.set_n_probe(p); });
          },
          "Lists scanned per query (1 by default, as in FAISS). Values < 1 raise ValueError;\n"
          "values above n_lists are clamped to n_lists, so reading it gives the value in force.")
      .def_prop_rw("kmeans_params", &kmeans_params, &set_kmeans_params,
                   "A copy of the knnx.KMeansParams train() uses (n_iter = 10 by default, as\n"
                   "FAISS's IVF training); assign a modified copy to change them. Their device\n"
                   "is ignored: k-means runs on the index's device.")
      .def("centroids", &centroids,
           "A copy of the centroids, float32 (n_lists, d); zeros before training.")
      .def("set_centroids", &set_centroids, nb::arg("centroids"),
           "Installs the given centroids (n_lists, d) instead of training; the index is trained\n"
           "afterwards. Only while the index holds no vectors (reset() first).")
      .def("list_sizes", &list_sizes, "Vectors per inverted list, int64 (n_lists,).")
      .def(
          "imbalance_factor",
          [](const PyIndexIVFFlat& self) {
            return self.read_as<IndexIVFFlat>(
                [](const IndexIVFFlat& ivf) { return ivf.imbalance_factor(); });
          },
          "n_lists * sum(size^2) / ntotal^2, as FAISS: 1 for perfectly even lists, n_lists when\n"
          "one list holds everything, 0 for an empty index.")
      .def("list_ids", &list_ids, nb::arg("list"),
           "The ids of one list (0 <= list < n_lists) in insertion order, int64 (size,).")
      .def("list_vectors", &list_vectors, nb::arg("list"),
           "The vectors of one list in insertion order, float32 (size, d).");
}

}  // namespace knnx::python
