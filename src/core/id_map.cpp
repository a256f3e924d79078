#include "core/id_map.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/check.hpp"
#include "core/new_ids.hpp"

namespace knnx::detail {

idx_t IdMap::row_of_id(idx_t id) const {
  if (identity_) return (id >= 0 && id < size()) ? id : -1;
  auto it = row_of_.find(id);
  return it == row_of_.end() ? -1 : it->second;
}

void IdMap::check_new(idx_t n, const idx_t* ids) const {
  check_new_ids(n, ids, [this](idx_t id) { return contains(id); });
}

void IdMap::append(idx_t n, const idx_t* ids) {
  const idx_t old_size = size();
  bool still_identity = identity_;
  for (idx_t i = 0; i < n && still_identity; ++i) still_identity = ids[i] == old_size + i;

  std::vector<idx_t> new_ids = ids_;  // copy first: strong guarantee
  new_ids.insert(new_ids.end(), ids, ids + n);
  idx_t new_next = next_id_;
  for (idx_t i = 0; i < n; ++i) new_next = std::max(new_next, ids[i] + 1);

  if (still_identity) {
    ids_.swap(new_ids);
  } else {
    std::unordered_map<idx_t, idx_t> table;
    if (!identity_) table = row_of_;
    table.reserve(new_ids.size());
    const idx_t start = identity_ ? 0 : old_size;
    for (idx_t r = start; r < static_cast<idx_t>(new_ids.size()); ++r) {
      table.emplace(new_ids[static_cast<std::size_t>(r)], r);
    }
    ids_.swap(new_ids);
    row_of_.swap(table);
    identity_ = false;
  }
  next_id_ = new_next;
  ++version_;
}

std::vector<idx_t> IdMap::rows_of(idx_t n, const idx_t* ids) const {
  std::vector<std::uint8_t> hit(ids_.size(), 0);
  for (idx_t i = 0; i < n; ++i) {
    const idx_t r = row_of_id(ids[i]);
    if (r >= 0) hit[static_cast<std::size_t>(r)] = 1;
  }
  std::vector<idx_t> rows;
  for (std::size_t r = 0; r < hit.size(); ++r) {
    if (hit[r]) rows.push_back(static_cast<idx_t>(r));
  }
  return rows;
}

void IdMap::remove_rows(const std::vector<std::uint8_t>& remove) {
  std::vector<idx_t> kept;
  kept.reserve(ids_.size());
  for (std::size_t r = 0; r < ids_.size(); ++r) {
    if (!remove[r]) kept.push_back(ids_[r]);
  }
  bool identity = true;
  for (std::size_t r = 0; r < kept.size() && identity; ++r) {
    identity = kept[r] == static_cast<idx_t>(r);
  }
  ids_.swap(kept);
  identity_ = identity;
  row_of_.clear();
  if (!identity_) build_table();
  ++version_;  // next_id_ is kept: removed ids are never handed out again by add()
}

void IdMap::rows_to_ids(std::size_t count, idx_t* labels) const {
  if (identity_) return;
  for (std::size_t i = 0; i < count; ++i) {
    if (labels[i] >= 0) labels[i] = ids_[static_cast<std::size_t>(labels[i])];
  }
}

void IdMap::clear() {
  ids_.clear();
  row_of_.clear();
  identity_ = true;
  next_id_ = 0;  // an emptied index numbers from 0 again, as a fresh one does
  ++version_;
}

void IdMap::build_table() {
  row_of_.reserve(ids_.size());
  for (std::size_t r = 0; r < ids_.size(); ++r) row_of_.emplace(ids_[r], static_cast<idx_t>(r));
}

}  // namespace knnx::detail
