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
  detail::GemmTileShape av;
  detail::GemmTileShape atb;
};

// Fixed at build time, no autotuning. A * V is mostly tall (rows = data points) with a few
// dozen to thousands of columns, so a tall tile with the most register reuse that still leaves
// several blocks per SM. A^T * B outputs are small (dim x dim, dim x rank) and long in the
// reduction, so a 64 x 64 tile with split-K. bench/gpu_linalg_bench measures every entry.
constexpr TableEntry kTileTable[] = {
    {8, {128, 64}, {64, 64}},   // sm_80 (A100) and sm_86 / sm_89
    {9, {128, 128}, {64, 64}},  // sm_90 (H100, H200) and newer
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

detail::GemmTileShape gemm_table_tile(GemmOp op, int major, int /*minor*/) {
  const TableEntry* entry = &kTileTable[0];
  for (const TableEntry& e : kTileTable) {
    if (major >= e.major) entry = &e;
  }
  return op == GemmOp::AV ? entry->av : entry->atb;
}

detail::GemmTileShape resolve_gemm_tile(GemmOp op, const std::string& override_name, int device) {
  if (override_name != "auto") {
    for (const detail::GemmTileShape& t : detail::kGemmTileShapes) {
      if (gemm_tile_name(t) == override_name) return t;
    }
    throw InvalidArgument(fmt::format("{} must be \"auto\" or a compiled tile shape, got \"{}\"",
                                      op == GemmOp::AV ? "KNNX_GEMM_TILE_AV" : "KNNX_GEMM_TILE_ATB",
                                      override_name));
  }
  const cudaDeviceProp& prop = device_properties(device);
  return gemm_table_tile(op, prop.major, prop.minor);
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
