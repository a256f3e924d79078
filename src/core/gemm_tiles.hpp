// core/gemm_tiles.hpp — the block-tile shapes the tiled GPU GEMM kernels are compiled for.
//
// Plain C++17 with no dependencies: the config knobs validate KNNX_GEMM_TILE_* against this list
// and the CUDA translation units instantiate exactly these shapes (a static_assert there keeps
// the two in step).
#pragma once

namespace knnx::detail {

// A BM x BN output tile computed by one thread block.
struct GemmTileShape {
  int bm;
  int bn;
};

inline constexpr GemmTileShape kGemmTileShapes[] = {
    {32, 32}, {64, 64}, {128, 32}, {128, 64}, {128, 128},
};
inline constexpr int kGemmTileCount = sizeof(kGemmTileShapes) / sizeof(kGemmTileShapes[0]);

// Index of the shape in kGemmTileShapes, or -1.
constexpr int gemm_tile_index(int bm, int bn) {
  for (int i = 0; i < kGemmTileCount; ++i) {
    if (kGemmTileShapes[i].bm == bm && kGemmTileShapes[i].bn == bn) return i;
  }
  return -1;
}

}  // namespace knnx::detail
