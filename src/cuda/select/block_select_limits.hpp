// cuda/select/block_select_limits.hpp — host-visible limits of the block selection.
#pragma once

namespace knnx::cuda {

// Largest number of results one block selection keeps (public k <= 2048; the rest is
// over-fetch for re-ranking). Must match block_select.cuh.
inline constexpr int kMaxSelectK = 4096;

// The largest k a search's block selection answers; above it GPU flat and IVF-Flat searches take
// the radix selection (radix_select.hpp), and the PQ scans refuse.
inline constexpr int kBlockSelectMaxK = 2048;

}  // namespace knnx::cuda
