// cpu/ivf_code_lists.hpp — inverted lists of fixed-size codes and their ids: the storage of the
// compressed IVF indexes on the CPU (scalar-quantizer and product-quantizer codes alike).
//
// Each list keeps its codes (size x code_size bytes, row by row or in the fast-scan blocks of
// cpu/code_layout.hpp) and its ids in insertion order, in arrays that grow geometrically. What a
// code means is the caller's business: this structure stores, appends, removes and finds entries,
// nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "cpu/code_layout.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

class IvfCodeLists {
 public:
  // Most entries one list may hold, so that (list, offset) packs into one idx_t label
  // (list << 32 | offset) inside a search.
  static constexpr int kOffsetBits = 32;
  static constexpr idx_t kMaxListSize = idx_t{1} << kOffsetBits;

  // n_lists >= 1, code_size >= 1 (checked by the index layer); with fast_scan_blocks the codes
  // are 4-bit product-quantizer codes kept in blocks of 32.
  IvfCodeLists(int n_lists, std::size_t code_size, bool fast_scan_blocks = false);

  int n_lists() const { return static_cast<int>(lists_.size()); }
  std::size_t code_size() const { return layout_.code_size; }
  idx_t size() const { return size_; }  // entries over all lists

  idx_t list_size(int list) const { return static_cast<idx_t>(at(list).ids.size()); }
  // The list's code store, laid out as layout() says; valid until the next change.
  const std::uint8_t* codes(int list) const { return at(list).codes.data(); }
  const CodeLayout& layout() const { return layout_; }
  // Row-major copy of one list's codes (list_size x code_size bytes).
  std::vector<std::uint8_t> row_codes(int list) const;
  const idx_t* ids(int list) const { return at(list).ids.data(); }
  // Replaces each of labels[0..n) packed inside a search as (list << kOffsetBits) + offset by
  // the id stored there; negative labels (no result) stay.
  void labels_to_ids(idx_t* labels, idx_t n) const {
    for (idx_t j = 0; j < n; ++j) {
      if (labels[j] < 0) continue;
      const int list = static_cast<int>(labels[j] >> kOffsetBits);
      labels[j] = ids(list)[labels[j] & (kMaxListSize - 1)];
    }
  }
  std::vector<idx_t> list_sizes() const;

  // Appends entry i (codes + i * code_size, ids[i]) to list lists[i], for i < n; lists[i] in
  // [0, n_lists). Strong guarantee: OutOfMemory, or NotSupported when a list would pass
  // kMaxListSize, leaves every list as it was.
  void add(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists);
  // Appends n entries to one list (the same guarantee); for readers restoring saved lists.
  void append(int list, idx_t n, const std::uint8_t* codes, const idx_t* ids);

  // Removes every entry whose id is in sorted_ids (ascending, unique), keeping the order of the
  // rest; returns how many were removed. Never throws.
  idx_t remove_ids(const std::vector<idx_t>& sorted_ids) noexcept;

  // Where an id is stored (its first occurrence in list order), or nullopt. O(size).
  struct Position {
    int list;
    idx_t offset;
  };
  std::optional<Position> find(idx_t id) const;

  // Empties every list and gives the memory back.
  void reset() noexcept;

 private:
  struct List {
    std::vector<std::uint8_t> codes;
    std::vector<idx_t> ids;
  };
  const List& at(int list) const { return lists_[static_cast<std::size_t>(list)]; }

  CodeLayout layout_;
  std::vector<List> lists_;
  idx_t size_ = 0;
};

}  // namespace knnx::cpu
