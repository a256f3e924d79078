// The 4-bit fast scan (cpu/pq4_fast_scan.hpp): block packing round trips and puts byte p of
// vector i at p * 32 + i; the SIMD accumulation equals the portable loop and the sums of the
// quantized tables; table quantization stays within half a unit per entry; the scan returns the
// k best codes by quantized-table distance, honours selectors, and compacting a block store
// (CodeLayout::move) keeps the remaining codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "cpu/code_layout.hpp"
#include "cpu/pq4_fast_scan.hpp"
#include "cpu/topk.hpp"
#include "knnx/id_selector.hpp"

namespace knnx::cpu {
namespace {

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() & 0xff);
  return v;
}

TEST(Pq4FastScan, PackingTransposesBlocksAndRoundTrips) {
  const int cs = 5;    // M = 10
  const idx_t n = 75;  // two full blocks and a partial one
  const std::vector<std::uint8_t> codes = random_bytes(static_cast<std::size_t>(n) * cs, 1);
  std::vector<std::uint8_t> blocks(static_cast<std::size_t>(pq4_blocks_for(n)) *
                                   pq4_block_bytes(cs));
  // Written in two pieces, the second starting inside a block.
  pq4_pack(codes.data(), 40, cs, 0, blocks.data());
  pq4_pack(codes.data() + 40 * cs, n - 40, cs, 40, blocks.data());
  for (idx_t row = 0; row < n; ++row) {
    for (int p = 0; p < cs; ++p) {
      EXPECT_EQ(blocks[static_cast<std::size_t>((row / 32) * 32 * cs + p * 32 + row % 32)],
                codes[static_cast<std::size_t>(row * cs + p)]);
    }
  }
  std::vector<std::uint8_t> back(codes.size());
  pq4_unpack(blocks.data(), cs, 0, n, back.data());
  EXPECT_EQ(back, codes);
}

TEST(Pq4FastScan, SimdSumsEqualPortableAndTableSums) {
  for (int m : {2, 8, 32, 64, 256}) {
    const idx_t n_blocks = 3;
    const std::vector<std::uint8_t> blocks = random_bytes(n_blocks * pq4_block_bytes(m / 2), 2);
    // Entries up to 255 everywhere: the largest sums M = 256 can reach stay exact.
    std::vector<std::uint8_t> entries = random_bytes(static_cast<std::size_t>(m) * 16, 3);
    if (m == 256) std::fill(entries.begin(), entries.end(), std::uint8_t{255});
    std::vector<std::uint16_t> fast(n_blocks * 32), portable(n_blocks * 32);
    pq4_accumulate(blocks.data(), n_blocks, m, entries.data(), fast.data());
    pq4_accumulate_portable(blocks.data(), n_blocks, m, entries.data(), portable.data());
    EXPECT_EQ(fast, portable) << "M = " << m << " isa " << pq4_accumulate_isa();
    std::vector<std::uint8_t> rows(n_blocks * 32 * static_cast<std::size_t>(m / 2));
    pq4_unpack(blocks.data(), m / 2, 0, n_blocks * 32, rows.data());
    for (idx_t i = 0; i < n_blocks * 32; ++i) {
      int sum = 0;
      for (int s = 0; s < m; ++s) {
        const std::uint8_t byte = rows[static_cast<std::size_t>(i * (m / 2) + s / 2)];
        sum += entries[static_cast<std::size_t>(s * 16 + ((s & 1) ? byte >> 4 : byte & 15))];
      }
      EXPECT_EQ(portable[static_cast<std::size_t>(i)], sum) << "M = " << m << " row " << i;
    }
  }
}

