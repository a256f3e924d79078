// IndexRefineFlat: the base index proposes candidates, the exact host vectors rank them.
#include "knnx/index_refine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <typeinfo>
#include <vector>

#include "core/check.hpp"
#include "core/id_set.hpp"
#include "core/parallel_errors.hpp"
#include "core/search_knobs.hpp"
#include "index/list_ids.hpp"

namespace knnx {

using detail::require;

namespace {

float checked_k_factor(float k_factor) {
  require(std::isfinite(k_factor) && k_factor >= 1.0f, "k_factor must be finite and >= 1, got {}",
          k_factor);
  return k_factor;
}

std::unique_ptr<Index> checked_base(std::unique_ptr<Index> base) {
  detail::check_not_null(base.get(), "base");
  require(base->ntotal() == 0, "IndexRefineFlat needs an empty base index, but it holds {} vectors",
          base->ntotal());
  return base;
}

}  // namespace

IndexRefineFlat::IndexRefineFlat(std::unique_ptr<Index> base, float k_factor)
    : Index(base ? base->dim() : 1, base ? base->metric() : Metric::L2),
      base_(checked_base(std::move(base))),
      refine_(std::make_unique<IndexFlat>(base_->dim(), base_->metric(), Device::cpu())),
      ids_(std::make_unique<detail::IdSet>()),
      k_factor_(checked_k_factor(k_factor)) {}

IndexRefineFlat::~IndexRefineFlat() = default;

void IndexRefineFlat::set_k_factor(float k_factor) { k_factor_ = checked_k_factor(k_factor); }

void IndexRefineFlat::do_train(idx_t n, const float* x) { base_->train(n, x); }

void IndexRefineFlat::do_add(idx_t n, const float* x, const idx_t* ids) {
  // Each part has the strong guarantee; a later failure takes the earlier parts back out.
  const detail::IdSet::Mark before = ids_->mark();
  try {
    ids_->insert(n, ids);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot grow the id set of the index by {} ids", n));
  }
  try {
    base_->add_with_ids(n, x, ids);
  } catch (...) {
    ids_->revert_insert(n, ids, before);
    throw;
  }
  try {
    refine_->add_with_ids(n, x, ids);
  } catch (...) {
    base_->remove_ids(n, ids);
    ids_->revert_insert(n, ids, before);
    throw;
  }
}

void IndexRefineFlat::check_search_params(const SearchParams& params) const {
  if (const auto* refine = dynamic_cast<const SearchParamsRefine*>(&params)) {
    if (refine->base_params) base_->validate_search_params(*refine->base_params);
    return;
  }
  base_->validate_search_params(params);
}

void IndexRefineFlat::do_search(idx_t nq, const float* queries, int k, float* distances,
                                idx_t* labels, const SearchParams* params) const {
  const auto* refine = dynamic_cast<const SearchParamsRefine*>(params);
  const float k_factor = refine && refine->k_factor ? *refine->k_factor : k_factor_;
  // The base search's params: base_params, or the SearchParams fields of refine params.
  SearchParams plain;
  const SearchParams* base_params = params;
  if (refine) {
    plain = static_cast<const SearchParams&>(*refine);
    base_params = refine->base_params ? refine->base_params : &plain;
  }
  const double wanted = std::ceil(static_cast<double>(k) * k_factor);
  const int kb =
      static_cast<int>(std::clamp(wanted, static_cast<double>(k), static_cast<double>(kMaxK)));
  std::vector<float> base_d(detail::checked_elements(nq, kb, "candidates"));
  std::vector<idx_t> base_i(base_d.size());
  base_->search(nq, queries, kb, base_d.data(), base_i.data(), base_params);

  const bool l2 = metric() == Metric::L2;
  const float pad = empty_distance(metric());
  const int d = dim();
  detail::ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 16) if (nq > 16)
  for (idx_t q = 0; q < nq; ++q)
    errors.run([&] {
      const float* query = queries + q * d;
      std::vector<float> v(static_cast<std::size_t>(d));
      std::vector<std::pair<float, idx_t>> scored;  // (score, id): smaller is better
      for (int j = 0; j < kb; ++j) {
        const idx_t id = base_i[static_cast<std::size_t>(q * kb + j)];
        if (id < 0) continue;
        refine_->reconstruct(id, v.data());
        float s = 0.0f;
        for (int c = 0; c < d; ++c) {
          s += l2 ? (query[c] - v[c]) * (query[c] - v[c]) : query[c] * v[c];
        }
        scored.push_back({l2 ? s : -s, id});
      }
      const std::size_t m = std::min(scored.size(), static_cast<std::size_t>(k));
      std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(m),
                        scored.end());
      for (int j = 0; j < k; ++j) {
        const bool have = static_cast<std::size_t>(j) < m;
        distances[q * k + j] = have ? (l2 ? scored[j].first : -scored[j].first) : pad;
        labels[q * k + j] = have ? scored[j].second : kNoLabel;
      }
    });
  errors.rethrow("IndexRefineFlat search");
}

idx_t IndexRefineFlat::do_remove_ids(idx_t n, const idx_t* ids) {
  return detail::remove_stored_ids(*ids_, n, ids, [&](const std::vector<idx_t>& sorted) {
    const auto m = static_cast<idx_t>(sorted.size());
    base_->remove_ids(m, sorted.data());
    return refine_->remove_ids(m, sorted.data());
  });
}

void IndexRefineFlat::do_reconstruct(idx_t id, float* out) const { refine_->reconstruct(id, out); }

void IndexRefineFlat::do_reset() {
  base_->reset();
  refine_->reset();
  ids_->clear();
}

void IndexRefineFlat::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexRefineFlat::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexRefineFlat::next_id_restorer() {
  return next_id_restorer_with(
      [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); },
      {base_.get(), refine_.get()});
}

}  // namespace knnx
