// Where IndexRefineFlat keeps its exact vectors (RefineStorage): loaded with mmap they are mapped
// read-only from the file and answer exactly as in host memory, bit for bit; a mapped index
// refuses changes with NotSupported (unchanged), saves like any index (also over its own file)
// and becomes writable through set_refine_storage(Host). An IndexFlat loaded with mmap maps its
// rows too. Hostile files (truncated, a corrupt vectors section, a file that shrank before
// mapping: test_file_faults) are FormatErrors. Storage that needs a CUDA base refuses a CPU one.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/index_file.hpp"
#include "gaussian_data.hpp"
#include "index_file_edits.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_refine.hpp"
#include "search_result.hpp"
#include "temp_dir.hpp"

namespace knnx {
namespace {

constexpr int kDim = 12;
namespace fmtv = detail::index_file;
const ReadIndexOptions kMmap{.mmap = true};

// Trained, 500 vectors, two removed, 50 more with ids of their own; k_factor 4.
std::unique_ptr<Index> filled(const std::string& spec, Metric metric) {
  std::unique_ptr<Index> index = index_factory(kDim, spec, metric);
  const std::vector<float> x = test::gaussian(550, kDim, 31);
  index->train(550, x.data());
  index->add(500, x.data());
  const idx_t gone[] = {0, 77};
  index->remove_ids(2, gone);
  std::vector<idx_t> ids(50);
  for (idx_t i = 0; i < 50; ++i) ids[static_cast<std::size_t>(i)] = 9000 + 5 * i;
  index->add_with_ids(50, x.data() + 500 * kDim, ids.data());
  dynamic_cast<IndexRefineFlat&>(*index).set_k_factor(4.0f);
  return index;
}

const IndexRefineFlat& as_refine(const Index& index) {
  return dynamic_cast<const IndexRefineFlat&>(index);
}

TEST(RefineStorage, MappedAnswersAsHostBitForBit) {
  test::TempDir dir("knnx_refine_storage");
  const std::vector<float> q = test::gaussian(25, kDim, 32);
  for (const char* spec : {"IVF8,PQ4,RFlat", "SQ8,RFlat", "Flat,RFlat"}) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      SCOPED_TRACE(testing::Message() << spec << " metric " << int(metric));
      const std::string path = dir.file("refine.knnx");
      write_index(*filled(spec, metric), path);
      const std::unique_ptr<Index> host = read_index(path);
      const std::unique_ptr<Index> mapped = read_index(path, Device::cpu(), kMmap);
      EXPECT_EQ(as_refine(*host).refine_storage(), RefineStorage::Host);
      ASSERT_EQ(as_refine(*mapped).refine_storage(), RefineStorage::Mapped);
      for (int k : {1, 10, 40}) {
        EXPECT_EQ(test::search(*mapped, 25, q.data(), k), test::search(*host, 25, q.data(), k));
      }
      EXPECT_EQ(as_refine(*mapped).refine_index().vectors(),
                as_refine(*host).refine_index().vectors());
      std::vector<float> a(kDim), b(kDim);
      mapped->reconstruct(9005, a.data());
      host->reconstruct(9005, b.data());
      EXPECT_EQ(a, b);
    }
  }
}

TEST(RefineStorage, MappedIndexIsReadOnlyUntilCopiedToHost) {
  test::TempDir dir("knnx_refine_storage");
  const std::string path = dir.file("refine.knnx");
  write_index(*filled("SQ8,RFlat", Metric::L2), path);
  const std::unique_ptr<Index> host = read_index(path);
  std::unique_ptr<Index> mapped = read_index(path, Device::cpu(), kMmap);
  const std::vector<float> q = test::gaussian(10, kDim, 33);
  const test::SearchResult before = test::search(*mapped, 10, q.data(), 5);
  const std::vector<float> more = test::gaussian(4, kDim, 34);
  const idx_t ids[] = {1, 2, 3, 4};
  const idx_t new_ids[] = {20001, 20002, 20003, 20004};
  EXPECT_THROW(mapped->add(4, more.data()), NotSupported);
  EXPECT_THROW(mapped->add_with_ids(4, more.data(), new_ids), NotSupported);
  EXPECT_THROW(mapped->remove_ids(4, ids), NotSupported);
  EXPECT_THROW(mapped->reset(), NotSupported);
  EXPECT_EQ(mapped->ntotal(), 548);
  EXPECT_EQ(test::search(*mapped, 10, q.data(), 5), before);
  EXPECT_EQ(as_refine(*mapped).base_index().ntotal(), 548);

  auto& refine = dynamic_cast<IndexRefineFlat&>(*mapped);
  EXPECT_THROW(refine.set_refine_storage(RefineStorage::Device), InvalidArgument);
  EXPECT_EQ(refine.refine_storage(), RefineStorage::Mapped);
  refine.set_refine_storage(RefineStorage::Host);
  EXPECT_EQ(refine.refine_storage(), RefineStorage::Host);
  EXPECT_EQ(test::search(*mapped, 10, q.data(), 5), before);
  // Writable now, and numbering as the index loaded without mmap.
  mapped->add(4, more.data());
  host->add(4, more.data());
  EXPECT_EQ(test::search(*mapped, 10, q.data(), 5), test::search(*host, 10, q.data(), 5));
  EXPECT_EQ(mapped->remove_ids(4, ids), host->remove_ids(4, ids));
}

