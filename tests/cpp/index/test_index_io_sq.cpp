// Index files of IndexScalarQuantizer and IndexIVFScalarQuantizer (docs/file_format.md): a loaded
// index answers exactly as the saved one, keeps its ids, lists, settings and id counter, and a
// file whose codes or ranges break the format's rules is refused with FormatError.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/index_file.hpp"
#include "gaussian_data.hpp"
#include "index_file_edits.hpp"
#include "knnx/error.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "search_result.hpp"
#include "temp_dir.hpp"

namespace knnx {
namespace {

namespace fmtv = detail::index_file;
using test::expect_format_error;
using test::with_header_edit;
using test::with_section_edit;
using Type = ScalarQuantizer::Type;

constexpr int kDim = 12;

std::unique_ptr<IndexScalarQuantizerBase> filled(bool ivf, Type type, Metric metric,
                                                 bool by_residual) {
  std::unique_ptr<IndexScalarQuantizerBase> index;
  if (ivf) {
    auto i = std::make_unique<IndexIVFScalarQuantizer>(kDim, 8, type, metric, by_residual);
    i->set_n_probe(3);
    index = std::move(i);
  } else {
    index = std::make_unique<IndexScalarQuantizer>(kDim, type, metric);
  }
  const std::vector<float> x = test::gaussian(400, kDim, 11);
  index->train(400, x.data());
  index->add(300, x.data());
  const idx_t gone[] = {3, 299};
  index->remove_ids(2, gone);
  std::vector<idx_t> ids(100);
  for (idx_t i = 0; i < 100; ++i) ids[static_cast<std::size_t>(i)] = 5000 + 2 * i;
  index->add_with_ids(100, x.data() + 300 * kDim, ids.data());
  return index;
}

TEST(IndexIoSq, RoundTripAnswersAsTheSavedIndex) {
  test::TempDir dir("knnx_index_io_sq");
  const std::vector<float> q = test::gaussian(20, kDim, 12);
  for (bool ivf : {false, true}) {
    for (Type type : {Type::QT_8bit, Type::QT_4bit, Type::QT_fp16, Type::QT_bf16}) {
      for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
        for (bool by_residual : {true, false}) {
          if (!ivf && !by_residual) continue;
          SCOPED_TRACE(testing::Message() << "ivf " << ivf << " " << ScalarQuantizer::type_name(type)
                                          << " metric " << int(metric) << " residual "
                                          << by_residual);
          const auto saved = filled(ivf, type, metric, by_residual);
          const std::string path = dir.file("sq.knnx");
          write_index(*saved, path);
          const std::unique_ptr<Index> loaded = read_index(path);
          const auto* sq = dynamic_cast<const IndexScalarQuantizerBase*>(loaded.get());
          ASSERT_NE(sq, nullptr);
          EXPECT_EQ(sq->quantizer_type(), type);
          EXPECT_EQ(loaded->ntotal(), saved->ntotal());
          EXPECT_EQ(loaded->metric(), metric);
          EXPECT_EQ(test::search(*loaded, 20, q.data(), 7), test::search(*saved, 20, q.data(), 7));
          std::vector<float> a(kDim), b(kDim);
          saved->reconstruct(5010, a.data());
          loaded->reconstruct(5010, b.data());
          EXPECT_EQ(a, b);
          if (ivf) {
            const auto& li = dynamic_cast<const IndexIVFScalarQuantizer&>(*loaded);
            const auto& si = dynamic_cast<const IndexIVFScalarQuantizer&>(*saved);
            EXPECT_EQ(li.n_probe(), 3);
            EXPECT_EQ(li.by_residual(), by_residual);
            EXPECT_EQ(li.list_sizes(), si.list_sizes());
            EXPECT_EQ(li.list_ids(2), si.list_ids(2));
            EXPECT_EQ(li.centroids(), si.centroids());
          }
          // add() numbers past the largest id ever held, as before saving.
          const std::vector<float> one = test::gaussian(1, kDim, 13);
          loaded->add(1, one.data());
          EXPECT_NO_THROW(loaded->reconstruct(5000 + 2 * 99 + 1, a.data()));
          const IndexFileInfo info = read_index_info(path);
          EXPECT_EQ(info.index_type, ivf ? "IVFScalarQuantizer" : "ScalarQuantizer");
          EXPECT_EQ(info.quantizer, ScalarQuantizer::type_name(type));
        }
      }
    }
  }
}

TEST(IndexIoSq, UntrainedIndexesRoundTrip) {
  test::TempDir dir("knnx_index_io_sq");
  const std::string path = dir.file("sq.knnx");
  write_index(IndexScalarQuantizer(kDim, Type::QT_8bit), path);
  EXPECT_FALSE(read_index(path)->is_trained());
  write_index(IndexIVFScalarQuantizer(kDim, 4, Type::QT_fp16), path);
  const std::unique_ptr<Index> ivf = read_index(path);
  EXPECT_FALSE(ivf->is_trained());
  EXPECT_EQ(dynamic_cast<const IndexIVFScalarQuantizer&>(*ivf).n_lists(), 4);
}

TEST(IndexIoSq, BrokenContentsAreRefused) {
  test::TempDir dir("knnx_index_io_sq");
  const std::string path = dir.file("sq.knnx");
  write_index(*filled(false, Type::QT_bf16, Metric::L2, true), path);
  // A bfloat16 NaN among the codes.
  expect_format_error(with_section_edit(path, fmtv::SectionKind::Codes,
                                        [](std::uint8_t* p, std::uint64_t) {
                                          p[40] = 0xc0;
                                          p[41] = 0x7f;
                                        }),
                      "non-finite SQbf16 value in row 1, component 8");
  write_index(*filled(true, Type::QT_8bit, Metric::L2, true), path);
  // A negative range width.
  expect_format_error(with_section_edit(path, fmtv::SectionKind::SqRanges,
                                        [](std::uint8_t* p, std::uint64_t size) {
                                          const float v = -1.0f;
                                          std::memcpy(p + size - 4, &v, 4);
                                        }),
                      "section 'sq_ranges'");
  // A quantizer type that does not exist.
  expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.quantizer = 7; }),
                      "unknown scalar quantizer type 7");
}

}  // namespace
}  // namespace knnx
