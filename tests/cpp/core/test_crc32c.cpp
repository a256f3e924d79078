// CRC-32C: published check values, hardware and table paths against each other, and extension
// across arbitrary splits and alignments.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.hpp"

namespace knnx::detail {
namespace {

std::uint32_t crc_of(const std::string& s) { return crc32c(s.data(), s.size()); }

TEST(Crc32c, PublishedCheckValues) {
  EXPECT_EQ(crc_of(""), 0x00000000u);
  EXPECT_EQ(crc_of("a"), 0xC1D04330u);
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);  // the CRC catalogue's check value
  // RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(crc32c(std::vector<std::uint8_t>(32, 0x00).data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::vector<std::uint8_t>(32, 0xFF).data(), 32), 0x62A8AB43u);
  std::vector<std::uint8_t> ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<std::uint8_t>(i);
    descending[i] = static_cast<std::uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(ascending.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending.data(), 32), 0x113FDB5Cu);
}

TEST(Crc32c, HardwareAndTablePathsAgreeAtEveryAlignmentAndLength) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> data(4096 + 16);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  for (std::size_t start = 0; start < 16; ++start) {
    for (std::size_t n : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1000, 4096}) {
      EXPECT_EQ(crc32c_extend(0, data.data() + start, n),
                crc32c_extend_portable(0, data.data() + start, n))
          << "start " << start << ", length " << n
          << (crc32c_uses_hardware() ? " (hardware path)" : " (table path only)");
    }
  }
}

TEST(Crc32c, ExtendingEqualsChecksummingTheConcatenation) {
  std::mt19937 rng(8);
  std::vector<std::uint8_t> data(777);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  const std::uint32_t whole = crc32c(data.data(), data.size());
  for (std::size_t split : {0, 1, 5, 8, 100, 776, 777}) {
    const std::uint32_t first = crc32c(data.data(), split);
    EXPECT_EQ(crc32c_extend(first, data.data() + split, data.size() - split), whole) << split;
    EXPECT_EQ(crc32c_extend_portable(first, data.data() + split, data.size() - split), whole)
        << split;
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::vector<std::uint8_t> data(256);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31);
  const std::uint32_t good = crc32c(data.data(), data.size());
  for (std::size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_NE(crc32c(data.data(), data.size()), good) << "bit " << bit;
    data[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace knnx::detail
