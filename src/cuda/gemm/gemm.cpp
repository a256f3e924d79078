// Tile selection for the tiled GEMM: the static per-architecture table, the KNNX_GEMM_TILE_*
// overrides, and the validated entry points.
#include "cuda/gemm/gemm.hpp"

#include <fmt/format.h>

#include "cuda/gemm/gemm_launch.hpp"
#include "cuda/runtime/device_info.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

struct TableEntry {
  int major;  // the entry serves this architecture and newer ones up to the next entry
  detail::GemmTileShape av_wide;    // outputs of more than kNarrowColumns columns
  detail::GemmTileShape av_narrow;  // outputs of at most kNarrowColumns columns
  detail::GemmTileShape atb_wide;
  detail::GemmTileShape atb_narrow;
};

// Fixed at build time, no autotuning. Wide products (k-means assignment, PCA covariance) keep
// 64 x 64 tiles, which on sm_90 beat 128 x 128 (more resident blocks per SM for the same
// registers); narrow ones (the SVD's n x p blocks, tall-skinny A V with p <= 32) waste most of a
// wide tile, so they take 128 x 32. The sm_90 entries follow bench/gpu_linalg_bench on an H100
// (bench/results/gpu_linalg_h100.json); the sm_80 entries repeat them unmeasured.
constexpr TableEntry kTileTable[] = {
    {8, {64, 64}, {128, 32}, {64, 64}, {128, 32}},  // sm_80 (A100), sm_86, sm_89
    {9, {64, 64}, {128, 32}, {64, 64}, {128, 32}},  // sm_90 (H100, H200) and newer
};

int checked_index(detail::GemmTileShape tile) {
  const int index = detail::gemm_tile_index(tile.bm, tile.bn);
  if (index < 0) {
    throw InvalidArgument(fmt::format("GEMM tile {} is not among the compiled tile shapes",
                                      gemm_tile_name(tile)));
  }
  return index;
}

void check_sizes(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda,
                 std::int64_t lda_min, std::int64_t ldb, std::int64_t ldb_min, std::int64_t ldc) {
  if (m < 0 || n < 0 || k < 0 || lda < lda_min || ldb < ldb_min || ldc < k) {
    throw InvalidArgument(fmt::format(
        "GEMM sizes m={} n={} k={} with lda={} ldb={} ldc={} are inconsistent", m, n, k, lda, ldb,
        ldc));
  }
}

}  // namespace

std::string gemm_tile_name(detail::GemmTileShape tile) {
  return fmt::format("{}x{}", tile.bm, tile.bn);
}

detail::GemmTileShape gemm_table_tile(GemmOp op, int major, int /*minor*/, std::int64_t columns) {
  const TableEntry* entry = &kTileTable[0];
  for (const TableEntry& e : kTileTable) {
    if (major >= e.major) entry = &e;
  }
  const bool narrow = columns <= kNarrowColumns;
  if (op == GemmOp::AV) return narrow ? entry->av_narrow : entry->av_wide;
  return narrow ? entry->atb_narrow : entry->atb_wide;
}

GemmTileChoice resolve_gemm_tile(GemmOp op, const std::string& override_name, int device) {
  GemmTileChoice choice;
  if (override_name != "auto") {
    for (const detail::GemmTileShape& t : detail::kGemmTileShapes) {
      if (gemm_tile_name(t) == override_name) {
        choice.overridden = true;
        choice.wide = choice.narrow = t;
        return choice;
      }
    }
    throw InvalidArgument(fmt::format("{} must be \"auto\" or a compiled tile shape, got \"{}\"",
                                      op == GemmOp::AV ? "KNNX_GEMM_TILE_AV" : "KNNX_GEMM_TILE_ATB",
                                      override_name));
  }
  const cudaDeviceProp& prop = device_properties(device);
  choice.wide = gemm_table_tile(op, prop.major, prop.minor, kNarrowColumns + 1);
  choice.narrow = gemm_table_tile(op, prop.major, prop.minor, kNarrowColumns);
  return choice;
}

void gemm_av(const GemmTileChoice& tiles, std::int64_t m, std::int64_t n, std::int64_t k,
             float alpha, const float* a, std::int64_t lda, const float* v, std::int64_t ldv,
             float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  gemm_av(tiles.for_columns(k), m, n, k, alpha, a, lda, v, ldv, beta, c, ldc, stream, sync_check);
}

void gemm_at_b(const GemmTileChoice& tiles, std::int64_t m, std::int64_t n, std::int64_t k,
               float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
               float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  gemm_at_b(tiles.for_columns(k), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream,
            sync_check);
}

void gemm_av(detail::GemmTileShape tile, std::int64_t m, std::int64_t n, std::int64_t k,
             float alpha, const float* a, std::int64_t lda, const float* v, std::int64_t ldv,
             float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  check_sizes(m, n, k, lda, n, ldv, k, ldc);
  gemm_detail::gemm_nn(checked_index(tile), m, k, n, alpha, a, lda, v, ldv, beta, c, ldc, stream,
                       sync_check);
}

void gemm_at_b(detail::GemmTileShape tile, std::int64_t m, std::int64_t n, std::int64_t k,
               float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
               float beta, float* c, std::int64_t ldc, cudaStream_t stream, bool sync_check) {
  check_sizes(m, n, k, lda, n, ldb, k, ldc);
  gemm_detail::gemm_tn(checked_index(tile), n, k, m, alpha, a, lda, b, ldb, beta, c, ldc, stream,
                       sync_check);
}

}  // namespace knnx::cuda
