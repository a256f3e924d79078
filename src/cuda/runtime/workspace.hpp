// cuda/runtime/workspace.hpp — the default workspace bound of a GPU search or dense step,
// measured on its device as the call starts (the rule: core/workspace.hpp).
#pragma once

#include <cstdint>

#include "core/search_knobs.hpp"

namespace knnx::cuda {

// default_workspace_bytes of device `ordinal`'s free memory: cudaMemGetInfo's free bytes plus
// those knnx's memory pool of the device holds without using them (freed scratch it keeps for
// reuse, which a search may take again), measured at most once every 50 ms.
std::int64_t device_default_workspace_bytes(int ordinal);

// `knobs` with the workspace bound in force on device `ordinal`: unchanged when explicit (or
// already resolved), else the default measured now.
detail::SearchKnobs with_workspace(const detail::SearchKnobs& knobs, int ordinal);

// A dense step's bound (DenseKnobs::workspace_bytes): bytes when > 0, else the default now.
std::int64_t workspace_or_default(std::int64_t bytes, int ordinal);

}  // namespace knnx::cuda
