// id_selector.cpp — FAISS's IDSelector classes (knnx/id_selector.hpp), the `sel` field of
// SearchParameters, and the index calls that take them: range_search and remove_ids(selector)
// (reached through knnx/_id_selector.py and the index classes' methods).
//
// Lifetimes: C++ selectors and SearchParams hold non-owning pointers, as in FAISS; here each
// holder keeps the Python object it points to alive (keep_alive), so a selector outlives every
// SearchParameters and combinator that refers to it.
#include "knnx/id_selector.hpp"

#include <nanobind/stl/tuple.h>

#include <cstdint>
#include <tuple>

#include "bindings.hpp"
#include "py_index.hpp"

namespace knnx::python {

namespace {

using IdArray = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using ByteArray = nb::ndarray<const std::uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

std::tuple<Ids1D, Vector1D, Ids1D> range_search(const PyIndex& self, ArrayLike queries,
                                                float radius, const SearchParams* params_in) {
  const std::unique_ptr<SearchParams> params = copy_search_params(params_in);
  const Rows<float> q = vectors_arg(self, queries, "queries");
  RangeSearchResult r = self.read([&](const Index& index) {
    return index.range_search(q.rows(), q.data(), radius, params.get());
  });
  const std::size_t nq = r.lims.size() - 1;
  const std::size_t found = r.labels.size();
  return {make_numpy<Ids1D>(std::move(r.lims), {nq + 1}),
          make_numpy<Vector1D>(std::move(r.distances), {found}),
          make_numpy<Ids1D>(std::move(r.labels), {found})};
}

}  // namespace

void bind_id_selectors(nb::module_& m) {
  nb::class_<IDSelector>(m, "IDSelector",
                         "Which ids a search may return (FAISS's IDSelector). Pass one as\n"
                         "SearchParameters(sel=...) to search / range_search, or to remove_ids.")
      .def("is_member", &IDSelector::is_member, nb::arg("id"), "Whether id is admitted.");
  nb::class_<IDSelectorBatch, IDSelector>(m, "IDSelectorBatch",
                                          "The ids of an int64 array (FAISS's IDSelectorBatch).")
      .def("__init__", [](IDSelectorBatch* self, IdArray ids) {
        new (self) IDSelectorBatch(ids.shape(0), ids.data());
      });
  nb::class_<IDSelectorArray, IDSelectorBatch>(
      m, "IDSelectorArray", "The ids of an int64 array (FAISS's IDSelectorArray; copied here).")
      .def("__init__", [](IDSelectorArray* self, IdArray ids) {
        new (self) IDSelectorArray(ids.shape(0), ids.data());
      });
  nb::class_<IDSelectorRange, IDSelector>(m, "IDSelectorRange", "Ids in [imin, imax).")
      .def(nb::init<idx_t, idx_t>(), nb::arg("imin"), nb::arg("imax"))
      .def_prop_ro("imin", &IDSelectorRange::imin)
      .def_prop_ro("imax", &IDSelectorRange::imax);
  nb::class_<IDSelectorBitmap, IDSelector>(
      m, "IDSelectorBitmap",
      "Bit i of a uint8 array admits id i: bit (i & 7) of byte i >> 3, as in FAISS.")
      .def("__init__", [](IDSelectorBitmap* self, ByteArray bitmap) {
        new (self) IDSelectorBitmap(bitmap.shape(0), bitmap.data());
      });
  nb::class_<IDSelectorNot, IDSelector>(m, "IDSelectorNot", "Ids that sel does not admit.")
      .def(nb::init<const IDSelector*>(), nb::arg("sel"), nb::keep_alive<1, 2>());
  nb::class_<IDSelectorAnd, IDSelector>(m, "IDSelectorAnd", "Ids both selectors admit.")
      .def(nb::init<const IDSelector*, const IDSelector*>(), nb::arg("lhs"), nb::arg("rhs"),
           nb::keep_alive<1, 2>(), nb::keep_alive<1, 3>());
  nb::class_<IDSelectorOr, IDSelector>(m, "IDSelectorOr", "Ids either selector admits.")
      .def(nb::init<const IDSelector*, const IDSelector*>(), nb::arg("lhs"), nb::arg("rhs"),
           nb::keep_alive<1, 2>(), nb::keep_alive<1, 3>());

  m.def("_range_search", &range_search, nb::arg("index"), nb::arg("queries"), nb::arg("radius"),
        nb::arg("params").none() = nb::none(),
        "Index.range_search: (lims int64 (nq + 1), distances float32, labels int64).");
  m.def(
      "_remove_ids_selector",
      [](PyIndex& self, const IDSelector& sel) {
        return self.write([&](Index& index) { return index.remove_ids(sel); });
      },
      nb::arg("index"), nb::arg("sel"), "Index.remove_ids(selector): the number removed.");
}

}  // namespace knnx::python
