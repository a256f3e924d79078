// cuda/gemm/gemm.hpp — knnx's own tiled single-precision GEMM kernels (row-major operands).
//
//   gemm_av:   C (m x k) = alpha * A (m x n) * V (n x k)   + beta * C
//   gemm_at_b: C (n x k) = alpha * A (m x n)^T * B (m x k) + beta * C
//
// One thread block computes a BM x BN tile of C from shared-memory tiles of the operands; each
// thread accumulates a TM x TN register micro-tile with FMAs. Tile shapes are template
// parameters (core/gemm_tiles.hpp lists the compiled set); which one runs is decided by the
// caller, normally through resolve_gemm_tile(): the KNNX_GEMM_TILE_* override or the static
// table entries (a wide and a narrow tile) of the device's SM architecture. When the output has too few tiles to fill the
// device, the reduction dimension is split across blocks (split-K) into a workspace that a
// second kernel sums in a fixed order, so results are deterministic.
// cuBLAS stays available (StreamContext::cublas()) and is the reference in tests.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/gemm_tiles.hpp"

namespace knnx::cuda {

enum class GemmOp { AV, AtB };

// "BMxBN" text of a shape.
std::string gemm_tile_name(detail::GemmTileShape tile);

// Outputs with at most this many columns use the table's narrow tile.
inline constexpr std::int64_t kNarrowColumns = 32;

// The table entry for an SM architecture (major.minor) and an output of `columns` columns; the
// sm_80 entry serves older devices, the sm_90 entry newer ones.
detail::GemmTileShape gemm_table_tile(GemmOp op, int major, int minor, std::int64_t columns);

// The tiles in force for one operation: from the table (a wide and a narrow tile) or one
// overriding tile for every shape.
struct GemmTileChoice {
  detail::GemmTileShape wide{64, 64};
  detail::GemmTileShape narrow{128, 32};
  bool overridden = false;
  detail::GemmTileShape for_columns(std::int64_t columns) const {
    return columns <= kNarrowColumns ? narrow : wide;
  }
};

// The tiles in force for `op` on `device`: `override_name` ("BMxBN" from the compiled set) when
// it is not "auto", else the table entries of the device's architecture. Throws InvalidArgument
// for a name outside the compiled set.
GemmTileChoice resolve_gemm_tile(GemmOp op, const std::string& override_name, int device);

// Leading dimensions are in elements and at least the row width. m, n, k >= 0 (empty products
// only scale C by beta). beta == 0 overwrites C without reading it (NaN in C does not leak).
// With a GemmTileChoice the tile follows the output's column count.
void gemm_av(const GemmTileChoice& tiles, std::int64_t m, std::int64_t n, std::int64_t k,
             float alpha, const float* a, std::int64_t lda, const float* v, std::int64_t ldv,
             float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check);
void gemm_at_b(const GemmTileChoice& tiles, std::int64_t m, std::int64_t n, std::int64_t k,
               float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
               float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check);

void gemm_av(detail::GemmTileShape tile, std::int64_t m, std::int64_t n, std::int64_t k,
             float alpha, const float* a, std::int64_t lda, const float* v, std::int64_t ldv,
             float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check);

void gemm_at_b(detail::GemmTileShape tile, std::int64_t m, std::int64_t n, std::int64_t k,
               float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
               float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check);

}  // namespace knnx::cuda
