// core/crc32c.hpp — CRC-32C (Castagnoli), the checksum of knnx index files.
//
// The standard CRC-32C of iSCSI, ext4 and LevelDB: reflected polynomial 0x82F63B78, initial value
// and final xor 0xFFFFFFFF; crc32c("123456789") == 0xE3069283. On x86-64 processors with SSE4.2
// the crc32 instruction computes it (several GB/s); elsewhere a slicing-by-8 table does.
#pragma once

#include <cstddef>
#include <cstdint>

namespace knnx::detail {

// The CRC of the bytes covered by `crc` followed by data[0..n); crc32c_extend(0, ...) starts a
// new checksum, so crc32c_extend(crc32c(a), b) == crc32c(a followed by b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t crc32c(const void* data, std::size_t n) { return crc32c_extend(0, data, n); }

// The table implementation, whatever the processor supports (tests compare both paths).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t n);

// Whether crc32c_extend uses the processor's crc32 instruction.
bool crc32c_uses_hardware();

}  // namespace knnx::detail
