// cuda/select/block_select_limits.hpp — host-visible limits of the block selection.
#pragma once

namespace knnx::cuda {

// Largest number of results one block selection keeps (public k <= 2048; the rest is
// over-fetch for re-ranking). Must match block_select.cuh.
inline constexpr int kMaxSelectK = 4096;

}  // namespace knnx::cuda
