// The defaults of FlatBackend's optional storage and re-ranking methods: a backend without them
// refuses them.
#include "core/flat_backend.hpp"

#include "knnx/error.hpp"

namespace knnx::detail {

void FlatBackend::view_rows(idx_t, const float*, std::shared_ptr<const void>) {
  throw NotSupported(
      "this device's IndexFlat keeps its rows in its own memory; they cannot be mapped from a "
      "file");
}

void FlatBackend::rerank(idx_t, const float*, int, const idx_t*, int, float*, idx_t*, const IdMap&,
                         const SearchKnobs&) const {
  throw NotSupported("exact re-ranking runs on a CUDA device's IndexFlat only");
}

}  // namespace knnx::detail
