// IndexRefineFlat: the base index proposes candidates, the exact vectors rank them (on the host,
// from a file mapping, or on the base index's CUDA device).
#include "knnx/index_refine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <typeinfo>
#include <vector>

#include "core/check.hpp"
#include "core/flat_backend.hpp"
#include "core/id_set.hpp"
#include "core/parallel_errors.hpp"
#include "core/search_knobs.hpp"
#include "cpu/blas.hpp"
#include "index/host_rows.hpp"
#include "index/index_restore.hpp"
#include "index/list_ids.hpp"
#include "knnx/config.hpp"
#include "knnx/device_memory.hpp"

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

// An empty IndexFlat for the exact vectors of an IndexRefineFlat around base, where storage
// puts them.
std::unique_ptr<IndexFlat> empty_refine(const Index& base, RefineStorage storage) {
  require(storage != RefineStorage::Mapped,
          "refine storage 'mapped' is made by read_index with ReadIndexOptions::mmap only");
  if (storage == RefineStorage::Host) {
    return std::make_unique<IndexFlat>(base.dim(), base.metric(), Device::cpu());
  }
  require(base.device().is_cuda(),
          "refine storage 'device' keeps the exact vectors on the base index's CUDA device, but "
          "the base index is on {}",
          base.device().to_string());
  return std::make_unique<IndexFlat>(base.dim(), base.metric(), base.device());
}

}  // namespace

const char* to_string(RefineStorage storage) {
  switch (storage) {
    case RefineStorage::Host:
      return "host";
    case RefineStorage::Mapped:
      return "mapped";
    case RefineStorage::Device:
      return "device";
  }
  return "unknown";
}

IndexRefineFlat::IndexRefineFlat(std::unique_ptr<Index> base, float k_factor, RefineStorage storage)
    : Index(base ? base->dim() : 1, base ? base->metric() : Metric::L2),
      base_(checked_base(std::move(base))),
      refine_(empty_refine(*base_, storage)),
      ids_(std::make_unique<detail::IdSet>()),
      k_factor_(checked_k_factor(k_factor)) {}

IndexRefineFlat::~IndexRefineFlat() = default;

void IndexRefineFlat::set_k_factor(float k_factor) { k_factor_ = checked_k_factor(k_factor); }

RefineStorage IndexRefineFlat::refine_storage() const {
  if (refine_->device().is_cuda()) return RefineStorage::Device;
  return refine_->backend_->rows_viewed() ? RefineStorage::Mapped : RefineStorage::Host;
}

void IndexRefineFlat::set_refine_storage(RefineStorage storage) {
  if (storage == refine_storage()) return;
  std::unique_ptr<IndexFlat> moved = empty_refine(*base_, storage);
  const idx_t n = refine_->ntotal();
  try {
    if (n > 0) {
      const std::vector<idx_t> ids = refine_->ids();
      if (const float* rows = detail::IndexRestore::host_flat_rows(*refine_)) {
        detail::IndexRestore::append_flat_rows(*moved, n, rows);
      } else {
        const std::vector<float> copy = refine_->vectors();
        detail::IndexRestore::append_flat_rows(*moved, n, copy.data());
      }
      detail::IndexRestore::finish_flat(*moved, ids, detail::IndexRestore::next_id(*refine_));
    }
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(
        fmt::format("cannot allocate a copy of {} exact vectors of dim {}", n, dim()));
  }
  refine_ = std::move(moved);
}

void IndexRefineFlat::refuse_if_mapped(const char* what) const {
  if (refine_storage() != RefineStorage::Mapped) return;
  throw NotSupported(fmt::format(
      "cannot {} an IndexRefineFlat whose exact vectors are memory-mapped read-only from its "
      "file (read_index with mmap); set_refine_storage(host) copies them into memory first",
      what));
}

void IndexRefineFlat::do_train(idx_t n, const float* x) { base_->train(n, x); }