TEST(Pq4FastScan, QuantizedTablesStayWithinHalfAUnit) {
  const int m = 6;
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-3.0f, 5.0f);
  std::vector<float> table(static_cast<std::size_t>(m) * 16);
  for (float& v : table) v = u(rng);
  Pq4Table q;
  pq4_quantize_table(table.data(), m, q);
  float bias = 0.0f;
  for (int s = 0; s < m; ++s) {
    const float lo = *std::min_element(table.begin() + s * 16, table.begin() + s * 16 + 16);
    bias += lo;
    for (int j = 0; j < 16; ++j) {
      const float back = lo + q.entries[static_cast<std::size_t>(s * 16 + j)] * q.inv_scale;
      EXPECT_LE(std::abs(back - table[static_cast<std::size_t>(s * 16 + j)]),
                0.5f * q.inv_scale + 1e-5f);
    }
  }
  EXPECT_FLOAT_EQ(q.bias, bias);
  EXPECT_EQ(*std::max_element(q.entries.begin(), q.entries.end()), 255);
  // A constant table quantizes to zeros.
  std::vector<float> flat(table.size(), 2.0f);
  pq4_quantize_table(flat.data(), m, q);
  EXPECT_EQ(*std::max_element(q.entries.begin(), q.entries.end()), 0);
  EXPECT_FLOAT_EQ(q.bias, 2.0f * m);
}

TEST(Pq4FastScan, ScanReturnsTheBestQuantizedDistances) {
  const int m = 8, cs = 4, k = 10;
  const idx_t n = 300;
  const std::vector<std::uint8_t> codes = random_bytes(static_cast<std::size_t>(n) * cs, 5);
  std::vector<std::uint8_t> blocks(static_cast<std::size_t>(pq4_blocks_for(n)) *
                                   pq4_block_bytes(cs));
  pq4_pack(codes.data(), n, cs, 0, blocks.data());
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(0.0f, 4.0f);
  std::vector<float> table(static_cast<std::size_t>(m) * 16);
  for (float& v : table) v = u(rng);
  Pq4Table q;
  pq4_quantize_table(table.data(), m, q);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = 1000 + i;
  const IDSelectorRange odd_half(1000 + n / 2, 1000 + n);
  for (const IDSelector* sel :
       {static_cast<const IDSelector*>(nullptr), static_cast<const IDSelector*>(&odd_half)}) {
    // Expected: every admitted row's quantized distance, sorted.
    std::vector<std::pair<float, idx_t>> want;
    for (idx_t i = 0; i < n; ++i) {
      if (sel != nullptr && !sel->is_member(ids[static_cast<std::size_t>(i)])) continue;
      int sum = 0;
      for (int s = 0; s < m; ++s) {
        const std::uint8_t byte = codes[static_cast<std::size_t>(i * cs + s / 2)];
        sum += q.entries[static_cast<std::size_t>(s * 16 + ((s & 1) ? byte >> 4 : byte & 15))];
      }
      want.push_back({1.5f + q.bias + static_cast<float>(sum) * q.inv_scale, i});
    }
    std::sort(want.begin(), want.end());
    TopK topk(k);
    Pq4Scratch scratch;
    pq4_scan_into(topk, table.data(), m, 1.5f, blocks.data(), n, 0, sel, ids.data(), scratch);
    std::vector<float> dist(k);
    std::vector<idx_t> labels(k);
    topk.write(dist.data(), labels.data(), false, 0.0f);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(labels[static_cast<std::size_t>(j)], want[static_cast<std::size_t>(j)].second);
      EXPECT_NEAR(dist[static_cast<std::size_t>(j)], want[static_cast<std::size_t>(j)].first,
                  1e-4f);
    }
  }
}

TEST(Pq4FastScan, CompactingABlockStoreKeepsTheOtherCodes) {
  const CodeLayout layout{3, true};
  const idx_t n = 70;
  const std::vector<std::uint8_t> codes = random_bytes(static_cast<std::size_t>(n) * 3, 7);
  std::vector<std::uint8_t> store(layout.bytes_for(n));
  layout.write(store.data(), 0, n, codes.data());
  // Drop every third row.
  std::vector<std::uint8_t> want;
  idx_t out = 0;
  for (idx_t r = 0; r < n; ++r) {
    if (r % 3 == 0) continue;
    if (out != r) layout.move(store.data(), r, out);
    want.insert(want.end(), codes.begin() + r * 3, codes.begin() + r * 3 + 3);
    ++out;
  }
  std::vector<std::uint8_t> back(want.size());
  layout.read(store.data(), 0, out, back.data());
  EXPECT_EQ(back, want);
}

}  // namespace
}  // namespace knnx::cpu
