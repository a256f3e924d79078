// The default range_search of the backend interfaces: backends without one refuse it.
#include "core/flat_backend.hpp"
#include "core/ivf_backend.hpp"
#include "knnx/error.hpp"

namespace knnx::detail {

RangeSearchResult FlatBackend::range_search(idx_t, const float*, float, const IdMap&,
                                            const SearchKnobs&) const {
  throw NotSupported(
      "range_search is not available on this device's IndexFlat; save the index "
      "and read_index it onto the CPU to range-search it");
}

RangeSearchResult IvfBackend::range_search(idx_t, const float*, float, const SearchKnobs&) const {
  throw NotSupported(
      "range_search is not available on this device's IndexIVFFlat; save the "
      "index and read_index it onto the CPU to range-search it");
}

}  // namespace knnx::detail