void IndexRefineFlat::do_add(idx_t n, const float* x, const idx_t* ids) {
  refuse_if_mapped("add vectors to");
  // Exact vectors kept on the host take a host copy of device rows.
  const bool to_host = !refine_->device().is_cuda();
  const detail::HostRows host_x(to_host ? n : 0, dim(), x, device());
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
    refine_->add_with_ids(n, to_host ? host_x.data() : x, ids);
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
  if (refine_->device().is_cuda()) {
    search_device(nq, queries, k, kb, distances, labels, base_params);
  } else {
    search_host(nq, queries, k, kb, distances, labels, base_params);
  }
}

void IndexRefineFlat::search_host(idx_t nq, const float* queries, int k, int kb, float* distances,
                                  idx_t* labels, const SearchParams* base_params) const {
  std::vector<float> base_d(detail::checked_elements(nq, kb, "candidates"));
  std::vector<idx_t> base_i(base_d.size());
  base_->search(nq, queries, kb, base_d.data(), base_i.data(), base_params);

  // Queries and results in device memory (a base index on a GPU) pass through host copies.
  const detail::HostRows host_queries(nq, dim(), queries, device());
  queries = host_queries.data();
  const bool results_on_device = detail::is_device_pointer(distances);
  std::vector<float> host_distances;
  std::vector<idx_t> host_labels;
  float* out_d = distances;
  idx_t* out_i = labels;
  if (results_on_device) {
    host_distances.resize(detail::checked_elements(nq, k, "results"));
    host_labels.resize(host_distances.size());
    out_d = host_distances.data();
    out_i = host_labels.data();
  }

  const bool l2 = metric() == Metric::L2;
  const float pad = empty_distance(metric());
  const int d = dim();
  detail::ParallelErrors errors;
  const int threads = cpu::cpu_threads(config().num_threads);
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (nq > 16)
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
        out_d[q * k + j] = have ? (l2 ? scored[j].first : -scored[j].first) : pad;
        out_i[q * k + j] = have ? scored[j].second : kNoLabel;
      }
    });
  errors.rethrow("IndexRefineFlat search");
  if (results_on_device) {
    copy_host_to_device(distances, out_d, host_distances.size() * sizeof(float), device());
    copy_host_to_device(labels, out_i, host_labels.size() * sizeof(idx_t), device());
  }
}

// The base index writes its candidates to device memory, which the re-ranking reads in place.
void IndexRefineFlat::search_device(idx_t nq, const float* queries, int k, int kb, float* distances,
                                    idx_t* labels, const SearchParams* base_params) const {
  if (nq == 0) return;
  const std::size_t count = detail::checked_elements(nq, kb, "candidates");
  const std::shared_ptr<void> cand_d = allocate_device_memory(device(), count * sizeof(float));
  const std::shared_ptr<void> cand_i = allocate_device_memory(device(), count * sizeof(idx_t));
  const auto* candidates = static_cast<const idx_t*>(cand_i.get());
  base_->search(nq, queries, kb, static_cast<float*>(cand_d.get()),
                static_cast<idx_t*>(cand_i.get()), base_params);
  refine_->backend_->rerank(nq, queries, kb, candidates, k, distances, labels, *refine_->id_map_,
                            refine_->search_knobs(nullptr));
}

idx_t IndexRefineFlat::do_remove_ids(idx_t n, const idx_t* ids) {
  refuse_if_mapped("remove vectors from");
  return detail::remove_stored_ids(*ids_, n, ids, [&](const std::vector<idx_t>& sorted) {
    const auto m = static_cast<idx_t>(sorted.size());
    base_->remove_ids(m, sorted.data());
    return refine_->remove_ids(m, sorted.data());
  });
}

void IndexRefineFlat::do_reconstruct(idx_t id, float* out) const { refine_->reconstruct(id, out); }

void IndexRefineFlat::do_reset() {
  refuse_if_mapped("reset");
  base_->reset();
  refine_->reset();
  ids_->clear();
}

void IndexRefineFlat::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexRefineFlat::next_sequential_id() const { return ids_->next_id(); }

void IndexRefineFlat::check_finite(idx_t n, const float* x, const char* what) const {
  detail::check_rows_on_host(n, dim(), x, what, device());
}

void IndexRefineFlat::check_queries(idx_t, const float*) const {}

std::function<void()> IndexRefineFlat::next_id_restorer() {
  return next_id_restorer_with(
      [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); },
      {base_.get(), refine_.get()});
}

}  // namespace knnx
