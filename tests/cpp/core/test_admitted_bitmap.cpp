// core/admitted_bitmap.hpp: the bitmap of admitted storage positions that GPU filters upload.
// Every bit equals is_member of its position's id, for ranges that start and end inside words
// (IVF lists sharing edge words, marked concurrently) and for ranges long enough to be
// evaluated on several threads; a throwing selector's error reaches the caller.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/admitted_bitmap.hpp"
#include "knnx/error.hpp"
#include "knnx/id_selector.hpp"

namespace knnx::detail {
namespace {

bool bit(const std::vector<std::uint32_t>& words, idx_t p) {
  return (words[static_cast<std::size_t>(p >> 5)] >> (p & 31)) & 1u;
}

TEST(AdmittedBitmap, BitsAreMembershipOfEachPosition) {
  std::mt19937_64 rng(3);
  std::vector<idx_t> ids(200000);
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::shuffle(ids.begin(), ids.end(), rng);
  for (idx_t& id : ids) id = id * 7 + 11;
  std::vector<idx_t> some(ids.begin(), ids.begin() + 20000);
  const IDSelectorBatch batch(some);
  const IDSelectorRange range(100, 700000);
  const IDSelectorNot outside(&range);
  for (const IDSelector* sel :
       {static_cast<const IDSelector*>(&batch), static_cast<const IDSelector*>(&outside)}) {
    // One long range (several threads), and lists of odd lengths laid end to end with gaps, as
    // an IVF arena has them, marked concurrently.
    const idx_t n = static_cast<idx_t>(ids.size());
    std::vector<std::uint32_t> flat(admitted_words(n), 0);
    mark_admitted(*sel, n, ids.data(), 0, flat.data());
    for (idx_t p = 0; p < n; ++p) ASSERT_EQ(bit(flat, p), sel->is_member(ids[p])) << p;

    std::vector<idx_t> firsts, lengths;
    idx_t at = 3;
    for (idx_t used = 0; used < n;) {
      const idx_t len = std::min<idx_t>(n - used, 1 + static_cast<idx_t>(rng() % 97));
      firsts.push_back(at);
      lengths.push_back(len);
      at += len + static_cast<idx_t>(rng() % 5);  // capacity past the list's end
      used += len;
    }
    std::vector<std::uint32_t> arena(admitted_words(at), 0);
    const int lists = static_cast<int>(firsts.size());
#pragma omp parallel for schedule(dynamic, 4)
    for (int l = 0; l < lists; ++l) {
      const idx_t offset = std::accumulate(lengths.begin(), lengths.begin() + l, idx_t{0});
      mark_admitted(*sel, lengths[l], ids.data() + offset, firsts[l], arena.data());
    }
    std::vector<char> expected(static_cast<std::size_t>(at), 0);
    idx_t used = 0;
    for (int l = 0; l < lists; ++l) {
      for (idx_t j = 0; j < lengths[l]; ++j) {
        expected[static_cast<std::size_t>(firsts[l] + j)] = sel->is_member(ids[used + j]);
      }
      used += lengths[l];
    }
    for (idx_t p = 0; p < at; ++p) ASSERT_EQ(bit(arena, p), expected[p] != 0) << p;
  }
}

class ThrowingSelector : public IDSelector {
 public:
  bool is_member(idx_t id) const override {
    if (id == 99999) throw std::runtime_error("selector failed");
    return true;
  }
};

TEST(AdmittedBitmap, SelectorErrorsReachTheCaller) {
  std::vector<idx_t> ids(100000);
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::vector<std::uint32_t> words(admitted_words(100000), 0);
  EXPECT_THROW(mark_admitted(ThrowingSelector(), 100000, ids.data(), 0, words.data()),
               std::runtime_error);
  // Nothing to mark: no word is touched.
  mark_admitted(ThrowingSelector(), 0, nullptr, 5, words.data());
}

}  // namespace
}  // namespace knnx::detail
