// synthetic.cpp — knnx.GaussianMixture and make_mixture_base/queries: reproducible test data.
//
// The values are bit-identical across platforms for a given seed (see knnx/synthetic.hpp).
#include "knnx/synthetic.hpp"

#include <nanobind/stl/pair.h>

#include <utility>

#include "arrays.hpp"
#include "bindings.hpp"

namespace knnx::python {
namespace {

using Matrix2D = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;
using Clusters1D = nb::ndarray<nb::numpy, std::int32_t, nb::ndim<1>, nb::c_contig>;

MixtureSpec make_spec(int d, int n_clusters, double center_stddev, double noise_stddev,
                      std::uint64_t seed) {
  MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = n_clusters;
  spec.center_stddev = static_cast<float>(center_stddev);
  spec.noise_stddev = static_cast<float>(noise_stddev);
  spec.seed = seed;
  return spec;
}

Matrix2D to_numpy(Matrix<float>&& m) {
  const auto rows = static_cast<std::size_t>(m.rows);
  const auto cols = static_cast<std::size_t>(m.cols);
  return make_numpy<Matrix2D>(std::move(m.data), {rows, cols});
}

std::pair<Matrix2D, Clusters1D> sample(const GaussianMixture& g, idx_t n, std::uint64_t stream) {
  MixtureSample s;
  {
    nb::gil_scoped_release release;
    s = g.sample(n, stream);
  }
  const auto rows = static_cast<std::size_t>(s.clusters.size());
  return {to_numpy(std::move(s.vectors)), make_numpy<Clusters1D>(std::move(s.clusters), {rows})};
}

template <Matrix<float> (*Make)(const MixtureSpec&, idx_t)>
Matrix2D make(idx_t n, int d, int n_clusters, double center_stddev, double noise_stddev,
              std::uint64_t seed) {
  const MixtureSpec spec = make_spec(d, n_clusters, center_stddev, noise_stddev, seed);
  Matrix<float> m;
  {
    nb::gil_scoped_release release;
    m = Make(spec, n);
  }
  return to_numpy(std::move(m));
}

}  // namespace

void bind_synthetic(nb::module_& m) {
  m.attr("BASE_STREAM") = kBaseStream;
  m.attr("QUERY_STREAM") = kQueryStream;

  nb::class_<GaussianMixture>(
      m, "GaussianMixture",
      "A clustered Gaussian mixture: n_clusters centres drawn from N(0, center_stddev^2 I); a\n"
      "point picks a centre uniformly and adds N(0, noise_stddev^2 I) noise. Samples are the\n"
      "same on every platform for a given seed, independent of the number of threads, and the\n"
      "first n rows of a larger sample equal a sample of n rows.")
      .def(
          "__init__",
          [](GaussianMixture* self, int d, int n_clusters, double center_stddev, double noise_stddev,
             std::uint64_t seed) {
            new (self) GaussianMixture(make_spec(d, n_clusters, center_stddev, noise_stddev, seed));
          },
          nb::arg("d") = 128, nb::arg("n_clusters") = 100, nb::arg("center_stddev") = 1.0,
          nb::arg("noise_stddev") = 0.2, nb::arg("seed") = 0)
      .def_prop_ro("d", [](const GaussianMixture& g) { return g.spec().dim; })
      .def_prop_ro("n_clusters", [](const GaussianMixture& g) { return g.spec().n_clusters; })
      .def_prop_ro("center_stddev", [](const GaussianMixture& g) { return g.spec().center_stddev; })
      .def_prop_ro("noise_stddev", [](const GaussianMixture& g) { return g.spec().noise_stddev; })
      .def_prop_ro("seed", [](const GaussianMixture& g) { return g.spec().seed; })
      .def(
          "centers",
          [](const GaussianMixture& g) {
            Matrix<float> c = g.centers();
            return to_numpy(std::move(c));
          },
          "The cluster centres, float32 (n_clusters, d).")
      .def("sample", &sample, nb::arg("n"), nb::arg("stream") = kBaseStream,
           "n points from a random stream: (vectors float32 (n, d), clusters int32 (n,)).\n"
           "Stream BASE_STREAM (0) gives base vectors, QUERY_STREAM (1) queries.");

  m.def("make_mixture_base", &make<&make_mixture_base>, nb::arg("n"), nb::arg("d") = 128,
        nb::arg("n_clusters") = 100, nb::arg("center_stddev") = 1.0,
        nb::arg("noise_stddev") = 0.2, nb::arg("seed") = 0,
        "n base vectors of a GaussianMixture, float32 (n, d).");
  m.def("make_mixture_queries", &make<&make_mixture_queries>, nb::arg("nq"), nb::arg("d") = 128,
        nb::arg("n_clusters") = 100, nb::arg("center_stddev") = 1.0,
        nb::arg("noise_stddev") = 0.2, nb::arg("seed") = 0,
        "nq query vectors of the same GaussianMixture, float32 (nq, d).");
}

}  // namespace knnx::python
