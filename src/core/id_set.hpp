// core/id_set.hpp — the set of ids an index without a global row order (IVF) holds.
//
// While the stored ids are exactly 0..size-1 (the common case of plain add()), no hash table
// exists; the table is built the first time that stops being true. Like IdMap it remembers one
// past the largest id ever stored, which is where add() numbers from.
#pragma once

#include <unordered_set>
#include <vector>

#include "knnx/types.hpp"

namespace knnx::detail {

class IdSet {
 public:
  idx_t size() const { return size_; }
  bool contains(idx_t id) const;
  // One past the largest id ever stored (0 when none was, or after clear()).
  idx_t next_id() const { return next_id_; }
  // Raises next_id() to at least next, as if ids below it had been stored and removed (a loaded
  // index keeps numbering where the saved one would have).
  void raise_next_id(idx_t next) {
    if (next > next_id_) next_id_ = next;
  }
  // Sets next_id() back to a value it had (an add being undone).
  void rewind_next_id(idx_t next) noexcept { next_id_ = next; }

  // Throws InvalidArgument if an id is negative, repeated within ids, or already present
  // (the same messages as IdMap::check_new).
  void check_new(idx_t n, const idx_t* ids) const;

  // The state insert() changes, for rolling an insert back.
  struct Mark {
    bool identity;
    idx_t size;
    idx_t next_id;
  };
  Mark mark() const { return {identity_, size_, next_id_}; }

  // Adds n ids (checked by check_new). Strong guarantee: on exception nothing changes.
  void insert(idx_t n, const idx_t* ids);
  // Undoes the insert of exactly these ids made right after `before` was taken. Never throws.
  void revert_insert(idx_t n, const idx_t* ids, const Mark& before) noexcept;

  // Removing ids happens in two steps, so that the caller can put a step that may fail between
  // them: prepare_erase may throw and changes nothing; commit_erase never throws.
  // sorted_ids: ascending, unique, every one present.
  struct Erasure {
    std::vector<idx_t> ids;
    bool build_table = false;              // identity ends: the table replaces it
    std::unordered_set<idx_t> new_table;   // only when build_table
  };
  Erasure prepare_erase(std::vector<idx_t> sorted_ids) const;
  void commit_erase(Erasure& erasure) noexcept;

  // Empties the set; add() numbers from 0 again.
  void clear() noexcept;

 private:
  bool identity_ = true;  // the ids are exactly [0, size_)
  idx_t size_ = 0;
  idx_t next_id_ = 0;
  std::unordered_set<idx_t> table_;  // the ids when !identity_
};

}  // namespace knnx::detail
