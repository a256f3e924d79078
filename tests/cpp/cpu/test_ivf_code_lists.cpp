// IvfCodeLists (cpu/ivf_code_lists.hpp): entries land in their lists in insertion order, removal
// keeps the order of the rest, find locates ids, and a refused add changes nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/ivf_code_lists.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

constexpr std::size_t kCodeSize = 3;

// The code of entry i: three bytes derived from its id, so that every entry is recognisable.
std::vector<std::uint8_t> code_of(idx_t id) {
  return {static_cast<std::uint8_t>(id), static_cast<std::uint8_t>(id * 7),
          static_cast<std::uint8_t>(id * 13)};
}

std::vector<std::uint8_t> list_codes(const IvfCodeLists& lists, int l) {
  const std::uint8_t* c = lists.codes(l);
  return {c, c + lists.list_size(l) * kCodeSize};
}

std::vector<idx_t> list_ids(const IvfCodeLists& lists, int l) {
  const idx_t* ids = lists.ids(l);
  return {ids, ids + lists.list_size(l)};
}

// Ids 10..19 into lists i % 3.
IvfCodeLists filled() {
  IvfCodeLists lists(3, kCodeSize);
  std::vector<std::uint8_t> codes;
  std::vector<idx_t> ids, where;
  for (idx_t i = 0; i < 10; ++i) {
    const std::vector<std::uint8_t> c = code_of(10 + i);
    codes.insert(codes.end(), c.begin(), c.end());
    ids.push_back(10 + i);
    where.push_back(i % 3);
  }
  lists.add(10, codes.data(), ids.data(), where.data());
  return lists;
}

std::vector<std::uint8_t> codes_of(const std::vector<idx_t>& ids) {
  std::vector<std::uint8_t> out;
  for (idx_t id : ids) {
    const std::vector<std::uint8_t> c = code_of(id);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

TEST(IvfCodeLists, AddKeepsInsertionOrderPerList) {
  const IvfCodeLists lists = filled();
  EXPECT_EQ(lists.size(), 10);
  EXPECT_EQ(lists.n_lists(), 3);
  EXPECT_EQ(lists.code_size(), kCodeSize);
  EXPECT_EQ(lists.list_sizes(), (std::vector<idx_t>{4, 3, 3}));
  EXPECT_EQ(list_ids(lists, 0), (std::vector<idx_t>{10, 13, 16, 19}));
  EXPECT_EQ(list_ids(lists, 2), (std::vector<idx_t>{12, 15, 18}));
  EXPECT_EQ(list_codes(lists, 0), codes_of({10, 13, 16, 19}));
  EXPECT_EQ(list_codes(lists, 1), codes_of({11, 14, 17}));
}

TEST(IvfCodeLists, AppendToOneList) {
  IvfCodeLists lists = filled();
  const std::vector<idx_t> ids{40, 41};
  const std::vector<std::uint8_t> codes = codes_of(ids);
  lists.append(1, 2, codes.data(), ids.data());
  EXPECT_EQ(list_ids(lists, 1), (std::vector<idx_t>{11, 14, 17, 40, 41}));
  EXPECT_EQ(list_codes(lists, 1), codes_of({11, 14, 17, 40, 41}));
  EXPECT_EQ(lists.size(), 12);
}

TEST(IvfCodeLists, RemoveKeepsOrderOfTheRest) {
  IvfCodeLists lists = filled();
  EXPECT_EQ(lists.remove_ids({10, 14, 15, 99}), 3);
  EXPECT_EQ(lists.size(), 7);
  EXPECT_EQ(list_ids(lists, 0), (std::vector<idx_t>{13, 16, 19}));
  EXPECT_EQ(list_codes(lists, 0), codes_of({13, 16, 19}));
  EXPECT_EQ(list_ids(lists, 1), (std::vector<idx_t>{11, 17}));
  EXPECT_EQ(list_codes(lists, 2), codes_of({12, 18}));
  EXPECT_EQ(lists.remove_ids({}), 0);
}

TEST(IvfCodeLists, FindLocatesIds) {
  const IvfCodeLists lists = filled();
  const auto p = lists.find(17);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->list, 1);
  EXPECT_EQ(p->offset, 2);
  EXPECT_FALSE(lists.find(5).has_value());
}

TEST(IvfCodeLists, ResetEmptiesEveryList) {
  IvfCodeLists lists = filled();
  lists.reset();
  EXPECT_EQ(lists.size(), 0);
  EXPECT_EQ(lists.list_sizes(), (std::vector<idx_t>{0, 0, 0}));
  EXPECT_FALSE(lists.find(10).has_value());
}

TEST(IvfCodeLists, EmptyAddChangesNothing) {
  IvfCodeLists lists = filled();
  lists.add(0, nullptr, nullptr, nullptr);
  EXPECT_EQ(lists.size(), 10);
}

}  // namespace
}  // namespace knnx::cpu
