// transform.cpp — the vector transforms (knnx.VectorTransform, LinearTransform, PCA,
// RandomRotation, L2Normalize, OPQ) and knnx.IndexPreTransform.
//
// A bound transform holds a shared_ptr to its C++ transform, which an IndexPreTransform may
// share: train it before handing it to an index, or let the index train it, not both at once.
// Transforms seen through an index (IndexPreTransform.transforms) hold no ownership and keep the
// index alive instead. train, apply and reverse release the GIL.
#include "knnx/transform.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "knnx/error.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

struct PyTransform {
  std::shared_ptr<VectorTransform> t;
  nb::object owner;  // for a view of an index's transform: the index, kept alive
  const VectorTransform& get() const { return *t; }
};
struct PyLinearTransform : PyTransform {};
struct PyPCA : PyLinearTransform {};
struct PyRandomRotation : PyLinearTransform {};
struct PyOPQ : PyLinearTransform {};
struct PyL2Normalize : PyTransform {};

template <typename T>
const T& as(const PyTransform& self) {
  return static_cast<const T&>(self.get());
}

// The Python object for a transform, of the class its C++ type has.
nb::object wrap_transform(std::shared_ptr<VectorTransform> t, nb::object owner) {
  VectorTransform* raw = t.get();
  PyTransform base{std::move(t), std::move(owner)};
  if (dynamic_cast<PCA*>(raw)) return nb::cast(PyPCA{{std::move(base)}});
  if (dynamic_cast<OPQ*>(raw)) return nb::cast(PyOPQ{{std::move(base)}});
  if (dynamic_cast<RandomRotation*>(raw)) return nb::cast(PyRandomRotation{{std::move(base)}});
  if (dynamic_cast<LinearTransform*>(raw)) return nb::cast(PyLinearTransform{std::move(base)});
  if (dynamic_cast<L2Normalize*>(raw)) return nb::cast(PyL2Normalize{std::move(base)});
  return nb::cast(std::move(base));
}

Matrix2D to_matrix(std::vector<float>&& v, std::size_t cols) {
  const std::size_t rows = v.size() / cols;
  return make_numpy<Matrix2D>(std::move(v), {rows, cols});
}

Rows<float> rows_arg(ArrayLike x, const char* name, int cols, const char* cols_name) {
  return to_rows<float>(
      x,
      ArraySpec{.name = name, .rank = Rank::kMatrixOrVector, .cols = cols, .cols_name = cols_name});
}

void train(PyTransform& self, ArrayLike x) {
  const Rows<float> v = rows_arg(x, "x", self.get().d_in(), "d_in");
  VectorTransform& t = *self.t;
  nb::gil_scoped_release release;
  t.train(v.rows(), v.data());
}

Matrix2D apply(const PyTransform& self, ArrayLike x) {
  const Rows<float> v = rows_arg(x, "x", self.get().d_in(), "d_in");
  const auto d_out = static_cast<std::size_t>(self.get().d_out());
  std::vector<float> out;
  {
    nb::gil_scoped_release release;
    out = self.get().apply(v.rows(), v.data());
  }
  return to_matrix(std::move(out), d_out);
}

Matrix2D reverse(const PyTransform& self, ArrayLike y) {
  const Rows<float> v = rows_arg(y, "y", self.get().d_out(), "d_out");
  const auto d_in = static_cast<std::size_t>(self.get().d_in());
  std::vector<float> out(static_cast<std::size_t>(v.rows()) * d_in);
  {
    nb::gil_scoped_release release;
    self.get().reverse(v.rows(), v.data(), out.data());
  }
  return to_matrix(std::move(out), d_in);
}

Device device_arg(const std::string& device) { return Device::parse(device); }

// --- IndexPreTransform ------------------------------------------------------------------------

class PyIndexPreTransform : public PyIndex {
 public:
  using PyIndex::PyIndex;
};

const IndexPreTransform& pre(const PyIndex& self) {
  return static_cast<const IndexPreTransform&>(self.fixed());
}

// The transforms of the chain, outermost (applied first) first, as views that keep the index
// object alive.
std::vector<nb::object> chain(nb::handle self_handle) {
  const PyIndex& self = nb::cast<const PyIndex&>(self_handle);
  std::vector<nb::object> out;
  const Index* index = &self.fixed();
  while (const auto* p = dynamic_cast<const IndexPreTransform*>(index)) {
    auto* t = const_cast<VectorTransform*>(&p->transform());
    // Aliasing constructor: points at the transform, owns nothing.
    out.push_back(wrap_transform(std::shared_ptr<VectorTransform>(std::shared_ptr<void>(), t),
                                 nb::borrow(self_handle)));
    index = &p->index();
  }
  return out;
}

const char* inner_kind(const PyIndex& self) {
  const Index* index = &self.fixed();
  while (const auto* p = dynamic_cast<const IndexPreTransform*>(index)) index = &p->index();
  return index_kind(*index);
}

