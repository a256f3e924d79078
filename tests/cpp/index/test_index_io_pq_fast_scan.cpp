// Index files of IndexPQFastScan and IndexIVFPQFastScan (index types 7 and 8 of
// docs/file_format.md): a loaded index answers exactly as the saved one and keeps its codes, ids,
// lists and settings; headers that break the types' rules (code width, odd pq_m, sizes that the
// bytes present cannot hold) are refused with FormatError before anything is allocated.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/index_file.hpp"
#include "gaussian_data.hpp"
#include "index_file_edits.hpp"
#include "knnx/error.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_pq_fast_scan.hpp"
#include "search_result.hpp"
#include "temp_dir.hpp"

namespace knnx {
namespace {

namespace fmtv = detail::index_file;
using test::expect_format_error;
using test::with_header_edit;

constexpr int kDim = 12;

std::unique_ptr<Index> filled(bool ivf, Metric metric, bool by_residual = true) {
  std::unique_ptr<Index> index;
  ProductQuantizerParams p;
  p.kmeans_iter = 4;
  if (ivf) {
    auto i = std::make_unique<IndexIVFPQFastScan>(kDim, 6, 6, metric, Device::cpu(), by_residual);
    i->set_pq_params(p);
    i->set_n_probe(3);
    index = std::move(i);
  } else {
    auto i = std::make_unique<IndexPQFastScan>(kDim, 6, metric);
    i->set_pq_params(p);
    index = std::move(i);
  }
  const std::vector<float> x = test::gaussian(400, kDim, 21);
  index->train(400, x.data());
  index->add(300, x.data());
  const idx_t gone[] = {3, 40, 299};
  index->remove_ids(3, gone);
  std::vector<idx_t> ids(100);
  for (idx_t i = 0; i < 100; ++i) ids[static_cast<std::size_t>(i)] = 7000 + 3 * i;
  index->add_with_ids(100, x.data() + 300 * kDim, ids.data());
  return index;
}

TEST(IndexIoPqFastScan, RoundTripAnswersAsTheSavedIndex) {
  test::TempDir dir("knnx_index_io_pq4");
  const std::vector<float> q = test::gaussian(20, kDim, 22);
  for (int kind : {0, 1, 2}) {  // PQ, IVF of residuals, IVF of the vectors
    const bool ivf = kind > 0;
    for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
      SCOPED_TRACE(testing::Message() << "kind " << kind << " metric " << int(metric));
      const auto saved = filled(ivf, metric, kind == 1);
      const std::string path = dir.file("pq4.knnx");
      write_index(*saved, path);
      const std::unique_ptr<Index> loaded = read_index(path);
      EXPECT_EQ(loaded->ntotal(), saved->ntotal());
      EXPECT_EQ(loaded->metric(), metric);
      EXPECT_EQ(test::search(*loaded, 20, q.data(), 7), test::search(*saved, 20, q.data(), 7));
      std::vector<float> a(kDim), b(kDim);
      saved->reconstruct(7030, a.data());
      loaded->reconstruct(7030, b.data());
      EXPECT_EQ(a, b);
      if (ivf) {
        const auto& li = dynamic_cast<const IndexIVFPQFastScan&>(*loaded);
        const auto& si = dynamic_cast<const IndexIVFPQFastScan&>(*saved);
        EXPECT_EQ(li.n_probe(), 3);
        EXPECT_EQ(li.pq().nbits(), 4);
        EXPECT_EQ(li.by_residual(), kind == 1);
        for (int l = 0; l < li.n_lists(); ++l) {
          EXPECT_EQ(li.list_ids(l), si.list_ids(l));
          EXPECT_EQ(li.list_codes(l), si.list_codes(l));
        }
      } else {
        const auto& lp = dynamic_cast<const IndexPQFastScan&>(*loaded);
        const auto& sp = dynamic_cast<const IndexPQFastScan&>(*saved);
        EXPECT_EQ(lp.codes(), sp.codes());
        EXPECT_EQ(lp.ids(), sp.ids());
        EXPECT_EQ(lp.pq().centroids(), sp.pq().centroids());
      }
      const IndexFileInfo info = read_index_info(path);
      EXPECT_EQ(info.index_type, ivf ? "IVFPQFastScan" : "PQFastScan");
      EXPECT_EQ(info.pq_m, 6);
      EXPECT_EQ(info.pq_nbits, 4);
    }
  }
  // Untrained indexes too.
  write_index(IndexIVFPQFastScan(kDim, 4, 6), dir.file("untrained.knnx"));
  EXPECT_FALSE(read_index(dir.file("untrained.knnx"))->is_trained());
}

TEST(IndexIoPqFastScan, HostileHeadersAreRefused) {
  test::TempDir dir("knnx_index_io_pq4");
  for (bool ivf : {false, true}) {
    const std::string path = dir.file("pq4.knnx");
    write_index(*filled(ivf, Metric::L2), path);
    expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.pq_nbits = 8; }),
                        "the fast-scan types hold 4-bit codes");
    expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.pq_m = 3; }), "not even");
    // A different pq_m changes the sizes the codes and codebooks must have.
    expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.pq_m = 12; }), "section '");
    // A huge ntotal is refused from the sizes, before anything is allocated.
    expect_format_error(with_header_edit(path, [](fmtv::Header& h) { h.ntotal = 1ull << 40; }),
                        "section '");
    // An 8-bit type with the 4-bit sizes.
    expect_format_error(with_header_edit(path,
                                         [ivf](fmtv::Header& h) {
                                           h.index_type = static_cast<std::uint32_t>(
                                               ivf ? fmtv::IndexType::IVFPQ : fmtv::IndexType::PQ);
                                         }),
                        "pq_nbits is 4");
  }
}

}  // namespace
}  // namespace knnx
