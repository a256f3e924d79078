// kmeans_params.cpp — knnx.KMeansInit and knnx.KMeansParams, the k-means settings that
// knnx.KMeans and knnx.IndexIVFFlat.kmeans_params take.
#include "kmeans_params.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "bindings.hpp"
#include "knnx/error.hpp"

namespace knnx::python {

KMeansParams PyKMeansParams::to_cpp(bool owning) const {
  KMeansParams p = params;
  p.progress = nullptr;
  if (progress.is_valid() && !progress.is_none() && !owning) {
    PyObject* callback = progress.ptr();
    p.progress = [callback](int iter, double objective, double seconds) {
      nb::gil_scoped_acquire gil;
      nb::handle fn(callback);
      fn(iter, objective, seconds);
    };
  } else if (progress.is_valid() && !progress.is_none()) {
    // The C++ parameters own a reference to the callable: they may outlive every Python
    // object that holds it (an IndexIVFFlat handed to an IndexPreTransform and then deleted),
    // and a callback must never run after what it calls was freed.
    std::shared_ptr<OwnedCallable> callback(new OwnedCallable(progress));
    p.progress = [callback](int iter, double objective, double seconds) {
      nb::gil_scoped_acquire gil;
      nb::handle fn(callback->object);
      fn(iter, objective, seconds);
    };
  }
  return p;
}

OwnedCallable::OwnedCallable(nb::handle callable) : object(callable.ptr()) {
  Py_INCREF(object);  // called with the GIL held
}

OwnedCallable::~OwnedCallable() {
  // The last copy of the parameters may be dropped on a thread without the GIL.
  if (!Py_IsInitialized()) return;  // at exit the interpreter reclaims everything
  nb::gil_scoped_acquire gil;
  Py_DECREF(object);
}

PyKMeansParams from_cpp(const KMeansParams& params, nb::object progress) {
  PyKMeansParams p{params, std::move(progress)};
  p.params.progress = nullptr;
  return p;
}

namespace {

using InitArg = std::variant<KMeansParams::Init, std::string>;

KMeansParams::Init init_arg(const InitArg& init) {
  if (const auto* i = std::get_if<KMeansParams::Init>(&init)) return *i;
  const std::string& name = std::get<std::string>(init);
  if (name == "kmeans++" || name == "k-means++") return KMeansParams::Init::KMeansPlusPlus;
  if (name == "random") return KMeansParams::Init::Random;
  throw InvalidArgument(fmt::format(
      "init must be \"kmeans++\" or \"random\" (or a knnx.KMeansInit), got \"{}\"", name));
}

nb::object progress_arg(nb::object progress) {
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw InvalidArgument(fmt::format("progress must be None or a callable, got {}",
                                      nb::inst_name(progress).c_str()));
  }
  return progress;
}

int int_field(long long value, const char* name) {
  if (value < INT32_MIN || value > INT32_MAX) {
    throw InvalidArgument(fmt::format("{} = {} is out of range", name, value));
  }
  return static_cast<int>(value);
}

std::string init_name(KMeansParams::Init init) {
  return init == KMeansParams::Init::Random ? "random" : "kmeans++";
}

// Garbage-collector support for the progress callable, which may refer back to the parameters.
int params_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  Py_VISIT(nb::inst_ptr<PyKMeansParams>(self)->progress.ptr());
  return 0;
}

int params_clear(PyObject* self) {
  nb::inst_ptr<PyKMeansParams>(self)->progress = nb::none();
  return 0;
}

PyType_Slot params_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(params_traverse)},
                              {Py_tp_clear, reinterpret_cast<void*>(params_clear)},
                              {0, nullptr}};

}  // namespace

