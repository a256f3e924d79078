// The GPU inverted lists' storage (cuda/ivf/list_arena.hpp): reserved room lets a loader fill
// the lists one by one without moving the arena, and reserving keeps what is stored.
#include "gpu_test_util.hpp"

#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda/ivf/list_arena.hpp"
#include "cuda/runtime/memory.hpp"
#include "cuda/runtime/stream_pool.hpp"

namespace knnx::cuda {
namespace {

constexpr int kWords = 3;

// Rows whose words encode (id, word) so every copy can be checked.
std::vector<std::uint32_t> rows_for(const std::vector<idx_t>& ids) {
  std::vector<std::uint32_t> rows;
  for (idx_t id : ids) {
    for (int w = 0; w < kWords; ++w) rows.push_back(static_cast<std::uint32_t>(id * 10 + w));
  }
  return rows;
}

// Appends rows with these ids to one list through a device staging buffer.
void add_to(DeviceListArena& arena, StreamContext& ctx, int list, const std::vector<idx_t>& ids) {
  const std::vector<std::uint32_t> rows = rows_for(ids);
  DeviceBuffer<std::uint32_t> staged(rows.size(), ctx.stream());
  ASSERT_EQ(cudaMemcpyAsync(staged.data(), rows.data(), rows.size() * 4, cudaMemcpyHostToDevice,
                            ctx.stream()),
            cudaSuccess);
  ctx.synchronize();
  const std::vector<idx_t> lists(ids.size(), list);
  arena.add(static_cast<idx_t>(ids.size()), staged.data(), ids.data(), lists.data());
}

void expect_list(const DeviceListArena& arena, int list, const std::vector<idx_t>& ids) {
  ASSERT_EQ(arena.sizes()[list], static_cast<idx_t>(ids.size())) << "list " << list;
  EXPECT_EQ(arena.list_ids(list), ids) << "list " << list;
  std::vector<std::uint32_t> got(ids.size() * kWords, 0xdeadbeef);
  arena.copy_list(list, kWords * 4, got.data());
  EXPECT_EQ(got, rows_for(ids)) << "list " << list;
}

TEST(ListArenaCuda, ReservedListsFillOneByOneWithoutMovingTheArena) {
  KNNX_REQUIRE_GPU();
  init_device_pool(0);
  StreamContext ctx(0);
  DeviceListArena arena(5, kWords, 0, ctx);
  add_to(arena, ctx, 2, {7, 8});  // stored before the reservation: it must survive the move
  arena.reserve({3, 0, 6, 2, 4});
  const std::uint32_t* rows = arena.rows();
  add_to(arena, ctx, 0, {1, 2, 3});
  add_to(arena, ctx, 2, {9, 10, 11, 12});
  add_to(arena, ctx, 3, {20, 21});
  add_to(arena, ctx, 4, {30});
  EXPECT_EQ(arena.rows(), rows) << "an add within the reserved room re-laid out the arena";
  arena.reserve({1, 0, 1, 1, 1});  // no list lacks this room: nothing moves
  EXPECT_EQ(arena.rows(), rows);
  expect_list(arena, 0, {1, 2, 3});
  expect_list(arena, 1, {});
  expect_list(arena, 2, {7, 8, 9, 10, 11, 12});
  expect_list(arena, 3, {20, 21});
  expect_list(arena, 4, {30});
  // Past the reservation an add still grows the arena and keeps every row.
  add_to(arena, ctx, 1, {40, 41, 42});
  expect_list(arena, 1, {40, 41, 42});
  expect_list(arena, 2, {7, 8, 9, 10, 11, 12});
  EXPECT_EQ(arena.size(), 15);
  EXPECT_THROW(arena.reserve({1, 2, 3}), InvalidArgument);  // one capacity a list
  expect_list(arena, 0, {1, 2, 3});
}

}  // namespace
}  // namespace knnx::cuda
#endif  // KNNX_WITH_CUDA
