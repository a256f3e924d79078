// libFuzzer target for the index-file loader: read_index and read_index_info on arbitrary
// bytes, as given and again with the checksums and file size rewritten to match the bytes (so
// that mutations get past the CRC checks and reach the section and content validation).
// A file that loads is searched and its stored vectors are read back, and it is loaded again
// with its rows memory-mapped.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/crc32c.hpp"
#include "core/index_file.hpp"
#include "fuzz_util.hpp"
#include "knnx/index.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"

namespace {

namespace fmtv = knnx::detail::index_file;

// Header field offsets (docs/file_format.md, "Header").
constexpr std::size_t kOffFileSize = 56;
constexpr std::size_t kOffSectionCount = 64;
constexpr std::size_t kOffTableCrc = 68;
constexpr std::size_t kOffHeaderCrc = 124;

template <typename T>
void put(std::vector<std::uint8_t>& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof value);
}

// Rewrites the file size, every section checksum whose section lies inside the file, the table
// checksum and the header checksum so that they match the bytes. Returns false when the bytes
// are too short to have a header.
bool fix_checksums(std::vector<std::uint8_t>& b) {
  if (b.size() < fmtv::kHeaderBytes) return false;
  put<std::uint64_t>(b, kOffFileSize, b.size());
  std::uint32_t count = 0;
  std::memcpy(&count, b.data() + kOffSectionCount, sizeof count);
  count = std::min(count, fmtv::kMaxSections);
  const std::size_t table_bytes = std::min<std::size_t>(
      std::size_t{count} * fmtv::kSectionEntryBytes, b.size() - fmtv::kHeaderBytes);
  for (std::size_t e = fmtv::kHeaderBytes;
       e + fmtv::kSectionEntryBytes <= fmtv::kHeaderBytes + table_bytes;
       e += fmtv::kSectionEntryBytes) {
    const fmtv::SectionEntry s = fmtv::decode_section_entry(b.data() + e);
    if (s.offset <= b.size() && s.size <= b.size() - s.offset) {
      put<std::uint32_t>(b, e + 24, knnx::detail::crc32c(b.data() + s.offset, s.size));
    }
  }
  put<std::uint32_t>(b, kOffTableCrc,
                     knnx::detail::crc32c(b.data() + fmtv::kHeaderBytes, table_bytes));
  put<std::uint32_t>(b, kOffHeaderCrc, knnx::detail::crc32c(b.data(), kOffHeaderCrc));
  return true;
}

void load(const knnx::fuzz::ScratchFile& file) {
  knnx::fuzz::loads([&] { knnx::read_index_info(file.path()); });
  knnx::fuzz::loads([&] {
    std::unique_ptr<knnx::Index> index;
    try {
      index = knnx::read_index(file.path());
    } catch (const knnx::NotSupported& e) {
      // read_index hands FAISS files to the FAISS reader, which refuses the FAISS index types
      // it does not read with NotSupported (as fuzz_faiss_index allows); anything else is not.
      if (std::string(e.what()).find("FAISS") == std::string::npos) throw;
      return;
    }
    knnx::fuzz::exercise(*index);
    // The same file loads with its host rows mapped (read_index with mmap).
    const std::unique_ptr<knnx::Index> mapped =
        knnx::read_index(file.path(), knnx::Device::cpu(), knnx::ReadIndexOptions{.mmap = true});
    knnx::fuzz::exercise(*mapped);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const knnx::fuzz::ScratchFile file(".knnx");
  file.write(data, size);
  load(file);
  std::vector<std::uint8_t> fixed(data, data + size);
  if (fix_checksums(fixed) && !std::equal(fixed.begin(), fixed.end(), data)) {
    file.write(fixed.data(), fixed.size());
    load(file);
  }
  return 0;
}
