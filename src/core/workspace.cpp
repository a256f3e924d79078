#include "core/workspace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "knnx/error.hpp"

namespace knnx::detail {

std::int64_t default_workspace_bytes(std::int64_t free_bytes) {
  return std::clamp(free_bytes / kDefaultWorkspaceDivisor, kMinWorkspaceBytes,
                    kDefaultWorkspaceCapBytes);
}

idx_t queries_per_batch(idx_t nq, std::int64_t fixed_bytes, std::int64_t per_query_bytes,
                        const WorkspaceBound& bound, const char* what) {
  const std::int64_t per_query = std::max<std::int64_t>(per_query_bytes, 1);
  const std::int64_t one = fixed_bytes + per_query;
  if (bound.is_explicit && one > bound.bytes) {
    throw InvalidArgument(fmt::format(
        "the GPU workspace bound ({} bytes, SearchParams.workspace_bytes or "
        "KNNX_GPU_WORKSPACE_MB) is too small for one query of {}: it needs {} bytes ({} per "
        "query + {} per batch); raise the bound to at least {} MiB",
        bound.bytes, what, one, per_query, fixed_bytes, (one + (1 << 20) - 1) >> 20));
  }
  const std::int64_t fit = (bound.bytes - fixed_bytes) / per_query;
  return std::clamp<idx_t>(fit, 1, std::max<idx_t>(nq, 1));
}

idx_t batch_count(idx_t nq, idx_t batch) {
  return nq <= 0 ? 0 : (nq + std::max<idx_t>(batch, 1) - 1) / std::max<idx_t>(batch, 1);
}

std::int64_t flat_tile_bytes(const FlatTileShape& shape, std::int64_t tile_rows, idx_t queries) {
  const std::int64_t dp = shape.dp;
  const std::int64_t per_query =
      2 * tile_rows * 4 + std::int64_t{shape.kept} * 8 + dp * 4 * (shape.split ? 4 : 1) + 4;
  const std::int64_t fixed = shape.split ? tile_rows * 3 * dp * 4 : 0;
  return fixed + per_query * queries;
}

FlatTilePlan plan_flat_tiles(idx_t nq, const FlatTileShape& shape, const WorkspaceBound& bound) {
  const idx_t want =
      std::max<idx_t>(1, std::min<idx_t>({nq, shape.full_batch, shape.tile_queries}));
  std::int64_t rows = std::min<std::int64_t>(shape.tile_rows, std::max<idx_t>(shape.n_rows, 1));
  // Halve the tiles while the bound holds fewer than `want` queries of them.
  while (rows > kMinFlatTileRows && flat_tile_bytes(shape, rows, want) > bound.bytes) {
    rows = std::max<std::int64_t>(kMinFlatTileRows, rows / 2);
  }
  rows = (rows + 3) / 4 * 4;  // tiles are read as float4 columns
  const std::int64_t fixed = flat_tile_bytes(shape, rows, 0);
  const std::int64_t per_query = flat_tile_bytes(shape, rows, 1) - fixed;
  const std::string what =
      fmt::format("a GPU flat search over {} rows of {} floats keeping {} candidates a query",
                  shape.n_rows, shape.dp, shape.kept);
  const idx_t most = std::min<idx_t>(queries_per_batch(nq, fixed, per_query, bound, what.c_str()),
                                     shape.tile_queries);
  // The batches that takes, evened out: no small last batch (which would run another precision).
  const idx_t batches = batch_count(nq, most);
  return {batches > 0 ? (nq + batches - 1) / batches : most, rows};
}

}  // namespace knnx::detail