IndexIVFFlat& ivf_of(PyIndex& self) {
  IndexIVFFlat* ivf = inner_ivf(const_cast<Index&>(self.fixed()));
  if (ivf == nullptr) {
    throw InvalidArgument(
        fmt::format("n_probe needs an IVF index inside the IndexPreTransform; "
                    "this one wraps an index of kind {}",
                    inner_kind(self)));
  }
  return *ivf;
}

}  // namespace

void bind_transform(nb::module_& m) {
  nb::class_<PyTransform>(
      m, "VectorTransform",
      "A vector transform (FAISS's VectorTransform): train(x) learns it, apply(x) maps rows of\n"
      "d_in values to d_out values, reverse(y) maps back where reversible. Arrays are float32\n"
      "or float64 (n, d), converted once; results are float32 numpy arrays.")
      .def_prop_ro("d_in", [](const PyTransform& s) { return s.get().d_in(); })
      .def_prop_ro("d_out", [](const PyTransform& s) { return s.get().d_out(); })
      .def_prop_ro("device", [](const PyTransform& s) { return s.get().device().to_string(); })
      .def_prop_ro("is_trained", [](const PyTransform& s) { return s.get().is_trained(); })
      .def_prop_ro(
          "reversible", [](const PyTransform& s) { return s.get().reversible(); },
          "Whether reverse() is defined.")
      .def("train", &train, nb::arg("x"), "Learns the transform from the rows of x (n, d_in).")
      .def("apply", &apply, nb::arg("x"),
           "The transform of x (n, d_in) as float32 (n, d_out). ValueError before training.")
      .def("reverse", &reverse, nb::arg("y"),
           "x (n, d_in) from y (n, d_out); NotImplementedError when not reversible.")
      .def("__repr__", [](nb::handle h) {
        const PyTransform& s = nb::cast<const PyTransform&>(h);
        return fmt::format("{}(d_in={}, d_out={}, device='{}', trained={})",
                           nb::cast<std::string>(h.type().attr("__name__")), s.get().d_in(),
                           s.get().d_out(), s.get().device().to_string(),
                           s.get().is_trained() ? "True" : "False");
      });

  nb::class_<PyLinearTransform, PyTransform>(
      m, "LinearTransform", "y = A (x - mean); the base of PCA, RandomRotation and OPQ.")
      .def_prop_ro(
          "matrix",
          [](const PyTransform& s) {
            std::vector<float> a = as<LinearTransform>(s).matrix();
            return to_matrix(std::move(a), static_cast<std::size_t>(s.get().d_in()));
          },
          nb::rv_policy::move, "A copy of A, float32 (d_out, d_in); (0, d_in) before training.")
      .def_prop_ro(
          "mean",
          [](const PyTransform& s) {
            std::vector<float> v = as<LinearTransform>(s).mean();
            const std::size_t n = v.size();
            return make_numpy<Vector1D>(std::move(v), {n});
          },
          nb::rv_policy::move, "A copy of the input shift, float32 (d_in,).");

  nb::class_<PyPCA, PyLinearTransform>(
      m, "PCA",
      "Principal component analysis: the coordinates of x - mean along the d_out directions of\n"
      "largest variance, in decreasing order of variance (optionally whitened). Reversible:\n"
      "the reverse of a reduction is the projection onto the kept subspace.")
      .def(
          "__init__",
          [](PyPCA* self, long long d_in, long long d_out, bool whiten, float whiten_eps,
             const std::string& device) {
            PcaParams p;
            p.whiten = whiten;
            p.whiten_eps = whiten_eps;
            p.device = device_arg(device);
            new (self)
                PyPCA{{{std::make_shared<PCA>(dim_arg(d_in, "d_in"), dim_arg(d_out, "d_out"), p),
                        nb::none()}}};
          },
          nb::arg("d_in"), nb::arg("d_out"), nb::kw_only(), nb::arg("whiten") = false,
          nb::arg("whiten_eps") = 0.0f, nb::arg("device") = "cpu")
      .def_prop_ro(
          "eigenvalues",
          [](const PyTransform& s) {
            std::vector<float> v = as<PCA>(s).eigenvalues();
            const std::size_t n = v.size();
            return make_numpy<Vector1D>(std::move(v), {n});
          },
          nb::rv_policy::move,
          "All d_in covariance eigenvalues, descending, float32 (d_in,); empty before training.")
      .def_prop_ro("whiten", [](const PyTransform& s) { return as<PCA>(s).params().whiten; });

  nb::class_<PyRandomRotation, PyLinearTransform>(
      m, "RandomRotation",
      "A uniformly random orthogonal d x d rotation drawn from seed; trained on construction,\n"
      "reversible.")
      .def(
          "__init__",
          [](PyRandomRotation* self, long long d, std::uint64_t seed, const std::string& device) {
            new (self) PyRandomRotation{
                {{std::make_shared<RandomRotation>(dim_arg(d), seed, device_arg(device)),
                  nb::none()}}};
          },
          nb::arg("d"), nb::arg("seed") = 1234, nb::kw_only(), nb::arg("device") = "cpu");

  nb::class_<PyL2Normalize, PyTransform>(
      m, "L2Normalize",
      "Scales every row to unit L2 norm (zero rows stay zero); needs no training, not\n"
      "reversible.")
      .def(
          "__init__",
          [](PyL2Normalize* self, long long d, const std::string& device) {
            new (self) PyL2Normalize{
                {std::make_shared<L2Normalize>(dim_arg(d), device_arg(device)), nb::none()}};
          },
          nb::arg("d"), nb::kw_only(), nb::arg("device") = "cpu");

  nb::class_<PyOPQ, PyLinearTransform>(
      m, "OPQ",
      "Optimised product quantisation rotation for m sub-spaces (m divides d): an orthogonal\n"
      "d x d matrix learnt by alternating per-sub-space k-means and Procrustes updates.\n"
      "Training needs n >= ksub rows. Reversible.")
      .def(
          "__init__",
          [](PyOPQ* self, long long d, long long m, long long n_iter, long long ksub,
             long long kmeans_iter, long long max_train_points, std::uint64_t seed,
             const std::string& device) {
            OpqParams p;
            p.n_iter = static_cast<int>(std::clamp<long long>(n_iter, INT32_MIN, INT32_MAX));
            p.ksub = static_cast<int>(std::clamp<long long>(ksub, INT32_MIN, INT32_MAX));
            p.kmeans_iter =
                static_cast<int>(std::clamp<long long>(kmeans_iter, INT32_MIN, INT32_MAX));
            p.max_train_points = max_train_points;
            p.seed = seed;
            p.device = device_arg(device);
            const int mm = static_cast<int>(std::clamp<long long>(m, INT32_MIN, INT32_MAX));
            new (self) PyOPQ{{{std::make_shared<OPQ>(dim_arg(d), mm, p), nb::none()}}};
          },
          nb::arg("d"), nb::arg("m"), nb::kw_only(), nb::arg("n_iter") = 20, nb::arg("ksub") = 256,
          nb::arg("kmeans_iter") = 10, nb::arg("max_train_points") = 65536, nb::arg("seed") = 1234,
          nb::arg("device") = "cpu")
      .def_prop_ro("m", [](const PyTransform& s) { return as<OPQ>(s).m(); })
      .def_prop_ro(
          "objective",
          [](const PyTransform& s) {
            std::vector<double> v = as<OPQ>(s).objective();
            const std::size_t n = v.size();
            return make_numpy<Doubles1D>(std::move(v), {n});
          },
          nb::rv_policy::move,
          "Mean squared quantisation error of the rotated sample at each iteration, float64.");

  nb::class_<PyIndexPreTransform, PyIndex>(
      m, "IndexPreTransform",
      "An index over transformed vectors (FAISS's IndexPreTransform): train() trains the\n"
      "transform (unless trained) and then the wrapped index on the transformed sample; add and\n"
      "search transform their inputs first; reconstruct reverses the transform where it can.")
      .def(
          "__init__",
          [](PyIndexPreTransform* self, const PyTransform& transform, PyIndex& index) {
            if (index.fixed().dim() != transform.get().d_out()) {
              throw InvalidArgument(
                  fmt::format("the transform outputs d_out = {} values but the index has d = {}",
                              transform.get().d_out(), index.fixed().dim()));
            }
            std::shared_ptr<VectorTransform> t = transform.t;
            new (self) PyIndexPreTransform(std::make_unique<IndexPreTransform>(t, index.take()));
          },
          nb::arg("transform"), nb::arg("index"),
          "Wraps index (which must be empty) behind transform. The index object is moved into\n"
          "the new one and cannot be used on its own afterwards.")
      .def(
          "__init__",
          [](PyIndexPreTransform* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexPreTransform*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexPreTransform");
            }
            new (self) PyIndexPreTransform(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle.")
      .def("_chain", &chain,
           "The transforms, applied first first (nested IndexPreTransforms flattened).")
      .def_prop_ro("index_kind", &inner_kind,
                   "Kind of the innermost index: \"Flat\", \"IVFFlat\" or \"Index\".")
      .def_prop_ro(
          "d_in", [](const PyIndex& s) { return pre(s).transform().d_in(); },
          "Dimension of the vectors the index takes (= d).")
      .def_prop_rw(
          "n_probe",
          [](PyIndex& self) {
            const IndexIVFFlat& ivf = ivf_of(self);
            return self.read([&](const Index&) { return ivf.n_probe(); });
          },
          [](PyIndex& self, long long n_probe) {
            if (n_probe < 1) {
              throw InvalidArgument(fmt::format("n_probe must be >= 1, got {}", n_probe));
            }
            IndexIVFFlat& ivf = ivf_of(self);
            const int p = n_probe > INT32_MAX ? INT32_MAX : static_cast<int>(n_probe);
            self.write([&](Index&) { ivf.set_n_probe(p); });
          },
          "n_probe of the IVF index inside (ValueError when the inner index is not IVF).");
}

}  // namespace knnx::python
