// knnx/id_selector.hpp — which ids a search may return, as FAISS's IDSelector classes.
//
// A selector answers is_member(id). Passed as SearchParams::sel, it restricts search and
// range_search to the admitted ids: rows whose id is not a member are skipped while the results
// are selected (they never take a slot of the top k), so a query with fewer than k admitted ids
// gets -1 labels and empty_distance(metric) in the remaining slots. Index::remove_ids(sel)
// removes every stored vector whose id is a member.
//
// Selectors are immutable after construction and is_member is const and thread-safe, so one
// selector may serve concurrent searches. SearchParams holds a non-owning pointer (as FAISS):
// the selector must outlive every search that uses it. The combinators (Not, And, Or) hold
// non-owning pointers to their operands in the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/types.hpp"

namespace knnx {

class IDSelector {
 public:
  virtual ~IDSelector() = default;
  virtual bool is_member(idx_t id) const = 0;
};

// The ids of a set given as an array (FAISS's IDSelectorBatch: a hash set there, a sorted copy
// here; FAISS's IDSelectorArray is the same set, scanned linearly).
class IDSelectorBatch : public IDSelector {
 public:
  IDSelectorBatch(std::size_t n, const idx_t* ids);
  explicit IDSelectorBatch(std::vector<idx_t> ids);
  bool is_member(idx_t id) const override;

 private:
  std::vector<idx_t> sorted_;
  std::vector<std::uint64_t> dense_;  // bit i: sorted_.front() + i is a member (dense sets only)
};

// The same set as IDSelectorBatch, under FAISS's other name.
class IDSelectorArray : public IDSelectorBatch {
 public:
  using IDSelectorBatch::IDSelectorBatch;
};

// Ids in [imin, imax).
class IDSelectorRange : public IDSelector {
 public:
  IDSelectorRange(idx_t imin, idx_t imax) : imin_(imin), imax_(imax) {}
  bool is_member(idx_t id) const override { return id >= imin_ && id < imax_; }
  idx_t imin() const { return imin_; }
  idx_t imax() const { return imax_; }

 private:
  idx_t imin_, imax_;
};

// Bit i of the bitmap admits id i, in FAISS's order: bit (i & 7) of byte i >> 3, least
// significant first. Ids beyond the bitmap's n bytes (n * 8 bits), and negative ids, are not
// members. The bytes are copied.
class IDSelectorBitmap : public IDSelector {
 public:
  IDSelectorBitmap(std::size_t n, const std::uint8_t* bitmap);
  bool is_member(idx_t id) const override;

 private:
  std::vector<std::uint8_t> bitmap_;
};

// The combinators take pointers, as FAISS's do (null is InvalidArgument); they do not own them.

// Ids that `sel` does not admit.
class IDSelectorNot : public IDSelector {
 public:
  explicit IDSelectorNot(const IDSelector* sel);
  bool is_member(idx_t id) const override { return !sel_->is_member(id); }

 private:
  const IDSelector* sel_;
};

// Ids both selectors admit.
class IDSelectorAnd : public IDSelector {
 public:
  IDSelectorAnd(const IDSelector* lhs, const IDSelector* rhs);
  bool is_member(idx_t id) const override { return lhs_->is_member(id) && rhs_->is_member(id); }

 private:
  const IDSelector* lhs_;
  const IDSelector* rhs_;
};

// Ids either selector admits.
class IDSelectorOr : public IDSelector {
 public:
  IDSelectorOr(const IDSelector* lhs, const IDSelector* rhs);
  bool is_member(idx_t id) const override { return lhs_->is_member(id) || rhs_->is_member(id); }

 private:
  const IDSelector* lhs_;
  const IDSelector* rhs_;
};

}  // namespace knnx
