// index_refine.cpp — knnx.IndexRefineFlat (FAISS's IndexRefineFlat) and its k_factor. Search,
// add and the rest come from knnx.Index; SearchParametersRefine is bound in search_params.cpp.
#include "knnx/index_refine.hpp"

#include <fmt/format.h>

#include <memory>

#include "bindings.hpp"
#include "knnx/error.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

class PyIndexRefineFlat : public PyIndex {
 public:
  using PyIndex::PyIndex;
};

}  // namespace

void bind_index_refine(nb::module_& m) {
  nb::class_<PyIndexRefineFlat, PyIndex>(
      m, "IndexRefineFlat",
      "A base index's candidates re-ranked with exact distances (FAISS's IndexRefineFlat).\n\n"
      "search asks the base index for k * k_factor candidates and returns the best k by their\n"
      "exact distance to the float32 vectors, which this index keeps on the host besides the\n"
      "base index. params: knnx.SearchParametersRefine(k_factor=..., base_index_params=...), or\n"
      "what the base index takes. No range_search; knnx.write_index saves it with its base index.")
      .def(
          "__init__",
          [](PyIndexRefineFlat* self, PyIndex& base, float k_factor) {
            new (self) PyIndexRefineFlat(std::make_unique<IndexRefineFlat>(base.take(), k_factor));
          },
          nb::arg("base_index"), nb::arg("k_factor") = 1.0f,
          "Wraps base_index (which must be empty); the base object is moved into the new one and\n"
          "cannot be used on its own afterwards.")
      .def(
          "__init__",
          [](PyIndexRefineFlat* self, IndexHandle& handle) {
            if (!handle.index || !dynamic_cast<IndexRefineFlat*>(handle.index.get())) {
              throw InvalidArgument("the handle does not hold an IndexRefineFlat");
            }
            new (self) PyIndexRefineFlat(handle.take());
          },
          nb::arg("handle"), "Takes over the index of a knnx._IndexHandle (index_factory).")
      .def_prop_rw(
          "k_factor",
          [](const PyIndexRefineFlat& self) {
            return self.read_as<IndexRefineFlat>(
                [](const IndexRefineFlat& index) { return index.k_factor(); });
          },
          [](PyIndexRefineFlat& self, float k_factor) {
            self.write_as<IndexRefineFlat>(
                [k_factor](IndexRefineFlat& index) { index.set_k_factor(k_factor); });
          },
          "Candidates per result asked of the base index (>= 1; 1 by default, as FAISS).");
}

}  // namespace knnx::python
