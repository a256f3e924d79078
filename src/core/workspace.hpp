// core/workspace.hpp — the scratch bound of one GPU search, and how a search sizes its batches of
// queries under it. Pure arithmetic: the CUDA backends measure (free memory, their buffers' bytes)
// and ask; tests check the rules without a device.
#pragma once

#include <cstdint>

#include "knnx/types.hpp"

namespace knnx::detail {

// The range of an explicit bound (SearchParams::workspace_bytes, KNNX_GPU_WORKSPACE_MB).
constexpr std::int64_t kMinWorkspaceBytes = std::int64_t{16} << 20;  // 16 MiB
constexpr std::int64_t kMaxWorkspaceBytes = std::int64_t{1} << 40;   // 1 TiB

// The default bound, when neither SearchParams::workspace_bytes nor KNNX_GPU_WORKSPACE_MB gives
// one: a quarter of the device memory free when the search starts (free per cudaMemGetInfo, plus
// what knnx's memory pool holds without using it), within [16 MiB, 16 GiB]. The cap is set by
// the large-k flat search, whose chunk of queries holds a whole row of scores each (4 MB a query
// at 1M rows): on an H100 at 1M x 128, nq 10k, k 4096 takes 167.5 ms under 1.5 GiB and 97.9 ms
// under 16 GiB (bench/NOTES.md); the other paths reach their largest batches well below it.
constexpr std::int64_t kDefaultWorkspaceDivisor = 4;
constexpr std::int64_t kDefaultWorkspaceCapBytes = std::int64_t{16} << 30;

// The default bound for a device with free_bytes free (the rule above).
std::int64_t default_workspace_bytes(std::int64_t free_bytes);

// The bound a search runs under: the explicit one (SearchParams, then KNNX_GPU_WORKSPACE_MB),
// or the default one, which fits whatever one query needs (a batch of one query runs even past
// it; the allocator says OutOfMemory if the device cannot hold it).
struct WorkspaceBound {
  std::int64_t bytes = 0;
  bool is_explicit = false;
};

// Queries per batch: the most of nq whose scratch, fixed_bytes once plus per_query_bytes each,
// fits the bound (at least one, at most nq, or 1 when nq is 0). Throws InvalidArgument when the
// bound is explicit and not even one query fits, naming `what` (the search and its sizes) and the
// bytes one query needs.
idx_t queries_per_batch(idx_t nq, std::int64_t fixed_bytes, std::int64_t per_query_bytes,
                        const WorkspaceBound& bound, const char* what);

// The number of batches of `batch` queries that cover nq queries.
idx_t batch_count(idx_t nq, idx_t batch);

// The many-query GPU flat search (score tiles of tile_rows stored rows x a batch of queries,
// folded into a running top-k): the tile rows and queries per batch that fit the bound.
struct FlatTileShape {
  idx_t n_rows;      // stored rows
  int dp;            // padded dimension
  int kept;          // candidates kept per query (k, or k x overfetch in fast mode)
  bool split;        // 3xTF32: split copies of the queries and of one base tile
  int tile_rows;     // the preferred tile rows (KNNX_FLAT_TILE_ROWS)
  int tile_queries;  // the most queries a batch takes (KNNX_FLAT_TILE_QUERIES)
  idx_t full_batch;  // queries a batch should reach before tile rows are kept whole
};
struct FlatTilePlan {
  idx_t queries;           // per batch
  std::int64_t tile_rows;  // stored rows per tile
};
// Scratch of one batch: two score tiles, the running top-k, the (split) queries and their norms,
// and the split base tile.
std::int64_t flat_tile_bytes(const FlatTileShape& shape, std::int64_t tile_rows, idx_t queries);
// Tile rows stay at shape.tile_rows (or n_rows) unless the bound then holds fewer than
// min(nq, full_batch) queries; they are halved, down to kMinFlatTileRows, until it does. The
// batches (as many queries as fit, at most tile_queries) are then evened out, so the last is
// not a small remainder. Throws as queries_per_batch when one query does not fit an explicit
// bound at the smallest tile.
constexpr std::int64_t kMinFlatTileRows = 1024;
FlatTilePlan plan_flat_tiles(idx_t nq, const FlatTileShape& shape, const WorkspaceBound& bound);

}  // namespace knnx::detail
