// Index files of IndexRefineFlat (docs/file_format.md, index type 9): a loaded index answers
// exactly as the saved one, with its base index, exact vectors, ids, k_factor and id counter;
// a file whose nested base index, refine record or sizes break the format is a FormatError.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "core/index_file.hpp"
#include "gaussian_data.hpp"
#include "index_file_edits.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/transform.hpp"
#include "search_result.hpp"
#include "temp_dir.hpp"

namespace knnx {
namespace {

namespace fmtv = detail::index_file;
using test::expect_format_error;
using test::file_bytes;
using test::with_header_edit;
using test::with_section_edit;

constexpr int kDim = 8;

// Trained, 300 vectors added, two removed, 100 added with ids of their own.
std::unique_ptr<Index> filled(const std::string& spec, Metric metric) {
  std::unique_ptr<Index> index = index_factory(kDim, spec, metric);
  const std::vector<float> x = test::gaussian(400, kDim, 21);
  index->train(400, x.data());
  index->add(300, x.data());
  const idx_t gone[] = {4, 299};
  index->remove_ids(2, gone);
  std::vector<idx_t> ids(100);
  for (idx_t i = 0; i < 100; ++i) ids[static_cast<std::size_t>(i)] = 7000 + 3 * i;
  index->add_with_ids(100, x.data() + 300 * kDim, ids.data());
  dynamic_cast<IndexRefineFlat&>(*index).set_k_factor(3.5f);
  return index;
}

// A RefineFlat file around the base file's bytes, written field by field (so that it may break
// the rules write_index keeps): header h (ntotal, dim, next_id as given), vectors and ids.
void write_refine_file(const std::string& path, fmtv::Header h, float k_factor,
                       const std::vector<std::uint8_t>& base, const std::vector<float>& vectors,
                       const std::vector<idx_t>& ids) {
  h.index_type = static_cast<std::uint32_t>(fmtv::IndexType::RefineFlat);
  std::vector<fmtv::SectionSpec> sections = fmtv::required_sections(h, path);
  for (fmtv::SectionSpec& s : sections) {
    if (s.kind == fmtv::SectionKind::BaseIndex) s.size = base.size();
  }
  fmtv::Writer out(path, h, sections);
  const auto record = fmtv::encode_refine(k_factor);
  out.begin_section(fmtv::SectionKind::RefineParams);
  out.write(record.data(), record.size());
  out.end_section();
  out.begin_section(fmtv::SectionKind::BaseIndex);
  out.write(base.data(), base.size());
  out.end_section();
  out.begin_section(fmtv::SectionKind::Vectors);
  out.write(vectors.data(), vectors.size() * sizeof(float));
  out.end_section();
  out.begin_section(fmtv::SectionKind::Ids);
  out.write(ids.data(), ids.size() * sizeof(idx_t));
  out.end_section();
  out.commit();
}

TEST(IndexIoRefine, RoundTripAnswersAsTheSavedIndex) {
  test::TempDir dir("knnx_index_io_refine");
  const std::vector<float> q = test::gaussian(20, kDim, 22);
  for (const char* spec : {"IVF16,PQ4,RFlat", "SQ8,RFlat", "PQ4x4fs,RFlat", "IVF8,Flat,RFlat"}) {
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      SCOPED_TRACE(testing::Message() << spec << " metric " << int(metric));
      const std::unique_ptr<Index> saved = filled(spec, metric);
      const std::string path = dir.file("refine.knnx");
      write_index(*saved, path);
      const std::unique_ptr<Index> loaded = read_index(path);
      const auto* refine = dynamic_cast<const IndexRefineFlat*>(loaded.get());
      ASSERT_NE(refine, nullptr);
      const auto& original = dynamic_cast<const IndexRefineFlat&>(*saved);
      EXPECT_EQ(refine->k_factor(), 3.5f);
      EXPECT_EQ(loaded->ntotal(), 398);
      EXPECT_EQ(loaded->metric(), metric);
      EXPECT_EQ(typeid(refine->base_index()), typeid(original.base_index()));
      EXPECT_EQ(refine->refine_index().ids(), original.refine_index().ids());
      EXPECT_EQ(refine->refine_index().vectors(), original.refine_index().vectors());
      EXPECT_EQ(test::search(*loaded, 20, q.data(), 7), test::search(*saved, 20, q.data(), 7));
      EXPECT_EQ(test::search(refine->base_index(), 20, q.data(), 7),
                test::search(original.base_index(), 20, q.data(), 7));
      // Both number new vectors alike, past every id ever held.
      const std::vector<float> more = test::gaussian(3, kDim, 23);
      std::unique_ptr<Index> again = read_index(path);
      saved->add(3, more.data());
      again->add(3, more.data());
      EXPECT_EQ(test::search(*again, 20, q.data(), 7), test::search(*saved, 20, q.data(), 7));
    }
  }
}

TEST(IndexIoRefine, UntrainedEmptyAndNestedRoundTrip) {
  test::TempDir dir("knnx_index_io_refine");
  const std::string path = dir.file("refine.knnx");
  write_index(*index_factory(kDim, "IVF16,PQ4,RFlat"), path);
  std::unique_ptr<Index> loaded = read_index(path);
  EXPECT_FALSE(loaded->is_trained());
  EXPECT_EQ(loaded->ntotal(), 0);
  const std::vector<float> x = test::gaussian(400, kDim, 24);
  loaded->train(400, x.data());
  loaded->add(10, x.data());
  EXPECT_EQ(loaded->ntotal(), 10);

  // A refine index over a refine index over a transform chain.
  auto nested = std::make_unique<IndexRefineFlat>(
      std::make_unique<IndexRefineFlat>(index_factory(kDim, "PCA4,IVF4,Flat"), 2.0f), 1.5f);
  nested->train(400, x.data());
  nested->add(200, x.data());
  write_index(*nested, path);
  loaded = read_index(path);
  const auto& outer = dynamic_cast<const IndexRefineFlat&>(*loaded);
  const auto& inner = dynamic_cast<const IndexRefineFlat&>(outer.base_index());
  EXPECT_EQ(outer.k_factor(), 1.5f);
  EXPECT_EQ(inner.k_factor(), 2.0f);
  EXPECT_NE(dynamic_cast<const IndexPreTransform*>(&inner.base_index()), nullptr);
  EXPECT_EQ(test::search(*loaded, 30, x.data(), 5), test::search(*nested, 30, x.data(), 5));

  // Transforms around a refine index: the chain is the outer file's.
  auto pca = std::make_shared<PCA>(kDim, 4);
  IndexPreTransform wrapped(pca,
                            std::make_unique<IndexRefineFlat>(index_factory(4, "IVF4,SQ8"), 2.5f));
  wrapped.train(400, x.data());
  wrapped.add(200, x.data());
  write_index(wrapped, path);
  loaded = read_index(path);
  const auto* pre = dynamic_cast<const IndexPreTransform*>(loaded.get());
  ASSERT_NE(pre, nullptr);
  EXPECT_EQ(dynamic_cast<const IndexRefineFlat&>(pre->index()).k_factor(), 2.5f);
  EXPECT_EQ(test::search(*loaded, 30, x.data(), 5), test::search(wrapped, 30, x.data(), 5));

  // Deeper than the format allows is refused on writing.
  std::unique_ptr<Index> deep = std::make_unique<IndexFlat>(kDim);
  for (int i = 0; i < fmtv::kMaxRefineDepth; ++i) {
    deep = std::make_unique<IndexRefineFlat>(std::move(deep));
  }
  write_index(*deep, path);  // kMaxRefineDepth levels: fine
  EXPECT_NE(dynamic_cast<const IndexRefineFlat*>(read_index(path).get()), nullptr);
  deep = std::make_unique<IndexRefineFlat>(std::move(deep));
  EXPECT_THROW(write_index(*deep, path), NotSupported);
}

TEST(IndexIoRefine, HostileFilesAreFormatErrors) {
  test::TempDir dir("knnx_index_io_refine");
  const std::string path = dir.file("refine.knnx");
  const std::unique_ptr<Index> saved = filled("SQ8,RFlat", Metric::L2);
  write_index(*saved, path);
  const std::vector<std::uint8_t> good = file_bytes(path);

  // Truncated anywhere, inside the nested file too.
  for (std::size_t cut : {std::size_t{100}, good.size() / 3, good.size() - 1}) {
    std::vector<std::uint8_t> bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    expect_format_error(test::write_edited(path, bytes), "");
  }
  // k_factor below 1, and reserved bytes set.
  expect_format_error(with_section_edit(path, fmtv::SectionKind::RefineParams,
                                        [](std::uint8_t* p, std::uint64_t) {
                                          const float half = 0.5f;
                                          std::memcpy(p, &half, 4);
                                        }),
                      "k_factor");
  expect_format_error(with_section_edit(path, fmtv::SectionKind::RefineParams,
                                        [](std::uint8_t* p, std::uint64_t) { p[9] = 1; }),
                      "reserved");
  // The nested file corrupt (the outer checksum recomputed): its own checksum catches it.
  expect_format_error(with_section_edit(path, fmtv::SectionKind::BaseIndex,
                                        [](std::uint8_t* p, std::uint64_t n) { p[n - 5] ^= 1; }),
                      "base_index");
  // A nested type no reader knows.
  expect_format_error(with_section_edit(path, fmtv::SectionKind::BaseIndex,
                                        [](std::uint8_t* p, std::uint64_t) { p[16] = 42; }),
                      "base_index");
  // ntotal lying: the sizes no longer match.
  expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.ntotal += 1; }), "");
  expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.ntotal = ~0ull >> 2; }), "");

  // Files built by hand around a base file.
  const std::string flat_path = dir.file("flat.knnx");
  IndexFlat flat(kDim);
  const std::vector<float> x = test::gaussian(10, kDim, 25);
  flat.add(10, x.data());
  write_index(flat, flat_path);
  const std::vector<std::uint8_t> flat_bytes = file_bytes(flat_path);
  fmtv::Header h;
  h.dim = kDim;
  h.flags = fmtv::kFlagTrained;
  h.ntotal = 10;
  h.next_id = 10;
  std::vector<idx_t> ids(10);
  for (idx_t i = 0; i < 10; ++i) ids[static_cast<std::size_t>(i)] = i;
  const std::string hand = dir.file("hand.knnx");
  write_refine_file(hand, h, 1.0f, flat_bytes, x, ids);
  EXPECT_EQ(read_index(hand)->ntotal(), 10);  // the hand-made file is a good one
  // The base's count, dim or metric unlike the header's.
  fmtv::Header fewer = h;
  fewer.ntotal = 9;
  fewer.next_id = 10;
  write_refine_file(hand, fewer, 1.0f, flat_bytes, std::vector<float>(x.begin(), x.end() - kDim),
                    std::vector<idx_t>(ids.begin(), ids.end() - 1));
  expect_format_error(hand, "base_index");
  fmtv::Header ip = h;
  ip.metric = 1;
  write_refine_file(hand, ip, 1.0f, flat_bytes, x, ids);
  expect_format_error(hand, "base_index");
  // The base is no index file at all, or empty.
  write_refine_file(hand, h, 1.0f, std::vector<std::uint8_t>(300, 7), x, ids);
  expect_format_error(hand, "base_index");
  write_refine_file(hand, h, 1.0f, {}, x, ids);
  expect_format_error(hand, "base_index");
  // Nested deeper than kMaxRefineDepth RefineFlat levels.
  std::vector<std::uint8_t> base = flat_bytes;
  for (int depth = 1; depth <= fmtv::kMaxRefineDepth + 1; ++depth) {
    write_refine_file(hand, h, 1.0f, base, x, ids);
    base = file_bytes(hand);
  }
  expect_format_error(hand, "nest");
  // Ids other than the base index's.
  std::vector<idx_t> other = ids;
  other[9] = 11;
  fmtv::Header more_ids = h;
  more_ids.next_id = 12;
  write_refine_file(hand, more_ids, 1.0f, flat_bytes, x, other);
  expect_format_error(hand, "other ids");
  // Ids repeated or beyond next_id.
  std::vector<idx_t> twice = ids;
  twice[3] = 2;
  write_refine_file(hand, h, 1.0f, flat_bytes, x, twice);
  expect_format_error(hand, "more than once");
}

}  // namespace
}  // namespace knnx
