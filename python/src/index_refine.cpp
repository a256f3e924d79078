// index_refine.cpp — knnx.IndexRefineFlat (FAISS's IndexRefineFlat) and its k_factor. Search,
// add and the rest come from knnx.Index; SearchParametersRefine is bound in search_params.cpp.
#include "knnx/index_refine.hpp"

#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "knnx/error.hpp"
#include "py_index.hpp"

namespace knnx::python {
namespace {

class PyIndexRefineFlat : public PyIndex {
 public:
  using PyIndex::PyIndex;
};

RefineStorage storage_arg(const std::string& name) {
  for (RefineStorage s : {RefineStorage::Host, RefineStorage::Mapped, RefineStorage::Device}) {
    if (name == to_string(s)) return s;
  }
  throw InvalidArgument(
      fmt::format("refine storage must be 'host', 'mapped' or 'device', got '{}'", name));
}

}  // namespace

void bind_index_refine(nb::module_& m) {
  nb::class_<PyIndexRefineFlat, PyIndex>(
      m, "IndexRefineFlat",
      "A base index's candidates re-ranked with exact distances (FAISS's IndexRefineFlat).\n\n"
      "search asks the base index for k * k_factor candidates and returns the best k by their\n"
      "exact distance to the float32 vectors, which this index keeps besides the base index,\n"
      "where refine_storage says. params: knnx.SearchParametersRefine(k_factor=...,\n"
      "base_index_params=...), or what the base index takes. No range_search; knnx.write_index\n"
      "saves it with its base index.")
      .def(
          "__init__",
          [](PyIndexRefineFlat* self, PyIndex& base, float k_factor, const std::string& storage) {
            const RefineStorage s = storage_arg(storage);
            new (self)
                PyIndexRefineFlat(std::make_unique<IndexRefineFlat>(base.take(), k_factor, s));
          },
          nb::arg("base_index"), nb::arg("k_factor") = 1.0f, nb::arg("storage") = "host",
          "Wraps base_index (which must be empty); the base object is moved into the new one and\n"
          "cannot be used on its own afterwards. storage: see refine_storage ('host' or 'device').")
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
          "Candidates per result asked of the base index (>= 1; 1 by default, as FAISS).")
      .def_prop_rw(
          "refine_storage",
          [](const PyIndexRefineFlat& self) {
            return std::string(self.read_as<IndexRefineFlat>(
                [](const IndexRefineFlat& index) { return to_string(index.refine_storage()); }));
          },
          [](PyIndexRefineFlat& self, const std::string& storage) {
            const RefineStorage s = storage_arg(storage);
            self.write_as<IndexRefineFlat>(
                [s](IndexRefineFlat& index) { index.set_refine_storage(s); });
          },
          "Where the exact vectors live: 'host' (host memory, the default), 'mapped' (mapped\n"
          "read-only from the index file, by knnx.read_index(path, mmap=True); the index is then\n"
          "read-only: add, remove_ids and reset raise knnx.NotSupported) or 'device' (the base\n"
          "index's GPU, re-ranked there; k <= 2048). Setting 'host' or 'device' moves them there\n"
          "('device' needs a base index on a GPU); 'mapped' cannot be set.");
}

}  // namespace knnx::python
