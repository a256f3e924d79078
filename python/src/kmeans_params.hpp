// kmeans_params.hpp — knnx.KMeansParams: KMeansParams as a Python object.
//
// The progress callback is kept as a Python object beside the C++ parameters; to_cpp() gives
// parameters whose std::function calls it with the GIL held. That function holds the callback
// by bare pointer (copying it needs no GIL), so whoever hands the parameters to C++ keeps the
// PyKMeansParams (or its progress object) alive for as long as C++ may call it.
#pragma once

#include <nanobind/nanobind.h>

#include "knnx/kmeans.hpp"

namespace knnx::python {

namespace nb = nanobind;

struct PyKMeansParams {
  KMeansParams params;  // progress unset; see to_cpp()
  nb::object progress;  // None or a callable (iteration, objective, seconds)

  KMeansParams to_cpp() const;
};

// The parameters an IndexIVFFlat reports, with the given progress object.
PyKMeansParams from_cpp(const KMeansParams& params, nb::object progress);

}  // namespace knnx::python
