// cpu/scan_kernels.hpp — SIMD kernels of the exact flat scan, picked once at run time for the CPU.
//
// The library is compiled for the baseline instruction set, so these kernels carry their own
// AVX2 and AVX-512 versions and choose between them (and a portable version) on first use.
//
// A tile entry t is alpha * (q . x) with alpha = -2 for L2 and -1 for inner product, which is
// what the sgemm writes. Its score (smaller is better) is
//   L2: max((t + ||q||^2) + ||x||^2, 0)      inner product: t
// and score_of() below is the one definition every kernel and every caller agrees on bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "core/metric_dispatch.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

// The score of a tile entry t under metric M; base_norm and query_norm are read for L2 only.
template <Metric M>
inline float score_of(float t, float base_norm, float query_norm) {
  // std::max(v, 0) keeps a NaN v as NaN (it then never passes a threshold); the SIMD kernels
  // use the same operand order of max for the same result.
  if constexpr (detail::kIsL2<M>) {
    return std::max((t + query_norm) + base_norm, 0.0f);
  } else {
    return t;
  }
}

// Most rows a scores chunk handed to collect_below may have.
inline constexpr int kCollectChunk = 256;

// Writes to hits the positions j in [0, n) whose score_of<M>(t[j], base_norms[j], query_norm)
// is below threshold, in increasing order; returns their count. n <= kCollectChunk. base_norms
// is read for L2 only (null for inner product). Instantiated for both metrics.
template <Metric M>
int collect_below(const float* t, const float* base_norms, float query_norm, int n, float threshold,
                  std::uint32_t* hits);

// Most queries one call of small_batch_products handles.
inline constexpr int kSmallBatchMax = 2;

// out[i * out_stride + r] = alpha * (queries[i] . rows[r]) for i < nq, r < n_rows, reading the
// rows straight from memory (no packing): the kernel for one or two queries, which runs at the
// speed the base streams in. queries is nq x d, rows is n_rows x d, both row-major;
// 1 <= nq <= kSmallBatchMax.
void small_batch_products(const float* queries, int nq, const float* rows, idx_t n_rows, int d,
                          float alpha, float* out, idx_t out_stride);

// The instruction set the kernels run with: "avx512", "avx2" or "portable".
const char* scan_kernels_isa();

// Most queries for which an exact flat search should call small_batch_products rather than
// sgemm, as measured for the kernels in use (the default of KNNX_CPU_DIRECT_MAX_NQ).
int flat_direct_max_queries();

// Switches every later call to the kernels of isa ("avx512", "avx2", "portable", or "best", the
// default); false, and nothing changes, when this CPU lacks it. Lets tests and benchmarks run
// each version on one machine.
bool select_scan_kernels(std::string_view isa);

}  // namespace knnx::cpu
