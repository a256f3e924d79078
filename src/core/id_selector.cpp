// The IDSelector kinds that hold data: a sorted id set and a bitmap.
#include "knnx/id_selector.hpp"

#include <algorithm>

#include "core/check.hpp"

namespace knnx {

IDSelectorBatch::IDSelectorBatch(std::size_t n, const idx_t* ids) {
  if (n > 0) detail::check_not_null(ids, "ids");
  sorted_.assign(ids, ids + n);
  std::sort(sorted_.begin(), sorted_.end());
  sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
}

IDSelectorBatch::IDSelectorBatch(std::vector<idx_t> ids) : sorted_(std::move(ids)) {
  std::sort(sorted_.begin(), sorted_.end());
  sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
}

bool IDSelectorBatch::is_member(idx_t id) const {
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
