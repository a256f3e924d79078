// The IDSelector kinds that hold data: a sorted id set and a bitmap.
#include "knnx/id_selector.hpp"

#include <algorithm>

#include "core/check.hpp"

namespace knnx {

IDSelectorBatch::IDSelectorBatch(std::size_t n, const idx_t* ids)
    : IDSelectorBatch(n > 0 ? (detail::check_not_null(ids, "ids"), std::vector<idx_t>(ids, ids + n))
                            : std::vector<idx_t>{}) {}

IDSelectorBatch::IDSelectorBatch(std::vector<idx_t> ids) : sorted_(std::move(ids)) {
  std::sort(sorted_.begin(), sorted_.end());
  sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
  if (sorted_.empty()) return;
  // A set whose ids span at most 256 values per member, or 2^23 values (1 MiB) in all, is also
  // kept as a bitmap over [front, back]: a member test is one bit instead of a binary search,
  // which is what a GPU filter's pass over every stored id costs (10-35 ns an id before).
  const auto span = static_cast<std::uint64_t>(sorted_.back()) -
                    static_cast<std::uint64_t>(sorted_.front()) + 1;  // 0: all 2^64 values
  if (span != 0 && span <= std::max<std::uint64_t>(std::uint64_t{256} * sorted_.size(),
                                                   std::uint64_t{1} << 23)) {
    dense_.assign(static_cast<std::size_t>((span + 63) / 64), 0);
    for (const idx_t id : sorted_) {
      const auto bit = static_cast<std::uint64_t>(id - sorted_.front());
      dense_[bit >> 6] |= std::uint64_t{1} << (bit & 63);
    }
  }
}

bool IDSelectorBatch::is_member(idx_t id) const {
  if (sorted_.empty() || id < sorted_.front() || id > sorted_.back()) return false;
  if (!dense_.empty()) {
    const auto bit = static_cast<std::uint64_t>(id - sorted_.front());
    return ((dense_[bit >> 6] >> (bit & 63)) & 1) != 0;
  }
  return std::binary_search(sorted_.begin(), sorted_.end(), id);
}

IDSelectorBitmap::IDSelectorBitmap(std::size_t n, const std::uint8_t* bitmap) {
  if (n > 0) detail::check_not_null(bitmap, "bitmap");
  bitmap_.assign(bitmap, bitmap + n);
}

bool IDSelectorBitmap::is_member(idx_t id) const {
  if (id < 0) return false;
  const auto byte = static_cast<std::size_t>(id >> 3);
  return byte < bitmap_.size() && ((bitmap_[byte] >> (id & 7)) & 1) != 0;
}

IDSelectorNot::IDSelectorNot(const IDSelector* sel) : sel_(sel) {
  detail::check_not_null(sel, "sel");
}

IDSelectorAnd::IDSelectorAnd(const IDSelector* lhs, const IDSelector* rhs) : lhs_(lhs), rhs_(rhs) {
  detail::check_not_null(lhs, "lhs");
  detail::check_not_null(rhs, "rhs");
}

IDSelectorOr::IDSelectorOr(const IDSelector* lhs, const IDSelector* rhs) : lhs_(lhs), rhs_(rhs) {
  detail::check_not_null(lhs, "lhs");
  detail::check_not_null(rhs, "rhs");
}

}  // namespace knnx
