// core/id_map.hpp — the ids of an index's stored rows: row -> id, id -> row, uniqueness.
//
// While ids are exactly 0..n-1 in row order (the common case of plain add()), no hash table
// exists: id == row. The table is built the first time that stops being true.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "knnx/types.hpp"

namespace knnx::detail {

class IdMap {
 public:
  idx_t size() const { return static_cast<idx_t>(ids_.size()); }
  bool is_identity() const { return identity_; }
  const idx_t* data() const { return ids_.data(); }
  const std::vector<idx_t>& ids() const { return ids_; }
  idx_t id_of_row(idx_t row) const { return ids_[static_cast<std::size_t>(row)]; }
  // Row of an id, or -1 when absent.
  idx_t row_of_id(idx_t id) const;
  bool contains(idx_t id) const { return row_of_id(id) >= 0; }
  // One past the largest id ever stored (0 when none was).
  idx_t next_id() const { return next_id_; }
  // Raises next_id() to at least next, as if ids below it had been stored and removed (a loaded
  // index keeps numbering where the saved one would have).
  void raise_next_id(idx_t next) {
    if (next > next_id_) next_id_ = next;
  }
  // Sets next_id() back to a value it had (an add being undone).
  void rewind_next_id(idx_t next) noexcept { next_id_ = next; }
  // Changes whenever the ids change (lets device backends cache a copy).
  std::uint64_t version() const { return version_; }

  // Throws InvalidArgument if an id is negative, repeated within ids, or already present.
  void check_new(idx_t n, const idx_t* ids) const;
  // Appends (ids already checked). Strong guarantee: on exception nothing changes.
  void append(idx_t n, const idx_t* ids);
  // Rows whose id is in ids[0..n), ascending, without repeats.
  std::vector<idx_t> rows_of(idx_t n, const idx_t* ids) const;
  // Drops the flagged rows (remove[row] != 0), keeping the order of the rest.
  void remove_rows(const std::vector<std::uint8_t>& remove);
  // Maps row labels to ids in place; -1 stays -1.
  void rows_to_ids(std::size_t count, idx_t* labels) const;
  void clear();

 private:
  void build_table();

  std::vector<idx_t> ids_;
  std::unordered_map<idx_t, idx_t> row_of_;  // filled only when !identity_
  bool identity_ = true;
  idx_t next_id_ = 0;
  std::uint64_t version_ = 0;
};

}  // namespace knnx::detail
