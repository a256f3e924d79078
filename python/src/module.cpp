// module.cpp — the knnx._knnx extension module: nearest-neighbour search over numpy arrays.
#include "bindings.hpp"
#include "knnx/types.hpp"
#include "knnx/version.hpp"

NB_MODULE(_knnx, m) {
  namespace py = knnx::python;
  m.doc() =
      "knnx: exact and approximate nearest-neighbour search on the CPU and CUDA devices. "
      "Import the knnx package rather than this module.";
  m.attr("__version__") = knnx::kVersionString;
  m.attr("MAX_K") = knnx::kMaxK;
  m.attr("MAX_DIM") = knnx::kMaxDim;

  py::bind_errors(m);  // first: everything bound later raises the mapped exceptions
  py::bind_metric(m);
  py::bind_device(m);
  py::bind_device_memory(m);
  py::bind_config(m);
  py::bind_kmeans_params(m);
  py::bind_kmeans(m);
  py::bind_id_selectors(m);  // before SearchParameters, whose sel field holds one
  py::bind_search_params(m);
  py::bind_index(m);
  py::bind_index_ivf(m);
  py::bind_index_sq(m);
  py::bind_index_refine(m);
  py::bind_index_pq(m);
  py::bind_transform(m);
  py::bind_index_file(m);
  py::bind_io(m);
  py::bind_synthetic(m);
  py::bind_recall(m);
}
