// cpu/pq4_fast_scan.hpp — the fast scan of 4-bit product-quantizer codes (FAISS's PQ fast scan):
// codes in blocks of 32 vectors, lookup tables quantized to 8 bits and applied 32 vectors at a
// time with byte shuffles, sums in 16 bits.
//
// Block layout. A code of M 4-bit entries is M / 2 bytes (ProductQuantizer::fast_scan: entry 2p
// in the low nibble of byte p, 2p + 1 in the high one). A block holds 32 codes transposed: byte p
// of the block's vector i is at block[p * 32 + i], so one 32-byte load gives the entries 2p and
// 2p + 1 of 32 vectors, and two shuffles (_mm256_shuffle_epi8, the 16-entry table of each
// sub-quantizer broadcast to both lanes) turn them into 64 table entries. The last block of a
// list is padded with zero codes, never reported.
//
// Quantized tables (FAISS's round_uint8_per_column). For a float table T (M x 16, minimised
// scores: squared L2 distances or negated inner products), min_m is the smallest entry of row m
// and `span` the largest max_m - min_m over the rows; each entry becomes
//   Q[m][j] = floor((T[m][j] - min_m) * a + 0.5),   a = 255 / span,
// so a code's sum of M entries fits 16 bits (M <= 256) and the score it stands for is
//   bias + sum_m Q[m][c_m] / a,   bias = sum_m min_m.
// That is the distance a fast scan returns, as FAISS's IndexPQFastScan and IndexIVFPQFastScan do:
// the table's rounding error (at most M / (2a)) comes on top of the quantizer's, and no exact
// re-scoring follows (IndexRefineFlat gives exact distances to the stored vectors' candidates).
//
// The accumulation has an AVX2 version picked at run time (the library is compiled for the
// baseline instruction set) and a portable one with the same results.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/topk.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

// Vectors per block and entries per sub-quantizer table.
inline constexpr int kPq4Block = 32;
inline constexpr int kPq4Ksub = 16;

// Bytes of one block of codes of code_size bytes.
inline constexpr std::size_t pq4_block_bytes(int code_size) {
  return static_cast<std::size_t>(code_size) * kPq4Block;
}
inline constexpr idx_t pq4_blocks_for(idx_t n) { return (n + kPq4Block - 1) / kPq4Block; }

// Writes n row-major codes (code_size bytes each) as rows [row0, row0 + n) of the block array
// `blocks`, which holds pq4_blocks_for(row0 + n) blocks.
void pq4_pack(const std::uint8_t* codes, idx_t n, int code_size, idx_t row0, std::uint8_t* blocks);
// Reads rows [row0, row0 + n) of the block array back as row-major codes.
void pq4_unpack(const std::uint8_t* blocks, int code_size, idx_t row0, idx_t n,
                std::uint8_t* codes);

// A float table quantized to 8 bits (see the header comment).
struct Pq4Table {
  std::vector<std::uint8_t> entries;  // M x 16
  float inv_scale = 1.0f;             // 1 / a
  float bias = 0.0f;                  // sum of the rows' minima
};
void pq4_quantize_table(const float* table, int M, Pq4Table& out);

// out[b * 32 + i] = sum_m entries[m * 16 + entry m of vector i of block b], for n_blocks blocks.
void pq4_accumulate(const std::uint8_t* blocks, idx_t n_blocks, int M, const std::uint8_t* entries,
                    std::uint16_t* out);
// The portable loop (the reference the SIMD version is tested against).
void pq4_accumulate_portable(const std::uint8_t* blocks, idx_t n_blocks, int M,
                             const std::uint8_t* entries, std::uint16_t* out);
// The instruction set pq4_accumulate uses on this CPU: "avx2" or "portable".
const char* pq4_accumulate_isa();

// Per-thread buffers of pq4_scan_into.
struct Pq4Scratch {
  Pq4Table table;
  std::vector<std::uint16_t> sums;
};

// Scores the n codes of a block array against the float table (M x 16, minimised scores) through
// its quantized version and pushes them into topk as base + bias + sum / a, labelled
// first_label + j; with a selector, only rows whose id (row_ids[j]) it admits. Rows whose 16-bit
// sum cannot beat topk's threshold are dropped before any float work.
void pq4_scan_into(TopK& topk, const float* table, int M, float base, const std::uint8_t* blocks,
                   idx_t n, idx_t first_label, const IDSelector* sel, const idx_t* row_ids,
                   Pq4Scratch& scratch);

// pq4_scan_into with the table already quantized into scratch.table (pq4_quantize_table): for
// codes scored against one table in several calls, as the probed lists of a query whose codes
// are of the vectors themselves.
void pq4_scan_quantized(TopK& topk, int M, float base, const std::uint8_t* blocks, idx_t n,
                        idx_t first_label, const IDSelector* sel, const idx_t* row_ids,
                        Pq4Scratch& scratch);

// The scores pq4_scan_into reports, for all n codes: out (resized to n) holds
// base + bias + sum_j / a for each row j.
void pq4_score_codes(const float* table, int M, float base, const std::uint8_t* blocks, idx_t n,
                     Pq4Scratch& scratch, std::vector<float>& out);

}  // namespace knnx::cpu
