// kmeans.cpp — knnx.KMeans: k-means clustering of numpy arrays (FAISS's Kmeans / Clustering).
//
// Like the indexes, a bound KMeans has a reader/writer lock: train takes it exclusively, the
// getters and assign take it shared, and every call releases the GIL before taking it. The
// progress callback runs with the GIL re-acquired.
#include "knnx/kmeans.hpp"

#include <fmt/format.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "kmeans_params.hpp"
#include "knnx/error.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

class PyKMeans {
 public:
  PyKMeans(int d, int k, Metric metric, const PyKMeansParams& params)
      : progress_(params.progress), kmeans_(d, k, metric, params.to_cpp(/*owning=*/false)) {}

  const KMeans& fixed() const { return kmeans_; }
  const nb::object& progress() const { return progress_; }
  // Garbage-collector support: a progress callable may refer back to this object (a lambda
  // whose globals hold it), a cycle only the collector can break.
  PyObject* progress_ptr() const { return progress_.ptr(); }
  void clear_progress() { progress_ = nb::none(); }

  template <typename F>
  auto read(F&& f) const {
    nb::gil_scoped_release release;
    std::shared_lock lock(mutex_);
    return f(static_cast<const KMeans&>(kmeans_));
  }
  template <typename F>
  auto write(F&& f) {
    nb::gil_scoped_release release;
    std::unique_lock lock(mutex_);
    return f(kmeans_);
  }

 private:
  nb::object progress_;  // keeps the callback the C++ parameters point to alive
  KMeans kmeans_;
  mutable std::shared_mutex mutex_;
};

Rows<float> rows_arg(const PyKMeans& self, ArrayLike x, const char* name) {
  return to_rows<float>(
      x, ArraySpec{.name = name, .rank = Rank::kMatrixOrVector, .cols = self.fixed().dim()});
}

int k_clusters_arg(long long k) {
  if (k < 1 || k > INT32_MAX) {
    throw InvalidArgument(fmt::format("k must be in [1, {}], got {}", INT32_MAX, k));
  }
  return static_cast<int>(k);
}

Matrix2D centroids(const PyKMeans& self) {
  std::vector<float> c = self.read([](const KMeans& km) { return km.centroids(); });
  const auto d = static_cast<std::size_t>(self.fixed().dim());
  const std::size_t rows = c.size() / d;
  return make_numpy<Matrix2D>(std::move(c), {rows, d});
}

Doubles1D objective(const PyKMeans& self) {
  std::vector<double> o = self.read([](const KMeans& km) { return km.objective(); });
  const std::size_t n = o.size();
  return make_numpy<Doubles1D>(std::move(o), {n});
}

std::pair<Vector1D, Ids1D> assign(const PyKMeans& self, ArrayLike x) {
  const Rows<float> v = rows_arg(self, x, "x");
  const auto n = static_cast<std::size_t>(v.rows());
  std::unique_ptr<float[]> distances(new float[n]);
  std::unique_ptr<idx_t[]> labels(new idx_t[n]);
  self.read(
      [&](const KMeans& km) { km.assign(v.rows(), v.data(), labels.get(), distances.get()); });
  return {make_numpy<Vector1D>(std::move(distances), {n}),
          make_numpy<Ids1D>(std::move(labels), {n})};
}

int kmeans_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  Py_VISIT(nb::inst_ptr<PyKMeans>(self)->progress_ptr());
  return 0;
}

// Runs only on unreachable objects, so no train() can be using the callback.
int kmeans_clear(PyObject* self) {
  nb::inst_ptr<PyKMeans>(self)->clear_progress();
  return 0;
}

PyType_Slot kmeans_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(kmeans_traverse)},
                              {Py_tp_clear, reinterpret_cast<void*>(kmeans_clear)},
                              {0, nullptr}};

}  // namespace

