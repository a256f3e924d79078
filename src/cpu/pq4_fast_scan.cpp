// The 4-bit fast scan: block packing, table quantization, the 16-bit accumulation (AVX2 and
// portable) and the screened push into a top-k collector.
#include "cpu/pq4_fast_scan.hpp"

#include <algorithm>
#include <limits>

#include "cpu/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KNNX_PQ4_X86 1
#endif

namespace knnx::cpu {
namespace {

// Blocks accumulated before their sums are screened: bounds the sums buffer (256 vectors).
constexpr idx_t kChunkBlocks = 8;

#ifdef KNNX_PQ4_X86
#define KNNX_PQ4_AVX2 __attribute__((target("avx2")))

// Per block and byte pair p: the entries of sub-quantizers 2p (low nibbles) and 2p + 1 (high
// nibbles) of 32 vectors, looked up with one shuffle each. The 8-bit results are summed as 16-bit
// words (each word an even vector's entry plus 256 times the next odd vector's, modulo 2^16) and,
// shifted, as the odd vectors' entries alone; the even sums are their difference at the end
// (exact, as every true sum is below 2^16).
KNNX_PQ4_AVX2 void accumulate_avx2(const std::uint8_t* blocks, idx_t n_blocks, int M,
                                   const std::uint8_t* entries, std::uint16_t* out) {
  const int pairs = M / 2;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (idx_t b = 0; b < n_blocks; ++b) {
    const std::uint8_t* block = blocks + b * pairs * kPq4Block;
    __m256i words = _mm256_setzero_si256();
    __m256i odd = _mm256_setzero_si256();
    for (int p = 0; p < pairs; ++p) {
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * kPq4Block));
      const __m256i t0 = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(entries + (2 * p) * kPq4Ksub)));
      const __m256i t1 = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(entries + (2 * p + 1) * kPq4Ksub)));
      const __m256i r0 = _mm256_shuffle_epi8(t0, _mm256_and_si256(c, low4));
      const __m256i r1 = _mm256_shuffle_epi8(t1, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
      words = _mm256_add_epi16(words, _mm256_add_epi16(r0, r1));
      odd = _mm256_add_epi16(odd,
                             _mm256_add_epi16(_mm256_srli_epi16(r0, 8), _mm256_srli_epi16(r1, 8)));
    }
    const __m256i even = _mm256_sub_epi16(words, _mm256_slli_epi16(odd, 8));
    // Word e of even/odd is vector 2e/2e + 1: interleave, then put the lanes in vector order.
    const __m256i lo = _mm256_unpacklo_epi16(even, odd);  // vectors 0-7 | 16-23
    const __m256i hi = _mm256_unpackhi_epi16(even, odd);  // vectors 8-15 | 24-31
    auto* o = reinterpret_cast<__m256i*>(out + b * kPq4Block);
    _mm256_storeu_si256(o, _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(lo, hi, 0x31));
  }
}

// pq4_quantize_table with 8 entries a step; the same operations in the same order as the
// portable loop, so the same bytes.
KNNX_PQ4_AVX2 void quantize_avx2(const float* table, int M, std::uint8_t* entries, float* lows,
                                 float* span_out, float* bias_out) {
  float span = 0.0f, bias = 0.0f;
  for (int m = 0; m < M; ++m) {
    const __m256 r0 = _mm256_loadu_ps(table + m * kPq4Ksub);
    const __m256 r1 = _mm256_loadu_ps(table + m * kPq4Ksub + 8);
    __m256 lo = _mm256_min_ps(r0, r1), hi = _mm256_max_ps(r0, r1);
    lo = _mm256_min_ps(lo, _mm256_permute2f128_ps(lo, lo, 1));
    hi = _mm256_max_ps(hi, _mm256_permute2f128_ps(hi, hi, 1));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, 0x4e));
    hi = _mm256_max_ps(hi, _mm256_shuffle_ps(hi, hi, 0x4e));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, 0xb1));
    hi = _mm256_max_ps(hi, _mm256_shuffle_ps(hi, hi, 0xb1));
    lows[m] = _mm256_cvtss_f32(lo);
    span = std::max(span, _mm256_cvtss_f32(hi) - lows[m]);
    bias += lows[m];
  }
  const float a = span > 0.0f ? 255.0f / span : 1.0f;
  const __m256 scale = _mm256_set1_ps(a), half = _mm256_set1_ps(0.5f);
  const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
  for (int m = 0; m < M; ++m) {
    const __m256 lo = _mm256_set1_ps(lows[m]);
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 x = _mm256_loadu_ps(table + m * kPq4Ksub + 8 * h);
      const __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(x, lo), scale), half);
      q[h] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(y, zero), top));
    }
    const __m128i w0 =
        _mm_packus_epi32(_mm256_castsi256_si128(q[0]), _mm256_extracti128_si256(q[0], 1));
    const __m128i w1 =
        _mm_packus_epi32(_mm256_castsi256_si128(q[1]), _mm256_extracti128_si256(q[1], 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(entries + m * kPq4Ksub), _mm_packus_epi16(w0, w1));
  }
  *span_out = span;
  *bias_out = bias;
}

