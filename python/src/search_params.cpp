// search_params.cpp — knnx.SearchParameters and knnx.SearchParametersIVF (FAISS's names): the
// parameters of one search call (knnx/search_params.hpp), passed as search(x, k, params=...).
//
// Every field is None (the index's own setting or the process default) or a value; the Python
// classes of the same names (knnx/_search_params.py) take them as constructor keywords. Values
// are range-checked by the library when a search uses them (ValueError naming the field).
#include "knnx/search_params.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/unique_ptr.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "bindings.hpp"
#include "py_index.hpp"

namespace knnx::python {

namespace {

// A copy of refine params that owns the copy of its base params.
struct OwnedRefineParams : SearchParamsRefine {
  std::unique_ptr<SearchParams> base_copy;
};

}  // namespace

std::unique_ptr<SearchParams> copy_search_params(const SearchParams* params) {
  if (params == nullptr) return nullptr;
  if (const auto* refine = dynamic_cast<const SearchParamsRefine*>(params)) {
    auto out = std::make_unique<OwnedRefineParams>();
    static_cast<SearchParamsRefine&>(*out) = *refine;
    out->base_copy = copy_search_params(refine->base_params);
    out->base_params = out->base_copy.get();
    return out;
  }
  if (const auto* ivf = dynamic_cast<const SearchParamsIVF*>(params)) {
    return std::make_unique<SearchParamsIVF>(*ivf);
  }
  return std::make_unique<SearchParams>(*params);
}

void bind_search_params(nb::module_& m) {
  nb::enum_<FlatGemm>(m, "FlatGemm",
                      "How score tiles of the exact many-query GPU flat path are computed: "
                      "TF32X3 (three tf32 tensor-core products summed in float32) or FP32 (cuBLAS "
                      "SGEMM).")
      .value("TF32X3", FlatGemm::Tf32x3)
      .value("FP32", FlatGemm::Fp32);

  auto params = nb::class_<SearchParams>(
      m, "SearchParameters",
      "Parameters of one search call (FAISS's SearchParameters): index.search(x, k,\n"
      "params=knnx.SearchParameters(...)). A field left None means the index's own setting or\n"
      "the process default (knnx.config()); a set field applies to that call only, so threads\n"
      "may search one index at once with different parameters. The search checks every field\n"
      "(ValueError naming it) before doing anything.");
  params.def(nb::init<>(), "Every field None.")
      .def_rw("workspace_bytes", &SearchParams::workspace_bytes,
              "Bound on a GPU search's scratch memory, bytes, in [16 MiB, 1 TiB]; queries run in "
              "batches that fit it. None: knob gpu_workspace_mb, or when that is 0 a quarter of "
              "the device's free memory (16 MiB .. 16 GiB); docs/knobs.md.")
      .def_rw("precision", &SearchParams::precision, "knnx.FlatPrecision of GPU flat distances.")
      .def_rw("flat_overfetch", &SearchParams::flat_overfetch,
              "Fast precision: candidates per result re-ranked exactly.")
      .def_rw("flat_gemm", &SearchParams::flat_gemm, "knnx.FlatGemm of exact many-query tiles.")
      .def_rw("flat_stream_max_nq", &SearchParams::flat_stream_max_nq,
              "GPU flat: most queries searched by the fused streaming kernel.")
      .def_rw("flat_tile_rows", &SearchParams::flat_tile_rows, "GPU flat GEMM tile: rows.")
      .def_rw("flat_tile_queries", &SearchParams::flat_tile_queries, "GPU flat GEMM tile: queries.")
      .def_rw("cpu_query_block", &SearchParams::cpu_query_block, "CPU flat: queries per block.")
      .def_rw("cpu_base_block", &SearchParams::cpu_base_block, "CPU flat: rows per block.")
      .def_rw("cpu_direct_max_nq", &SearchParams::cpu_direct_max_nq,
              "CPU flat: most queries of the direct SIMD kernel (0: measured crossover).")
      // The params keep the selector object alive (the C++ field does not own it).
      .def_prop_rw(
          "sel", [](const SearchParams& p) { return p.sel; },
          [](SearchParams& p, const IDSelector* sel) { p.sel = sel; },
          nb::for_setter(nb::arg("sel").none()), nb::for_setter(nb::keep_alive<1, 2>()),
          nb::rv_policy::reference,
          "knnx.IDSelector: the ids the search may return (None: every id).");

  nb::class_<SearchParamsIVF, SearchParams>(
      m, "SearchParametersIVF",
      "SearchParameters of inverted-file indexes (FAISS's SearchParametersIVF):\n"
      "index.search(x, k, params=knnx.SearchParametersIVF(nprobe=16)). nprobe above the index's\n"
      "nlist scans every list, as FAISS does.")
      .def(nb::init<>(), "Every field None.")
      .def_rw("nprobe", &SearchParamsIVF::nprobe, "Lists scanned per query, >= 1.")
      .def_rw("scan_fused", &SearchParamsIVF::scan_fused,
              "GPU: fused distance and top-k kernel (True) or distances then selection.")
      .def_rw("shared_scan", &SearchParamsIVF::shared_scan,
              "GPU list-major scan: -1 automatic, 0 never, 1 whenever k allows.")
      .def_rw("rows_per_chunk", &SearchParamsIVF::rows_per_chunk,
              "GPU: candidate rows a block scans before its partial top-k is merged.");

  nb::class_<SearchParamsRefine, SearchParams>(
      m, "SearchParametersRefine",
      "SearchParameters of knnx.IndexRefineFlat (FAISS's SearchParametersRefine): k_factor for\n"
      "this call, and base_index_params passed to the base index (None: the SearchParameters\n"
      "fields of this object, sel included).")
      .def(nb::init<>(), "Every field None.")
      .def_rw("k_factor", &SearchParamsRefine::k_factor, "Candidates per result, >= 1.")
      // The params keep the base params object alive (the C++ field does not own it).
      .def_prop_rw(
          "base_index_params", [](const SearchParamsRefine& p) { return p.base_params; },
          [](SearchParamsRefine& p, const SearchParams* base) { p.base_params = base; },
          nb::for_setter(nb::arg("base_index_params").none()),
          nb::for_setter(nb::keep_alive<1, 2>()), nb::rv_policy::reference,
          "The base index's knnx.SearchParameters(IVF), or None.");
}

}  // namespace knnx::python
