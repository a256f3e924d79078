// The settings a transform or linear-algebra call hands its backend: the configuration's values
// at the moment the call starts.
#include <gtest/gtest.h>

#include "core/dense_knobs.hpp"
#include "knnx/config.hpp"

namespace knnx {
namespace {

TEST(DenseKnobs, CarryTheConfigurationsValues) {
  Config c;
  c.gpu_workspace_mb = 48;
  c.gemm_tile_av = "64x64";
  c.gemm_tile_atb = "128x32";
  c.qr_dot = "warp";
  c.qr_warp_min_rows = 7;
  c.svd_band = 4096;
  c.svd_streams = 3;
  c.sync_check = true;
  const detail::DenseKnobs k = detail::dense_knobs(c);
  EXPECT_EQ(k.workspace_bytes, std::int64_t{48} << 20);
  EXPECT_EQ(k.gemm_tile_av, "64x64");
  EXPECT_EQ(k.gemm_tile_atb, "128x32");
  EXPECT_EQ(k.qr_dot, "warp");
  EXPECT_EQ(k.qr_warp_min_rows, 7);
  EXPECT_EQ(k.svd_band, 4096);
  EXPECT_EQ(k.svd_streams, 3);
  EXPECT_TRUE(k.sync_check);
}

TEST(DenseKnobs, DefaultsAreTheProcessConfigurationInForce) {
  const Config saved = config();
  Config c = saved;
  c.svd_streams = saved.svd_streams == 2 ? 3 : 2;
  c.gpu_workspace_mb = saved.gpu_workspace_mb == 64 ? 128 : 64;
  set_config(c);
  const detail::DenseKnobs k = detail::default_dense_knobs();
  set_config(saved);
  EXPECT_EQ(k.svd_streams, c.svd_streams);
  EXPECT_EQ(k.workspace_bytes, std::int64_t{c.gpu_workspace_mb} << 20);
  // Taken when asked: a later change of the configuration does not reach knobs already taken.
  EXPECT_NE(detail::default_dense_knobs().svd_streams, k.svd_streams);
}

}  // namespace
}  // namespace knnx
