#include "cpu/ivf_code_lists.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

// Geometric growth, so that many small adds stay linear overall.
template <typename T>
void reserve_for(std::vector<T>& v, std::size_t needed) {
  if (needed <= v.capacity()) return;
  v.reserve(std::max(needed, 2 * v.capacity()));
}

}  // namespace

IvfCodeLists::IvfCodeLists(int n_lists, std::size_t code_size, bool fast_scan_blocks)
    : layout_{code_size, fast_scan_blocks}, lists_(static_cast<std::size_t>(n_lists)) {}

std::vector<std::uint8_t> IvfCodeLists::row_codes(int list) const {
  const idx_t n = list_size(list);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n) * layout_.code_size);
  layout_.read(codes(list), 0, n, out.data());
  return out;
}

std::vector<idx_t> IvfCodeLists::list_sizes() const {
  std::vector<idx_t> sizes(lists_.size());
  for (std::size_t l = 0; l < lists_.size(); ++l)
    sizes[l] = static_cast<idx_t>(lists_[l].ids.size());
  return sizes;
}

void IvfCodeLists::add(idx_t n, const std::uint8_t* codes, const idx_t* ids, const idx_t* lists) {
  try {
    std::vector<idx_t> counts(lists_.size(), 0);
    for (idx_t i = 0; i < n; ++i) ++counts[static_cast<std::size_t>(lists[i])];
    for (std::size_t l = 0; l < lists_.size(); ++l) {
      const idx_t after = static_cast<idx_t>(lists_[l].ids.size()) + counts[l];
      if (after > kMaxListSize) {
        throw NotSupported(fmt::format("inverted list {} would hold {} codes; at most {} fit", l,
                                       after, kMaxListSize));
      }
    }
    // Reserve everything first: after that no append can throw, so a failure changes nothing.
    for (std::size_t l = 0; l < lists_.size(); ++l) {
      if (counts[l] == 0) continue;
      List& list = lists_[l];
      const std::size_t c = static_cast<std::size_t>(counts[l]);
      reserve_for(list.codes, layout_.bytes_for(static_cast<idx_t>(list.ids.size()) + counts[l]));
      reserve_for(list.ids, list.ids.size() + c);
    }
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot grow the inverted lists by {} codes of {} bytes", n,
                                  layout_.code_size));
  }
  for (idx_t i = 0; i < n; ++i) {
    List& list = lists_[static_cast<std::size_t>(lists[i])];
    const idx_t row = static_cast<idx_t>(list.ids.size());
    list.codes.resize(layout_.bytes_for(row + 1));  // within the capacity reserved
    layout_.write(list.codes.data(), row, 1,
                  codes + static_cast<std::size_t>(i) * layout_.code_size);
    list.ids.push_back(ids[i]);
  }
  size_ += n;
}

void IvfCodeLists::append(int list, idx_t n, const std::uint8_t* codes, const idx_t* ids) {
  std::vector<idx_t> lists;
  try {
    lists.assign(static_cast<std::size_t>(n), list);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("cannot allocate the list numbers of {} codes", n));
  }
  add(n, codes, ids, lists.data());
}

idx_t IvfCodeLists::remove_ids(const std::vector<idx_t>& sorted_ids) noexcept {
  if (sorted_ids.empty()) return 0;
  idx_t removed = 0;
  for (List& list : lists_) {
    std::size_t out = 0;
    for (std::size_t r = 0; r < list.ids.size(); ++r) {
      if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), list.ids[r])) continue;
      if (out != r) {
        layout_.move(list.codes.data(), static_cast<idx_t>(r), static_cast<idx_t>(out));
        list.ids[out] = list.ids[r];
      }
      ++out;
    }
    removed += static_cast<idx_t>(list.ids.size() - out);
    list.codes.resize(layout_.bytes_for(static_cast<idx_t>(out)));  // shrinking never allocates
    list.ids.resize(out);
  }
  size_ -= removed;
  return removed;
}

std::optional<IvfCodeLists::Position> IvfCodeLists::find(idx_t id) const {
  for (std::size_t l = 0; l < lists_.size(); ++l) {
    const std::vector<idx_t>& ids = lists_[l].ids;
    const auto it = std::find(ids.begin(), ids.end(), id);
    if (it != ids.end()) return Position{static_cast<int>(l), static_cast<idx_t>(it - ids.begin())};
  }
  return std::nullopt;
}

void IvfCodeLists::reset() noexcept {
  for (List& list : lists_) list = List{};
  size_ = 0;
}

}  // namespace knnx::cpu