#endif

}  // namespace

void pq4_pack(const std::uint8_t* codes, idx_t n, int code_size, idx_t row0, std::uint8_t* blocks) {
  for (idx_t j = 0; j < n; ++j) {
    const idx_t row = row0 + j;
    std::uint8_t* block =
        blocks + (row / kPq4Block) * static_cast<idx_t>(pq4_block_bytes(code_size));
    const idx_t i = row % kPq4Block;
    for (int p = 0; p < code_size; ++p) block[p * kPq4Block + i] = codes[j * code_size + p];
  }
}

void pq4_unpack(const std::uint8_t* blocks, int code_size, idx_t row0, idx_t n,
                std::uint8_t* codes) {
  for (idx_t j = 0; j < n; ++j) {
    const idx_t row = row0 + j;
    const std::uint8_t* block =
        blocks + (row / kPq4Block) * static_cast<idx_t>(pq4_block_bytes(code_size));
    const idx_t i = row % kPq4Block;
    for (int p = 0; p < code_size; ++p) codes[j * code_size + p] = block[p * kPq4Block + i];
  }
}

void pq4_quantize_table(const float* table, int M, Pq4Table& out) {
  out.entries.resize(static_cast<std::size_t>(M) * kPq4Ksub);
  float lows[256];  // M <= 256
  float span = 0.0f;
  float bias = 0.0f;
#ifdef KNNX_PQ4_X86
  if (cpu_has_avx2()) {
    quantize_avx2(table, M, out.entries.data(), lows, &span, &bias);
    out.inv_scale = 1.0f / (span > 0.0f ? 255.0f / span : 1.0f);
    out.bias = bias;
    return;
  }
#endif
  for (int m = 0; m < M; ++m) {
    const float* row = table + m * kPq4Ksub;
    float lo = row[0], hi = row[0];
    for (int j = 1; j < kPq4Ksub; ++j) {
      lo = row[j] < lo ? row[j] : lo;
      hi = row[j] > hi ? row[j] : hi;
    }
    lows[m] = lo;
    span = std::max(span, hi - lo);
    bias += lo;
  }
  // A table whose rows are all constant quantizes to zeros (any scale does).
  const float a = span > 0.0f ? 255.0f / span : 1.0f;
  for (int m = 0; m < M; ++m) {
    const float* row = table + m * kPq4Ksub;
    std::uint8_t* q = out.entries.data() + static_cast<std::size_t>(m) * kPq4Ksub;
    for (int j = 0; j < kPq4Ksub; ++j) {
      // floor(x + 0.5) of x in [0, 255]: truncation, which vectorises where floor() is a call.
      const float x = std::clamp((row[j] - lows[m]) * a + 0.5f, 0.0f, 255.0f);
      q[j] = static_cast<std::uint8_t>(static_cast<int>(x));
    }
  }
  out.inv_scale = 1.0f / a;
  out.bias = bias;
}

void pq4_accumulate_portable(const std::uint8_t* blocks, idx_t n_blocks, int M,
                             const std::uint8_t* entries, std::uint16_t* out) {
  const int pairs = M / 2;
  for (idx_t b = 0; b < n_blocks; ++b) {
    const std::uint8_t* block = blocks + b * pairs * kPq4Block;
    std::uint16_t* o = out + b * kPq4Block;
    std::fill_n(o, kPq4Block, std::uint16_t{0});
    for (int p = 0; p < pairs; ++p) {
      const std::uint8_t* t0 = entries + (2 * p) * kPq4Ksub;
      const std::uint8_t* t1 = t0 + kPq4Ksub;
      for (int i = 0; i < kPq4Block; ++i) {
        const std::uint8_t c = block[p * kPq4Block + i];
        o[i] = static_cast<std::uint16_t>(o[i] + t0[c & 15] + t1[c >> 4]);
      }
    }
  }
}

