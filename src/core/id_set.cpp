#include "core/id_set.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "core/new_ids.hpp"

namespace knnx::detail {

bool IdSet::contains(idx_t id) const {
  if (identity_) return id >= 0 && id < size_;
  return table_.find(id) != table_.end();
}

void IdSet::check_new(idx_t n, const idx_t* ids) const {
  check_new_ids(n, ids, [this](idx_t id) { return contains(id); });
}

void IdSet::insert(idx_t n, const idx_t* ids) {
  idx_t new_next = next_id_;
  for (idx_t i = 0; i < n; ++i) new_next = std::max(new_next, ids[i] + 1);

  if (identity_) {
    bool sequential = true;
    for (idx_t i = 0; i < n && sequential; ++i) sequential = ids[i] == size_ + i;
    if (!sequential) {
      // The ids stop being 0..size-1: build the table aside, then switch (nothing throws after).
      std::unordered_set<idx_t> table;
      table.reserve(static_cast<std::size_t>(size_ + n));
      for (idx_t id = 0; id < size_; ++id) table.insert(id);
      table.insert(ids, ids + n);
      table_.swap(table);
      identity_ = false;
    }
  } else {
    table_.reserve(static_cast<std::size_t>(size_ + n));  // no effect if it throws
    idx_t done = 0;
    try {
      for (; done < n; ++done) table_.insert(ids[done]);
    } catch (...) {
      for (idx_t i = 0; i < done; ++i) table_.erase(ids[i]);
      throw;
    }
  }
  size_ += n;
  next_id_ = new_next;
}

void IdSet::revert_insert(idx_t n, const idx_t* ids, const Mark& before) noexcept {
  if (before.identity && !identity_) {
    table_.clear();
    identity_ = true;
  } else if (!before.identity) {
    for (idx_t i = 0; i < n; ++i) table_.erase(ids[i]);
  }
  size_ = before.size;
  next_id_ = before.next_id;
}

IdSet::Erasure IdSet::prepare_erase(std::vector<idx_t> sorted_ids) const {
  Erasure e;
  const idx_t m = static_cast<idx_t>(sorted_ids.size());
  // Taking the top ids off 0..size-1 leaves 0..size-m-1: still no table needed.
  const bool tail = m == 0 || (sorted_ids.front() == size_ - m && sorted_ids.back() == size_ - 1);
  if (identity_ && !tail) {
    e.build_table = true;
    e.new_table.reserve(static_cast<std::size_t>(size_ - m));
    std::size_t next_removed = 0;
    for (idx_t id = 0; id < size_; ++id) {
      if (next_removed < sorted_ids.size() && sorted_ids[next_removed] == id) {
        ++next_removed;
      } else {
        e.new_table.insert(id);
      }
    }
  }
  e.ids = std::move(sorted_ids);
  return e;
}

void IdSet::commit_erase(Erasure& e) noexcept {
  const idx_t m = static_cast<idx_t>(e.ids.size());
  if (identity_) {
    if (e.build_table) {
      table_.swap(e.new_table);
      identity_ = false;
    }
  } else {
    for (idx_t id : e.ids) table_.erase(id);
  }
  size_ -= m;
  if (size_ == 0 && !identity_) {  // an empty set is trivially 0..size-1
    table_.clear();
    identity_ = true;
  }
}

void IdSet::clear() noexcept {
  table_.clear();
  identity_ = true;
  size_ = 0;
  next_id_ = 0;
}

}  // namespace knnx::detail