void bind_kmeans(nb::module_& m) {
  nb::class_<PyKMeans>(
      m, "KMeans", nb::type_slots(kmeans_slots),
      "Lloyd's k-means of float32 vectors (FAISS's Kmeans). train(x) picks a sample of at\n"
      "most k * max_points_per_centroid rows, seeds k centroids (k-means++ or random rows) and\n"
      "runs n_iter iterations; a seed gives the same centroids on every run on the CPU.\n"
      "Settings are keyword arguments (see knnx.KMeansParams) or a KMeansParams via params=.")
      .def(
          "__init__",
          [](PyKMeans* self, long long d, long long k, const MetricArg& metric, nb::handle params,
             nb::kwargs settings) {
            if (!params.is_none() && nb::len(settings) > 0) {
              throw InvalidArgument(
                  "pass the k-means settings either as params= or as keyword arguments, not "
                  "both");
            }
            const nb::object p =
                params.is_none() ? nb::type<PyKMeansParams>()(**settings) : nb::borrow(params);
            new (self) PyKMeans(dim_arg(d), k_clusters_arg(k), metric_arg(metric),
                                nb::cast<const PyKMeansParams&>(p));
          },
          nb::arg("d"), nb::arg("k"), nb::arg("metric") = "l2", nb::kw_only(),
          nb::arg("params").none() = nb::none(), nb::arg("settings"),
          "k clusters of d-dimensional vectors. metric: \"l2\" or \"ip\" (inner product: rows go\n"
          "to the centroid of largest dot product; add spherical=True for spherical k-means).\n"
          "Keyword settings: n_iter=20, init=\"kmeans++\" or \"random\",\n"
          "max_points_per_centroid=256, min_points_per_centroid=39,\n"
          "init_points_per_centroid=16, seed=1234, spherical=False, verbose=False,\n"
          "progress=None (a callable progress(iteration, objective, seconds)), device=\"cpu\".")
      .def_prop_ro("d", [](const PyKMeans& self) { return self.fixed().dim(); })
      .def_prop_ro("k", [](const PyKMeans& self) { return self.fixed().k(); })
      .def_prop_ro("metric", [](const PyKMeans& self) { return self.fixed().metric(); })
      .def_prop_ro(
          "params",
          [](const PyKMeans& self) { return from_cpp(self.fixed().params(), self.progress()); },
          "A copy of the knnx.KMeansParams in use.")
      .def_prop_ro("is_trained",
                   [](const PyKMeans& self) {
                     return self.read([](const KMeans& km) { return km.is_trained(); });
                   })
      .def(
          "train",
          [](PyKMeans& self, ArrayLike x) {
            const Rows<float> v = rows_arg(self, x, "x");
            self.write([&](KMeans& km) { km.train(v.rows(), v.data()); });
          },
          nb::arg("x"),
          "Clusters the rows of x (n, d), n >= k, finite values; retraining starts afresh. An\n"
          "exception (including one raised by the progress callback) keeps the previous result.")
      .def_prop_ro("centroids", &centroids, nb::rv_policy::move,
                   "A copy of the centroids, float32 (k, d); (0, d) before training.")
      .def_prop_ro("objective", &objective, nb::rv_policy::move,
                   "Per iteration, the sum over training rows of the distance to their assigned\n"
                   "centroid (squared L2, or the dot product for inner product), float64.")
      .def_prop_ro("obj", &objective, nb::rv_policy::move, "FAISS's name of objective.")
      .def_prop_ro(
          "warnings",
          [](const PyKMeans& self) {
            return self.read([](const KMeans& km) { return km.warnings(); });
          },
          "What the last train() wants a caller to know (e.g. too few rows per centroid).")
      .def_prop_ro(
          "n_train",
          [](const PyKMeans& self) {
            return self.read([](const KMeans& km) { return km.n_train(); });
          },
          "Rows the last train() clustered (after subsampling).")
      .def("assign", &assign, nb::arg("x"),
           "The nearest centroid of each row of x (n, d): (distances float32 (n,), labels int64\n"
           "(n,)), as FAISS's Kmeans.assign. ValueError before training.")
      .def(
          "predict", [](const PyKMeans& self, ArrayLike x) { return assign(self, x).second; },
          nb::arg("x"), "The nearest centroid of each row of x (n, d), int64 (n,).")
      .def("__repr__", [](const PyKMeans& self) {
        return fmt::format(
            "KMeans(d={}, k={}, metric='{}', n_iter={}, trained={})", self.fixed().dim(),
            self.fixed().k(), to_string(self.fixed().metric()), self.fixed().params().n_iter,
            self.read([](const KMeans& km) { return km.is_trained(); }) ? "True" : "False");
      });
}

}  // namespace knnx::python
