// Validation shared by every index: each public method checks its arguments here, then calls
// the index's do_* implementation.
#include "knnx/index.hpp"

#include <cmath>
#include <limits>
#include <typeinfo>
#include <vector>

#include "core/check.hpp"
#include "core/search_knobs.hpp"

namespace knnx {

using detail::check_count;
using detail::check_k;
using detail::check_not_null;
using detail::require;

Index::Index(int dim, Metric metric) : dim_(dim), metric_(metric) { detail::check_dim(dim); }

Index::~Index() = default;

void Index::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_finite_host(n, dim_, x, what);
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

void Index::add(idx_t n, const float* x) {
  check_count(n);
  check_not_null(x, "x");
  detail::checked_elements(n, dim_, "x");
  require(is_trained(), "the index must be trained before add");
  check_finite(n, x, "x");
  const idx_t first = next_sequential_id();
  require(first <= kMaxId && n - 1 <= kMaxId - first,
          "add: {} sequential ids from {} would pass the largest id, {} (2^63 - 2); use "
          "add_with_ids with free ids",
          n, first, kMaxId);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = first + i;
  do_add(n, x, ids.data());
}

void Index::add_with_ids(idx_t n, const float* x, const idx_t* ids) {
  check_count(n);
  check_not_null(x, "x");
  check_not_null(ids, "ids");
  detail::checked_elements(n, dim_, "x");
  require(is_trained(), "the index must be trained before add_with_ids");
  check_finite(n, x, "x");
  check_new_ids(n, ids);
  do_add(n, x, ids);
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
  throw NotSupported("range_search is available on IndexFlat and IndexIVFFlat only");
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
