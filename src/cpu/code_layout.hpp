// cpu/code_layout.hpp — where the codes of a product-quantizer or scalar-quantizer store live in
// its byte array: row by row (code_size bytes each, contiguous), or in the 4-bit fast-scan
// blocks of 32 codes (cpu/pq4_fast_scan.hpp). The stores (IvfCodeLists, the IndexPQ backend)
// size, write, read and compact their arrays through this, whatever the layout.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "cpu/pq4_fast_scan.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

struct CodeLayout {
  std::size_t code_size = 0;
  bool fast_scan_blocks = false;

  // Bytes that hold n codes (whole blocks in the block layout).
  std::size_t bytes_for(idx_t n) const {
    if (!fast_scan_blocks) return static_cast<std::size_t>(n) * code_size;
    return static_cast<std::size_t>(pq4_blocks_for(n)) * pq4_block_bytes(cs());
  }
  // Rows [row0, row0 + n) of store = n row-major codes; store holds bytes_for(row0 + n).
  void write(std::uint8_t* store, idx_t row0, idx_t n, const std::uint8_t* codes) const {
    if (fast_scan_blocks) return pq4_pack(codes, n, cs(), row0, store);
    std::copy_n(codes, static_cast<std::size_t>(n) * code_size, store + row0 * cs());
  }
  // Row-major copies of rows [row0, row0 + n).
  void read(const std::uint8_t* store, idx_t row0, idx_t n, std::uint8_t* codes) const {
    if (fast_scan_blocks) return pq4_unpack(store, cs(), row0, n, codes);
    std::copy_n(store + row0 * cs(), static_cast<std::size_t>(n) * code_size, codes);
  }
  // Row `to` = row `from` (to < from, for compaction in place).
  void move(std::uint8_t* store, idx_t from, idx_t to) const {
    if (!fast_scan_blocks) {
      std::copy_n(store + from * cs(), code_size, store + to * cs());
      return;
    }
    std::uint8_t code[kMaxCodeBytes];
    pq4_unpack(store, cs(), from, 1, code);
    pq4_pack(code, 1, cs(), to, store);
  }

 private:
  // Largest fast-scan code: 256 sub-quantizers of 4 bits.
  static constexpr int kMaxCodeBytes = 128;
  int cs() const { return static_cast<int>(code_size); }
};

}  // namespace knnx::cpu
