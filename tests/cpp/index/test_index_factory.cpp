// index_factory: the specs it builds, and the ones it refuses with a message naming them.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace knnx {
namespace {

TEST(IndexFactory, Flat) {
  const auto index = index_factory(12, "Flat", Metric::InnerProduct);
  const auto* flat = dynamic_cast<const IndexFlat*>(index.get());
  ASSERT_NE(flat, nullptr);
  EXPECT_EQ(flat->dim(), 12);
  EXPECT_EQ(flat->metric(), Metric::InnerProduct);
  EXPECT_TRUE(flat->device().is_cpu());
  EXPECT_NE(dynamic_cast<const IndexFlat*>(index_factory(3, " Flat ").get()), nullptr);
}

TEST(IndexFactory, IvfFlat) {
  for (const char* spec : {"IVF4096,Flat", "IVF4096, Flat", " IVF4096 ,Flat"}) {
    const auto index = index_factory(8, spec);
    const auto* ivf = dynamic_cast<const IndexIVFFlat*>(index.get());
    ASSERT_NE(ivf, nullptr) << spec;
    EXPECT_EQ(ivf->n_lists(), 4096) << spec;
    EXPECT_EQ(ivf->dim(), 8);
    EXPECT_EQ(ivf->metric(), Metric::L2);
    EXPECT_FALSE(ivf->is_trained());
  }
  EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(*index_factory(8, "IVF1,Flat")).n_lists(), 1);
}

TEST(IndexFactory, RejectsOtherSpecsNamingThem) {
  struct Case {
    const char* spec;
    const char* why;
  };
  const Case cases[] = {
      {"", "empty component"},
      {",Flat", "empty component"},
      {"IVF16,,Flat", "empty component"},
      {"flat", "storage 'Flat', got 'flat'"},
      {"IVF16", "storage 'Flat', got 'IVF16'"},
      {"HNSW32,Flat", "'HNSW32' is not a coarse quantizer"},
      {"IVF,Flat", "'IVF' needs a number of lists"},
      {"IVF0,Flat", "'IVF0': the number of lists must be >= 1"},
      {"IVF-3,Flat", "decimal integer"},
      {"IVF16x,Flat", "decimal integer"},
      {"IVF99999999999,Flat", "at most 2147483647"},
      {"PCA64,IVF16,Flat", "'PCA64' is not supported"},
      {"IVF16,PQ8", "storage 'Flat', got 'PQ8'"},
  };
  for (const Case& c : cases) {
    try {
      index_factory(8, c.spec);
      ADD_FAILURE() << "accepted \"" << c.spec << "\"";
    } catch (const InvalidArgument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("\"") + c.spec + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.why), std::string::npos) << msg;
      EXPECT_NE(msg.find("IVF<n_lists>,Flat"), std::string::npos) << msg;
    }
  }
}

TEST(IndexFactory, ParseWithoutBuilding) {
  EXPECT_EQ(parse_index_spec("Flat").kind, IndexSpec::Kind::Flat);
  const IndexSpec ivf = parse_index_spec("IVF2147483647,Flat");  // parsed, never allocated
  EXPECT_EQ(ivf.kind, IndexSpec::Kind::IVFFlat);
  EXPECT_EQ(ivf.n_lists, 2147483647);
  EXPECT_THROW(parse_index_spec("IVF16,PQ8"), InvalidArgument);
  const auto index = index_factory(5, parse_index_spec("IVF3,Flat"), Metric::InnerProduct);
  EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(*index).n_lists(), 3);
  EXPECT_EQ(index->metric(), Metric::InnerProduct);
}

TEST(IndexFactory, DimensionAndDeviceAreCheckedByTheIndexes) {
  EXPECT_THROW(index_factory(0, "Flat"), InvalidArgument);
  EXPECT_THROW(index_factory(kMaxDim + 1, "IVF8,Flat"), InvalidArgument);
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(index_factory(8, "Flat", Metric::L2, Device::cuda(0)), NotSupported);
    EXPECT_THROW(index_factory(8, "IVF8,Flat", Metric::L2, Device::cuda(0)), NotSupported);
  }
}

}  // namespace
}  // namespace knnx
