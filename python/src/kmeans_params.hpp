// kmeans_params.hpp — knnx.KMeansParams: KMeansParams as a Python object.
//
// The progress callback is kept as a Python object beside the C++ parameters; to_cpp() gives
// parameters whose std::function calls it with the GIL held. That function owns a reference to
// the callback (shared between its copies, so copying needs no GIL; the last copy releases it
// taking the GIL), so the callback lives as long as any C++ parameters that may call it.
#pragma once

#include <nanobind/nanobind.h>

#include "knnx/kmeans.hpp"

namespace knnx::python {

namespace nb = nanobind;

// One reference to a Python callable, released with the GIL taken.
struct OwnedCallable {
  explicit OwnedCallable(nb::handle callable);
  ~OwnedCallable();
  OwnedCallable(const OwnedCallable&) = delete;
  OwnedCallable& operator=(const OwnedCallable&) = delete;
  PyObject* object;
};

struct PyKMeansParams {
  KMeansParams params;  // progress unset; see to_cpp()
  nb::object progress;  // None or a callable (iteration, objective, seconds)

  // owning: the parameters hold a reference to the callback (see above); otherwise a bare
  // pointer, for a caller whose own lifetime covers the parameters' (knnx.KMeans).
  KMeansParams to_cpp(bool owning = true) const;
};

// The parameters an IndexIVFFlat reports, with the given progress object.
PyKMeansParams from_cpp(const KMeansParams& params, nb::object progress);

}  // namespace knnx::python
