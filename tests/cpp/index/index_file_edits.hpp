// Hostile index files for the loader tests: a saved file with one section's payload or its
// header changed (every checksum recomputed, so the loader's content checks are what refuse it),
// and the check that loading fails with FormatError naming the part.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/crc32c.hpp"
#include "core/index_file.hpp"
#include "knnx/error.hpp"
#include "knnx/index_io.hpp"

namespace knnx::test {

namespace fmtv = detail::index_file;

inline std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
}

inline std::string write_edited(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const std::string out = path + ".edited";
  std::ofstream(out, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return out;
}

// The bytes of a file with one section's payload changed by edit, every checksum recomputed.
template <typename Edit>
inline std::string with_section_edit(const std::string& path, fmtv::SectionKind kind,
                                     const Edit& edit) {
  std::vector<std::uint8_t> bytes = file_bytes(path);
  fmtv::Header h = fmtv::decode_header(bytes.data());
  std::vector<fmtv::SectionEntry> sections;
  for (std::uint32_t i = 0; i < h.section_count; ++i) {
    sections.push_back(fmtv::decode_section_entry(bytes.data() + 128 + 32 * i));
  }
  for (fmtv::SectionEntry& s : sections) {
    if (s.kind != static_cast<std::uint32_t>(kind)) continue;
    edit(bytes.data() + s.offset, s.size);
    s.crc = detail::crc32c(bytes.data() + s.offset, s.size);
  }
  const std::vector<std::uint8_t> table = fmtv::encode_table(sections);
  std::memcpy(bytes.data() + 128, table.data(), table.size());
  h.table_crc = detail::crc32c(table.data(), table.size());
  const auto header = fmtv::encode_header(h);
  std::memcpy(bytes.data(), header.data(), header.size());
  return write_edited(path, bytes);
}

inline void expect_format_error(const std::string& path, const std::string& part) {
  try {
    read_index(path);
    ADD_FAILURE() << "read_index accepted " << path;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// The file at path with its header changed by edit (the header checksum recomputed).
template <typename Edit>
inline std::string with_header_edit(const std::string& path, const Edit& edit) {
  std::vector<std::uint8_t> bytes = file_bytes(path);
  fmtv::Header h = fmtv::decode_header(bytes.data());
  edit(h);
  const auto header = fmtv::encode_header(h);
  std::memcpy(bytes.data(), header.data(), header.size());
  return write_edited(path, bytes);
}

}  // namespace knnx::test
