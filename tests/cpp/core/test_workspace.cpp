// The GPU workspace rules (core/workspace.hpp), checked without a device: the default bound's
// fraction of free memory, batch sizes under a bound, the refusal of an explicit bound too small
// for one query, and the flat search's tile plan.
#include <gtest/gtest.h>

#include <string>

#include "core/search_knobs.hpp"
#include "core/workspace.hpp"
#include "knnx/config.hpp"
#include "knnx/error.hpp"
#include "knnx/search_params.hpp"

namespace knnx {
namespace {

using detail::FlatTilePlan;
using detail::FlatTileShape;
using detail::WorkspaceBound;

constexpr std::int64_t MiB = std::int64_t{1} << 20;
constexpr std::int64_t GiB = std::int64_t{1} << 30;

TEST(WorkspaceDefault, IsAQuarterOfFreeMemoryWithinItsBounds) {
  EXPECT_EQ(detail::default_workspace_bytes(8 * GiB), 2 * GiB);
  EXPECT_EQ(detail::default_workspace_bytes(6 * GiB + 4), 6 * GiB / 4 + 1);
  // Little free memory: the smallest bound; much: the cap.
  EXPECT_EQ(detail::default_workspace_bytes(0), detail::kMinWorkspaceBytes);
  EXPECT_EQ(detail::default_workspace_bytes(40 * MiB), 16 * MiB);
  EXPECT_EQ(detail::default_workspace_bytes(40 * GiB), 10 * GiB);
  EXPECT_EQ(detail::default_workspace_bytes(80 * GiB), detail::kDefaultWorkspaceCapBytes);
  EXPECT_EQ(detail::kDefaultWorkspaceCapBytes, 16 * GiB);
}

TEST(WorkspaceDefault, AppliesOnlyWhenNeitherParamsNorTheKnobGiveABound) {
  Config c;
  ASSERT_EQ(c.gpu_workspace_mb, 0);  // the default: measured by the backend
  detail::SearchKnobs k = detail::resolve_search_knobs(nullptr, {}, c);
  EXPECT_EQ(k.workspace_bytes, 0);
  EXPECT_FALSE(k.workspace_explicit);
  c.gpu_workspace_mb = 64;
  k = detail::resolve_search_knobs(nullptr, {}, c);
  EXPECT_EQ(k.workspace_bytes, 64 * MiB);
  EXPECT_TRUE(k.workspace_explicit);
  SearchParams p;
  p.workspace_bytes = 20 * MiB;
  k = detail::resolve_search_knobs(&p, {}, c);
  EXPECT_EQ(k.workspace_bytes, 20 * MiB);
  EXPECT_TRUE(k.workspace_explicit);
  c.gpu_workspace_mb = 0;
  k = detail::resolve_search_knobs(&p, {}, c);
  EXPECT_EQ(k.workspace_bytes, 20 * MiB);
  EXPECT_TRUE(k.workspace_explicit);
}

TEST(WorkspaceDefault, KnobTakesZeroOrSixteenMiBAndUp) {
  const Config saved = config();
  Config c;
  for (int mb : {0, 16, 1536}) {
    c.gpu_workspace_mb = mb;
    EXPECT_NO_THROW(set_config(c)) << mb;
  }
  for (int mb : {1, 15, -1}) {
    c.gpu_workspace_mb = mb;
    try {
      set_config(c);
      ADD_FAILURE() << mb << " accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("KNNX_GPU_WORKSPACE_MB"), std::string::npos);
    }
  }
  set_config(saved);
}

TEST(WorkspaceBatches, TakeAsManyQueriesAsFit) {
  const WorkspaceBound bound{100 * MiB, true};
  // 1 MiB a query after 10 MiB fixed: 90 queries a batch.
  EXPECT_EQ(detail::queries_per_batch(1'000'000, 10 * MiB, MiB, bound, "t"), 90);
  EXPECT_EQ(detail::batch_count(1'000'000, 90), 11112);
  // Fewer queries than fit: one batch of all.
  EXPECT_EQ(detail::queries_per_batch(7, 10 * MiB, MiB, bound, "t"), 7);
  EXPECT_EQ(detail::batch_count(7, 7), 1);
  EXPECT_EQ(detail::batch_count(0, 7), 0);
  // Exactly one query fits.
  EXPECT_EQ(detail::queries_per_batch(5, 99 * MiB, MiB, bound, "t"), 1);
}

TEST(WorkspaceBatches, ExplicitBoundTooSmallForOneQueryIsRefusedWithWhatItNeeds) {
  const WorkspaceBound bound{16 * MiB, true};
  try {
    detail::queries_per_batch(10, 8 * MiB, 40 * MiB, bound, "a test search");
    FAIL() << "not refused";
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("a test search"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(48 * MiB)), std::string::npos) << msg;  // bytes needed
    EXPECT_NE(msg.find("48 MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("workspace_bytes"), std::string::npos) << msg;
  }
  // The default bound lets one query run past it.
  EXPECT_EQ(detail::queries_per_batch(10, 8 * MiB, 40 * MiB, {16 * MiB, false}, "t"), 1);
}

// 1M x 128 base, 3xTF32, k = 10, 132 SMs.
FlatTileShape flat_shape() { return {1'000'000, 128, 10, true, 65536, 4096, 264}; }

TEST(WorkspacePlan, FlatKeepsFullTilesAndBatchesWhenTheyFit) {
  // The old default (1536 MiB) holds 2,868 queries of 65,536-row tiles (d = 128, 3xTF32):
  // 10,000 queries take 4 batches, evened out to 2,500.
  const idx_t fit = (1536 * MiB - 65536LL * 3 * 128 * 4) / (2 * 65536 * 4 + 80 + 2048 + 4);
  ASSERT_EQ(fit, 2868);
  const FlatTilePlan old_default =
      detail::plan_flat_tiles(10'000, flat_shape(), {1536 * MiB, false});
  EXPECT_EQ(old_default.tile_rows, 65536);
  EXPECT_EQ(old_default.queries, 2500);
  // The default on a large device (the 16 GiB cap): batches of up to the 4,096 queries of a
  // tile, 3 for 10,000 queries.
  const FlatTilePlan capped =
      detail::plan_flat_tiles(10'000, flat_shape(), {detail::kDefaultWorkspaceCapBytes, false});
  EXPECT_EQ(capped.tile_rows, 65536);
  EXPECT_EQ(capped.queries, 3334);
  EXPECT_EQ(
      detail::plan_flat_tiles(40'960, flat_shape(), {detail::kDefaultWorkspaceCapBytes, false})
          .queries,
      4096);
  EXPECT_GE(capped.queries, old_default.queries);
  // A base smaller than a tile: one tile of all rows (rounded to whole float4 columns).
  FlatTileShape small = flat_shape();
  small.n_rows = 1001;
  EXPECT_EQ(detail::plan_flat_tiles(10, small, {1536 * MiB, false}).tile_rows, 1004);
}

TEST(WorkspacePlan, FlatShrinksTilesBeforeBatchesUnderASmallBound) {
  const WorkspaceBound small{16 * MiB, true};
  const FlatTilePlan plan = detail::plan_flat_tiles(200'000, flat_shape(), small);
  EXPECT_LT(plan.tile_rows, 65536);
  EXPECT_GE(plan.tile_rows, detail::kMinFlatTileRows);
  // Still batches of at least the queries that keep the tiled path (2 a multiprocessor)...
  EXPECT_GE(plan.queries, 264);
  // ...within the bound, and no more batches than the most that fit would take.
  EXPECT_LE(detail::flat_tile_bytes(flat_shape(), plan.tile_rows, plan.queries), small.bytes);
  idx_t most = plan.queries;
  while (detail::flat_tile_bytes(flat_shape(), plan.tile_rows, most + 1) <= small.bytes) ++most;
  EXPECT_EQ(detail::batch_count(200'000, plan.queries), detail::batch_count(200'000, most));
}

TEST(WorkspacePlan, FlatRefusesAnExplicitBoundBelowOneQueryAtTheSmallestTile) {
  FlatTileShape huge = flat_shape();
  huge.dp = 1 << 20;  // a query alone is 16 MiB when split
  EXPECT_THROW(detail::plan_flat_tiles(10, huge, {16 * MiB, true}), InvalidArgument);
  const FlatTilePlan one = detail::plan_flat_tiles(10, huge, {16 * MiB, false});
  EXPECT_EQ(one.queries, 1);
  EXPECT_EQ(one.tile_rows, detail::kMinFlatTileRows);
}

}  // namespace
}  // namespace knnx
