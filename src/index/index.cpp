// Validation shared by every index: each public method checks its arguments here, then calls
// the index's do_* implementation.
#include "knnx/index.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <typeinfo>
#include <vector>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/search_knobs.hpp"

namespace knnx {

using detail::check_count;
using detail::check_k;
using detail::check_not_null;
using detail::require;

namespace {

// Rows per chunk of an add of n rows: n when the call goes in one piece.
idx_t chunk_rows(idx_t n, const AddOptions& options) {
  return options.chunk_size > 0 && options.chunk_size < n ? options.chunk_size : n;
}

}  // namespace

Index::Index(int dim, Metric metric) : dim_(dim), metric_(metric) { detail::check_dim(dim); }

Index::~Index() = default;

void Index::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_vectors_host(n, dim_, x, what);
}

void Index::check_queries(idx_t nq, const float* queries) const {
  check_finite(nq, queries, "queries");
}

void Index::train(idx_t n, const float* x) {
  check_count(n);
  check_not_null(x, "x");
  detail::checked_elements(n, dim_, "x");
  check_finite(n, x, "x");
  do_train(n, x);
}

void Index::check_add(idx_t n, const float* x, const char* method,
                      const AddOptions& options) const {
  check_count(n);
  check_not_null(x, "x");
  detail::checked_elements(n, dim_, "x");
  require(options.chunk_size >= 0, "{}: chunk_size must be >= 0, got {}", method,
          options.chunk_size);
  require(is_trained(), "the index must be trained before {}", method);
  const idx_t chunk = chunk_rows(n, options);
  if (chunk == n) {
    check_finite(n, x, "x");
    return;
  }
  for (idx_t first = 0; first < n; first += chunk) {
    const idx_t count = std::min(chunk, n - first);
    try {
      check_finite(count, x + first * dim_, "x");
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(fmt::format("in rows {}:{} of x: {}", first, first + count, e.what()));
    }
  }
}

void Index::add(idx_t n, const float* x, const AddOptions& options) {
  check_add(n, x, "add", options);
  const idx_t first = next_sequential_id();
  require(first <= kMaxId && n - 1 <= kMaxId - first,
          "add: {} sequential ids from {} would pass the largest id, {} (2^63 - 2); use "
          "add_with_ids with free ids",
          n, first, kMaxId);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = first + i;
  add_in_chunks(n, x, ids.data(), options);
}

void Index::add_with_ids(idx_t n, const float* x, const idx_t* ids, const AddOptions& options) {
  check_count(n);
  check_not_null(x, "x");
  check_not_null(ids, "ids");
  check_add(n, x, "add_with_ids", options);
  check_new_ids(n, ids);
  add_in_chunks(n, x, ids, options);
}

std::function<void()> Index::next_id_restorer() { return {}; }

std::function<void()> Index::next_id_restorer_with(std::function<void()> own,
                                                   const std::vector<Index*>& held) {
  std::vector<std::function<void()>> all{std::move(own)};
  for (Index* index : held) {
    all.push_back(index->next_id_restorer());
    if (!all.back()) return {};  // a held index that cannot restore its own: neither can this
  }
  return [all = std::move(all)] {
    for (const auto& restore : all) restore();
  };
}

void Index::add_in_chunks(idx_t n, const float* x, const idx_t* ids, const AddOptions& options) {
  idx_t chunk = chunk_rows(n, options);
  if (chunk == n && !options.progress) {
    do_add(n, x, ids);  // one piece: do_add alone leaves the index as it was when it throws
    return;
  }
  const std::function<void()> restore_next_ids = next_id_restorer();
  if (!restore_next_ids) chunk = n;
  idx_t added = 0;
  try {
    while (added < n) {
      const idx_t count = std::min(chunk, n - added);
      do_add(count, x + added * dim_, ids + added);
      added += count;
      if (options.progress) options.progress(added, n);
    }
  } catch (...) {
    if (added > 0) {
      do_remove_ids(added, ids);  // the rows of this call are the last ones of every container
      if (restore_next_ids) restore_next_ids();
    }
    throw;
  }
}

void Index::check_search_params(const SearchParams& params) const {
  require(typeid(params) == typeid(SearchParams),
          "this index takes knnx::SearchParams, not {}; SearchParamsIVF is for IVF indexes",
          detail::search_params_type_name(params));
}

void Index::validate_search_params(const SearchParams& params) const {
  check_search_params(params);
  params.validate();
}

void Index::search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                   const SearchParams* params) const {
  check_count(nq, "nq");
  check_k(k);
  check_not_null(queries, "queries");
  check_not_null(distances, "distances");
  check_not_null(labels, "labels");
  detail::checked_elements(nq, dim_, "queries");
  detail::checked_elements(nq, k, "labels");
  require(is_trained(), "the index must be trained before search");
  if (params) validate_search_params(*params);
  check_queries(nq, queries);
  do_search(nq, queries, k, distances, labels, params);
}

idx_t Index::remove_ids(idx_t n, const idx_t* ids) {
  require(n >= 0, "n must be >= 0, got {}", n);
  if (n == 0) return 0;
  check_not_null(ids, "ids");
  return do_remove_ids(n, ids);
}

RangeSearchResult Index::range_search(idx_t nq, const float* queries, float radius,
                                      const SearchParams* params) const {
  check_count(nq, "nq");
  require(!std::isnan(radius), "radius must not be NaN");
  if (nq > 0) check_not_null(queries, "queries");
  detail::checked_elements(nq, dim_, "queries");
  require(is_trained(), "the index must be trained before range_search");
  if (params) validate_search_params(*params);
  if (nq > 0) check_queries(nq, queries);
  return do_range_search(nq, queries, radius, params);
}

RangeSearchResult Index::do_range_search(idx_t, const float*, float, const SearchParams*) const {
  throw NotSupported(
      "range_search is available on IndexFlat, IndexIVFFlat, the scalar-quantizer indexes, "
      "IndexPQ, IndexIVFPQ and IndexIVFPQFastScan only");
}

idx_t Index::remove_ids(const IDSelector& sel) {
  const std::vector<idx_t> ids = selected_ids(sel);
  if (ids.empty()) return 0;
  return do_remove_ids(static_cast<idx_t>(ids.size()), ids.data());
}

std::vector<idx_t> Index::selected_ids(const IDSelector&) const {
  throw NotSupported("remove_ids(IDSelector) is available on IndexFlat and IndexIVFFlat only");
}

void Index::reconstruct(idx_t id, float* out) const {
  check_not_null(out, "out");
  do_reconstruct(id, out);
}

void Index::reconstruct_n(idx_t i0, idx_t ni, float* out) const {
  require(i0 >= 0 && ni >= 0 && i0 <= std::numeric_limits<idx_t>::max() - ni,
          "reconstruct_n: i0 = {} and ni = {} must be >= 0 with i0 + ni in range", i0, ni);
  if (ni == 0) return;
  check_not_null(out, "out");
  require(ni <= ntotal(), "reconstruct_n: ni = {} is more than the {} vectors the index holds", ni,
          ntotal());
  for (idx_t i = 0; i < ni; ++i) do_reconstruct(i0 + i, out + i * static_cast<idx_t>(dim()));
}

void Index::reset() { do_reset(); }

}  // namespace knnx
