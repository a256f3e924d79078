// cpu/pq_scan.hpp — the inner loop of every product-quantizer search on the CPU: a block of
// codes scored against one lookup table, then handed to a query's top-k collector.
//
// Scores are minimised, as TopK wants: L2 tables hold squared distances, inner-product tables
// hold negated products (the caller writes the results negated back).
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/scan_kernels.hpp"
#include "cpu/topk.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

// Entries per sub-quantizer table (8-bit codes).
inline constexpr int kPqKsub = 256;

// out[j] = base + sum_m table[m * 256 + codes[j * M + m]] for j in [0, n), for any M.
inline void pq_score_codes_any(const float* table, int M, float base, const std::uint8_t* codes,
                               idx_t n, float* out) {
  for (idx_t j = 0; j < n; ++j) {
    const std::uint8_t* c = codes + j * M;
    float s = base;
    for (int m = 0; m < M; ++m) s += table[m * kPqKsub + c[m]];
    out[j] = s;
  }
}

// The same with M known at compile time, four codes at a time, so that four independent sums
// hide the latency of the table loads.
template <int M>
inline void pq_score_codes_fixed(const float* table, float base, const std::uint8_t* codes, idx_t n,
                                 float* out) {
  idx_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const std::uint8_t* c = codes + j * M;
    float s0 = base, s1 = base, s2 = base, s3 = base;
    for (int m = 0; m < M; ++m) {
      const float* t = table + m * kPqKsub;
      s0 += t[c[m]];
      s1 += t[c[M + m]];
      s2 += t[c[2 * M + m]];
      s3 += t[c[3 * M + m]];
    }
    out[j] = s0;
    out[j + 1] = s1;
    out[j + 2] = s2;
    out[j + 3] = s3;
  }
  pq_score_codes_any(table, M, base, codes + j * M, n - j, out + j);
}

// The loop with M known at compile time for the common code sizes.
inline void pq_score_codes(const float* table, int M, float base, const std::uint8_t* codes,
                           idx_t n, float* out) {
  switch (M) {
    case 4:
      return pq_score_codes_fixed<4>(table, base, codes, n, out);
    case 8:
      return pq_score_codes_fixed<8>(table, base, codes, n, out);
    case 16:
      return pq_score_codes_fixed<16>(table, base, codes, n, out);
    case 32:
      return pq_score_codes_fixed<32>(table, base, codes, n, out);
    case 64:
      return pq_score_codes_fixed<64>(table, base, codes, n, out);
    default:
      return pq_score_codes_any(table, M, base, codes, n, out);
  }
}

// Scores n codes (M bytes each) against table and pushes them into topk labelled first_label +
// j; with a selector, only rows whose id (row_ids[j]) it admits. scratch holds kCollectChunk
// floats.
inline void pq_scan_into(TopK& topk, const float* table, int M, float base,
                         const std::uint8_t* codes, idx_t n, idx_t first_label,
                         const IDSelector* sel, const idx_t* row_ids, float* scratch) {
  for (idx_t j0 = 0; j0 < n; j0 += kCollectChunk) {
    const idx_t len = std::min<idx_t>(kCollectChunk, n - j0);
    pq_score_codes(table, M, base, codes + j0 * M, len, scratch);
    topk.push_block(scratch, len, first_label + j0, sel,
                    row_ids != nullptr ? row_ids + j0 : nullptr);
  }
}

}  // namespace knnx::cpu