void pq4_accumulate(const std::uint8_t* blocks, idx_t n_blocks, int M, const std::uint8_t* entries,
                    std::uint16_t* out) {
#ifdef KNNX_PQ4_X86
  if (cpu_has_avx2()) return accumulate_avx2(blocks, n_blocks, M, entries, out);
#endif
  pq4_accumulate_portable(blocks, n_blocks, M, entries, out);
}

const char* pq4_accumulate_isa() {
#ifdef KNNX_PQ4_X86
  if (cpu_has_avx2()) return "avx2";
#endif
  return "portable";
}

void pq4_scan_into(TopK& topk, const float* table, int M, float base, const std::uint8_t* blocks,
                   idx_t n, idx_t first_label, const IDSelector* sel, const idx_t* row_ids,
                   Pq4Scratch& scratch) {
  pq4_quantize_table(table, M, scratch.table);
  pq4_scan_quantized(topk, M, base, blocks, n, first_label, sel, row_ids, scratch);
}

void pq4_scan_quantized(TopK& topk, int M, float base, const std::uint8_t* blocks, idx_t n,
                        idx_t first_label, const IDSelector* sel, const idx_t* row_ids,
                        Pq4Scratch& scratch) {
  const float offset = base + scratch.table.bias;
  const float inv_scale = scratch.table.inv_scale;
  const float scale = 1.0f / inv_scale;
  scratch.sums.resize(static_cast<std::size_t>(kChunkBlocks) * kPq4Block);
  const std::size_t block_bytes = pq4_block_bytes(M / 2);
  for (idx_t j0 = 0; j0 < n; j0 += kChunkBlocks * kPq4Block) {
    const idx_t len = std::min<idx_t>(kChunkBlocks * kPq4Block, n - j0);
    pq4_accumulate(blocks + (j0 / kPq4Block) * static_cast<idx_t>(block_bytes), pq4_blocks_for(len),
                   M, scratch.table.entries.data(), scratch.sums.data());
    // The largest sum that may still beat the threshold (-1: none), with one unit of slack for
    // the float rounding of offset + sum / a; push() decides exactly. Updated as pushes tighten
    // the threshold, so most rows cost one integer comparison.
    const auto limit_of = [&](float threshold) {
      if (!(threshold < std::numeric_limits<float>::infinity())) return 65535;
      const float units = (threshold - offset) * scale;
      if (units < -1.0f) return -1;
      return units < 65535.0f ? static_cast<int>(units) + 1 : 65535;
    };
    int limit = limit_of(topk.threshold());
    for (idx_t j = 0; j < len; ++j) {
      const int sum = scratch.sums[static_cast<std::size_t>(j)];
      if (sum > limit) continue;
      const float score = offset + static_cast<float>(sum) * inv_scale;
      if (!(score < topk.threshold())) continue;
      if (sel != nullptr && !sel->is_member(row_ids[j0 + j])) continue;
      topk.push(score, first_label + j0 + j);
      limit = limit_of(topk.threshold());
    }
  }
}

void pq4_score_codes(const float* table, int M, float base, const std::uint8_t* blocks, idx_t n,
                     Pq4Scratch& scratch, std::vector<float>& out) {
  pq4_quantize_table(table, M, scratch.table);
  const float offset = base + scratch.table.bias;
  const float inv_scale = scratch.table.inv_scale;
  scratch.sums.resize(static_cast<std::size_t>(kChunkBlocks) * kPq4Block);
  out.resize(static_cast<std::size_t>(n));
  const std::size_t block_bytes = pq4_block_bytes(M / 2);
  for (idx_t j0 = 0; j0 < n; j0 += kChunkBlocks * kPq4Block) {
    const idx_t len = std::min<idx_t>(kChunkBlocks * kPq4Block, n - j0);
    pq4_accumulate(blocks + (j0 / kPq4Block) * static_cast<idx_t>(block_bytes), pq4_blocks_for(len),
                   M, scratch.table.entries.data(), scratch.sums.data());
    for (idx_t j = 0; j < len; ++j) {
      out[static_cast<std::size_t>(j0 + j)] =
          offset + static_cast<float>(scratch.sums[static_cast<std::size_t>(j)]) * inv_scale;
    }
  }
}

}  // namespace knnx::cpu
