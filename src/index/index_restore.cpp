#include "index/index_restore.hpp"

#include <fmt/format.h>

#include "core/flat_backend.hpp"
#include "core/id_map.hpp"
#include "core/id_set.hpp"
#include "core/ivf_backend.hpp"
#include "core/pq_backend.hpp"
#include "core/sq_backend.hpp"
#include "knnx/error.hpp"

namespace knnx::detail {

void IndexRestore::append_flat_rows(IndexFlat& index, idx_t n, const float* x) {
  index.backend_->add(n, x);
}

void IndexRestore::view_flat_rows(IndexFlat& index, idx_t n, const float* rows,
                                  std::shared_ptr<const void> keep) {
  index.backend_->view_rows(n, rows, std::move(keep));
}

const float* IndexRestore::host_flat_rows(const IndexFlat& index) {
  return index.backend_->host_rows();
}

void IndexRestore::finish_flat(IndexFlat& index, const std::vector<idx_t>& ids, idx_t next_id) {
  const auto n = static_cast<idx_t>(ids.size());
  if (index.id_map_->size() != 0 || index.backend_->size() != n) {
    throw Error(fmt::format("restoring an IndexFlat: {} ids for {} rows ({} ids present)", n,
                            index.backend_->size(), index.id_map_->size()));
  }
  index.id_map_->append(n, ids.data());
  index.id_map_->raise_next_id(next_id);
}

void IndexRestore::fill_refine(IndexRefineFlat& index, std::unique_ptr<Index> base,
                               std::unique_ptr<IndexFlat> refine,
                               const std::vector<idx_t>& sorted_ids, idx_t next_id) {
  index.base_ = std::move(base);
  index.refine_ = std::move(refine);
  index.ids_->insert(static_cast<idx_t>(sorted_ids.size()), sorted_ids.data());
  index.ids_->raise_next_id(next_id);
}

void IndexRestore::reserve_lists(IndexIVFFlat& index, const std::vector<idx_t>& sizes) {
  index.backend_->reserve_lists(sizes);
}

void IndexRestore::reserve_lists(IndexScalarQuantizerBase& index, const std::vector<idx_t>& sizes) {
  index.backend_->reserve_lists(sizes);
}

void IndexRestore::reserve_lists(IndexIVFPQ& index, const std::vector<idx_t>& sizes) {
  index.backend_->reserve_lists(sizes);
}

void IndexRestore::append_ivf_rows(IndexIVFFlat& index, idx_t n, const float* x,
                                   const idx_t* ids, const idx_t* lists) {
  index.backend_->add(n, x, ids, lists);
}

void IndexRestore::finish_ivf(IndexIVFFlat& index, const std::vector<idx_t>& sorted_ids,
                              idx_t next_id) {
  const auto n = static_cast<idx_t>(sorted_ids.size());
  if (index.ids_->size() != 0 || index.backend_->size() != n) {
    throw Error(fmt::format("restoring an IndexIVFFlat: {} ids for {} vectors ({} ids present)",
                            n, index.backend_->size(), index.ids_->size()));
  }
  // Ascending ids keep the set's no-table representation when they are exactly 0..n-1.
  index.ids_->insert(n, sorted_ids.data());
  index.ids_->raise_next_id(next_id);
}

std::vector<idx_t> IndexRestore::sq_list_ids(const IndexScalarQuantizerBase& index, int list) {
  return index.backend_->list_ids(list);
}

std::vector<std::uint8_t> IndexRestore::sq_list_codes(const IndexScalarQuantizerBase& index,
                                                      int list) {
  return index.backend_->list_codes(list);
}

void IndexRestore::set_sq_training(IndexScalarQuantizerBase& index, const ScalarQuantizer& sq,
                                   const float* centroids) {
  if (centroids != nullptr) index.backend_->set_centroids(centroids);
  index.backend_->set_quantizer(sq);
}

void IndexRestore::append_sq_codes(IndexScalarQuantizerBase& index, int list, idx_t n,
                                   const std::uint8_t* codes, const idx_t* ids) {
  index.backend_->add_codes(list, n, codes, ids);
}

void IndexRestore::finish_sq(IndexScalarQuantizerBase& index, const std::vector<idx_t>& sorted_ids,
                             idx_t next_id) {
  const auto n = static_cast<idx_t>(sorted_ids.size());
  if (index.ids_->size() != 0 || index.backend_->size() != n) {
    throw Error(
        fmt::format("restoring a scalar-quantizer index: {} ids for {} codes ({} ids "
                    "present)",
                    n, index.backend_->size(), index.ids_->size()));
  }
  index.ids_->insert(n, sorted_ids.data());
  index.ids_->raise_next_id(next_id);
}

void IndexRestore::append_pq_codes(IndexPQ& index, idx_t n, const std::uint8_t* codes) {
  index.backend_->add(n, codes);
}

void IndexRestore::finish_pq(IndexPQ& index, const std::vector<idx_t>& ids, idx_t next_id) {
  const auto n = static_cast<idx_t>(ids.size());
  if (index.id_map_->size() != 0 || index.backend_->size() != n) {
    throw Error(fmt::format("restoring an IndexPQ: {} ids for {} codes ({} ids present)", n,
                            index.backend_->size(), index.id_map_->size()));
  }
  index.id_map_->append(n, ids.data());
  index.id_map_->raise_next_id(next_id);
}

void IndexRestore::set_ivf_pq_trained(IndexIVFPQ& index, const float* centroids,
                                      const float* pq_centroids) {
  index.pq_.set_centroids(pq_centroids);
  index.backend_->set_centroids(centroids);
  index.backend_->prepare(index.pq_, index.precompute_);
  index.trained_ = true;
}

void IndexRestore::append_ivf_pq_codes(IndexIVFPQ& index, idx_t n, const std::uint8_t* codes,
                                       const idx_t* ids, const idx_t* lists) {
  index.backend_->add(n, codes, ids, lists);
}

void IndexRestore::finish_ivf_pq(IndexIVFPQ& index, const std::vector<idx_t>& sorted_ids,
                                 idx_t next_id) {
  const auto n = static_cast<idx_t>(sorted_ids.size());
  if (index.ids_->size() != 0 || index.backend_->size() != n) {
    throw Error(fmt::format("restoring an IndexIVFPQ: {} ids for {} codes ({} ids present)", n,
                            index.backend_->size(), index.ids_->size()));
  }
  index.ids_->insert(n, sorted_ids.data());
  index.ids_->raise_next_id(next_id);
}

}  // namespace knnx::detail