void bind_kmeans_params(nb::module_& m) {
  nb::enum_<KMeansParams::Init>(m, "KMeansInit", "How k-means picks its initial centroids.")
      .value("RANDOM", KMeansParams::Init::Random,
             "k distinct training rows chosen uniformly (FAISS's default).")
      .value("KMEANS_PLUS_PLUS", KMeansParams::Init::KMeansPlusPlus,
             "k-means++ (D^2 sampling on squared L2 distances, whatever the metric).");

#define KNNX_INT_FIELD(field, doc)                                    \
  def_prop_rw(                                                        \
      #field, [](const PyKMeansParams& p) { return p.params.field; }, \
      [](PyKMeansParams& p, long long v) { p.params.field = int_field(v, #field); }, doc)

  nb::class_<PyKMeansParams>(
      m, "KMeansParams", nb::type_slots(params_slots),
      "Settings of k-means training (knnx.KMeans, IndexIVFFlat.kmeans_params). Values are\n"
      "checked when the parameters are used (ValueError naming the field).")
      .def(
          "__init__",
          [](PyKMeansParams* self, long long n_iter, const InitArg& init,
             long long max_points_per_centroid, long long min_points_per_centroid,
             long long init_points_per_centroid, std::uint64_t seed, bool spherical, bool verbose,
             nb::object progress, const std::string& device) {
            KMeansParams p;
            p.n_iter = int_field(n_iter, "n_iter");
            p.init = init_arg(init);
            p.max_points_per_centroid =
                int_field(max_points_per_centroid, "max_points_per_centroid");
            p.min_points_per_centroid =
                int_field(min_points_per_centroid, "min_points_per_centroid");
            p.init_points_per_centroid =
                int_field(init_points_per_centroid, "init_points_per_centroid");
            p.seed = seed;
            p.spherical = spherical;
            p.verbose = verbose;
            p.device = Device::parse(device);
            new (self) PyKMeansParams{p, progress_arg(std::move(progress))};
          },
          nb::kw_only(), nb::arg("n_iter") = 20, nb::arg("init") = "kmeans++",
          nb::arg("max_points_per_centroid") = 256, nb::arg("min_points_per_centroid") = 39,
          nb::arg("init_points_per_centroid") = 16, nb::arg("seed") = 1234,
          nb::arg("spherical") = false, nb::arg("verbose") = false,
          nb::arg("progress") = nb::none(), nb::arg("device") = "cpu",
          "n_iter: Lloyd iterations after seeding (>= 0). init: \"kmeans++\" or \"random\".\n"
          "max_points_per_centroid: larger inputs are subsampled to k * this many rows.\n"
          "min_points_per_centroid: fewer rows per centroid gives a warning.\n"
          "init_points_per_centroid: k-means++ seeds from at most k * this many rows (0: all).\n"
          "seed: the random seed (the same seed gives the same centroids on the CPU).\n"
          "spherical: normalise centroids to unit length after every update.\n"
          "verbose: print warnings and one line per iteration to stderr.\n"
          "progress: None or a callable progress(iteration, objective, seconds), called after\n"
          "every iteration with the GIL held; an exception it raises stops the training.\n"
          "device: \"cpu\", \"cuda\" or \"cuda:N\" (knnx.KMeans; an IVF index trains on its own\n"
          "device).")
      .KNNX_INT_FIELD(n_iter, "Lloyd iterations after seeding (>= 0).")
      .KNNX_INT_FIELD(max_points_per_centroid, "Training rows used at most per centroid.")
      .KNNX_INT_FIELD(min_points_per_centroid, "Fewer rows per centroid than this warns.")
      .KNNX_INT_FIELD(init_points_per_centroid,
                      "k-means++ seeds from at most k * this many rows (0: all).")
      .def_prop_rw(
          "init", [](const PyKMeansParams& p) { return p.params.init; },
          [](PyKMeansParams& p, const InitArg& init) { p.params.init = init_arg(init); },
          "knnx.KMeansInit; also settable as \"kmeans++\" or \"random\".")
      .def_prop_rw(
          "seed", [](const PyKMeansParams& p) { return p.params.seed; },
          [](PyKMeansParams& p, std::uint64_t seed) { p.params.seed = seed; }, "Random seed.")
      .def_prop_rw(
          "spherical", [](const PyKMeansParams& p) { return p.params.spherical; },
          [](PyKMeansParams& p, bool v) { p.params.spherical = v; },
          "Normalise centroids to unit L2 norm after every update.")
      .def_prop_rw(
          "verbose", [](const PyKMeansParams& p) { return p.params.verbose; },
          [](PyKMeansParams& p, bool v) { p.params.verbose = v; },
          "Print warnings and one line per iteration to stderr.")
      .def_prop_rw(
          "progress", [](const PyKMeansParams& p) { return p.progress; },
          [](PyKMeansParams& p, nb::object progress) {
            p.progress = progress_arg(std::move(progress));
          },
          nb::arg("progress").none(),
          "None or a callable progress(iteration, objective, seconds) called after every\n"
          "iteration.")
      .def_prop_rw(
          "device", [](const PyKMeansParams& p) { return p.params.device.to_string(); },
          [](PyKMeansParams& p, const std::string& device) {
            p.params.device = Device::parse(device);
          },
          "Where knnx.KMeans runs: \"cpu\" or \"cuda:N\".")
      .def("__repr__", [](const PyKMeansParams& p) {
        const KMeansParams& q = p.params;
        return fmt::format(
            "KMeansParams(n_iter={}, init='{}', max_points_per_centroid={}, "
            "min_points_per_centroid={}, init_points_per_centroid={}, seed={}, spherical={}, "
            "verbose={}, progress={}, device='{}')",
            q.n_iter, init_name(q.init), q.max_points_per_centroid, q.min_points_per_centroid,
            q.init_points_per_centroid, q.seed, q.spherical ? "True" : "False",
            q.verbose ? "True" : "False", p.progress.is_none() ? "None" : "<callable>",
            q.device.to_string());
      });
#undef KNNX_INT_FIELD
}

}  // namespace knnx::python