TEST(RefineStorage, MappedIndexSavesAsTheFileItMaps) {
  test::TempDir dir("knnx_refine_storage");
  const std::string path = dir.file("refine.knnx");
  write_index(*filled("IVF8,PQ4,RFlat", Metric::L2), path);
  const std::vector<std::uint8_t> bytes = test::file_bytes(path);
  const std::unique_ptr<Index> mapped = read_index(path, Device::cpu(), kMmap);
  const std::string copy = dir.file("copy.knnx");
  write_index(*mapped, copy);
  EXPECT_EQ(test::file_bytes(copy), bytes);
  // Over the file it maps: the rename leaves the mapping on the old file's data.
  write_index(*mapped, path);
  EXPECT_EQ(test::file_bytes(path), bytes);
  const std::vector<float> q = test::gaussian(10, kDim, 35);
  EXPECT_EQ(test::search(*mapped, 10, q.data(), 8),
            test::search(*read_index(path), 10, q.data(), 8));
}

TEST(RefineStorage, FlatIndexRowsMapToo) {
  test::TempDir dir("knnx_refine_storage");
  const std::string path = dir.file("flat.knnx");
  IndexFlat flat(kDim, Metric::InnerProduct);
  const std::vector<float> x = test::gaussian(300, kDim, 36);
  flat.add(300, x.data());
  write_index(flat, path);
  const std::unique_ptr<Index> mapped = read_index(path, Device::cpu(), kMmap);
  const std::vector<float> q = test::gaussian(10, kDim, 37);
  EXPECT_EQ(test::search(*mapped, 10, q.data(), 9), test::search(flat, 10, q.data(), 9));
  EXPECT_THROW(mapped->add(300, x.data()), NotSupported);
  EXPECT_EQ(mapped->ntotal(), 300);
  EXPECT_EQ(dynamic_cast<const IndexFlat&>(*mapped).vectors(), x);
}

TEST(RefineStorage, HostileFilesAreFormatErrorsWithMmap) {
  test::TempDir dir("knnx_refine_storage");
  const std::string path = dir.file("refine.knnx");
  write_index(*filled("SQ8,RFlat", Metric::L2), path);
  std::vector<std::uint8_t> bytes = test::file_bytes(path);
  const auto load = [](const std::string& p) { return read_index(p, Device::cpu(), kMmap); };

  // Truncated: the vectors and ids sections run past the end.
  bytes.resize(bytes.size() - 100);
  EXPECT_THROW(load(test::write_edited(path, bytes)), FormatError);
  // Oversized: bytes past the end the header declares.
  bytes = test::file_bytes(path);
  bytes.resize(bytes.size() + 64, 0);
  EXPECT_THROW(load(test::write_edited(path, bytes)), FormatError);
  // A flipped byte of the vectors section: its checksum no longer matches.
  bytes = test::file_bytes(path);
  const fmtv::Header h = fmtv::decode_header(bytes.data());
  for (std::uint32_t i = 0; i < h.section_count; ++i) {
    const fmtv::SectionEntry s = fmtv::decode_section_entry(bytes.data() + 128 + 32 * i);
    if (s.kind == static_cast<std::uint32_t>(fmtv::SectionKind::Vectors)) {
      bytes[s.offset + 17] ^= 0x40;
    }
  }
  EXPECT_THROW(load(test::write_edited(path, bytes)), FormatError);
  // A NaN among the vectors (checksums recomputed): found while reading through the mapping.
  const std::string nan_file =
      test::with_section_edit(path, fmtv::SectionKind::Vectors, [](std::uint8_t* p, std::size_t) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(p + 4 * kDim, &nan, sizeof nan);
      });
  EXPECT_THROW(load(nan_file), FormatError);
}

TEST(RefineStorage, StorageChoicesNeedTheirDevice) {
  EXPECT_THROW(IndexRefineFlat(std::make_unique<IndexFlat>(kDim), 1.0f, RefineStorage::Device),
               InvalidArgument);
  EXPECT_THROW(IndexRefineFlat(std::make_unique<IndexFlat>(kDim), 1.0f, RefineStorage::Mapped),
               InvalidArgument);
  IndexRefineFlat index(std::make_unique<IndexFlat>(kDim));
  EXPECT_EQ(index.refine_storage(), RefineStorage::Host);
  index.set_refine_storage(RefineStorage::Host);
  EXPECT_THROW(index.set_refine_storage(RefineStorage::Mapped), InvalidArgument);
  EXPECT_STREQ(to_string(RefineStorage::Mapped), "mapped");
}

}  // namespace
}  // namespace knnx
