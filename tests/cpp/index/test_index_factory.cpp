// index_factory: the specs it builds (indexes and the transform chains in front of them), and
// the ones it refuses with a message naming them and the component at fault.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/transform.hpp"

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
      {"HNSW32,Flat", "'HNSW32' is not a transform or coarse quantizer"},
      {"IVF,Flat", "'IVF' needs the number of lists"},
      {"IVF0,Flat", "'IVF0': the number of lists must be >= 1"},
      {"IVF-3,Flat", "decimal integer"},
      {"IVF16x,Flat", "decimal integer"},
      {"IVF99999999999,Flat", "at most 2147483647"},
      {"IVF16,PCA8,Flat", "the transform 'PCA8' must come before the coarse quantizer 'IVF16'"},
      {"IVF16,IVF4,Flat", "'IVF4' is a second coarse quantizer"},
      {"PCA,Flat", "'PCA' needs the output dimension, as in PCA64"},
      {"PCA0,Flat", "'PCA0': the output dimension must be >= 1"},
      {"PCAX8,Flat", "'PCAX8': the output dimension must be a decimal integer"},
      {"PCARW8,Flat", "'PCARW8': the output dimension must be a decimal integer"},
      {"RR,Flat", "'RR' needs the output dimension"},
      {"RR-4,Flat", "'RR-4': the output dimension must be a decimal integer"},
      {"OPQ,Flat", "'OPQ' needs the number of sub-spaces, as in OPQ16"},
      {"OPQ0,Flat", "'OPQ0': the number of sub-spaces must be >= 1"},
      {"OPQ4_,Flat", "'OPQ4_' needs the output dimension, as in OPQ16_64"},
      {"OPQ4_6,Flat", "'OPQ4_6': the 4 sub-spaces must divide the output dimension 6"},
      {"OPQ4_8_2,Flat", "'OPQ4_8_2': the output dimension must be a decimal integer"},
      {"L2Norm,Flat", "'L2Norm' is not a transform or coarse quantizer"},
      {"PCA8", "storage 'Flat', got 'PCA8'"},
      {"IVF16,HNSW32", "storage 'Flat', got 'HNSW32'"},
      {"PQ", "'PQ' needs the number of sub-quantizers, as in PQ16"},
      {"IVF16,PQ0", "'PQ0': the number of sub-quantizers must be >= 1"},
      {"PQ4xy", "'PQ4xy': the bits per code must be a decimal integer"},
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
  EXPECT_TRUE(parse_index_spec("Flat").transforms.empty());
  const IndexSpec ivf = parse_index_spec("IVF2147483647,Flat");  // parsed, never allocated
  EXPECT_EQ(ivf.kind, IndexSpec::Kind::IVFFlat);
  EXPECT_EQ(ivf.n_lists, 2147483647);
  EXPECT_THROW(parse_index_spec("IVF16,HNSW32"), InvalidArgument);
  const auto index = index_factory(5, parse_index_spec("IVF3,Flat"), Metric::InnerProduct);
  EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(*index).n_lists(), 3);
  EXPECT_EQ(index->metric(), Metric::InnerProduct);
}

TEST(IndexFactory, ProductQuantizers) {
  const IndexSpec pq = parse_index_spec("PQ16");
  EXPECT_EQ(pq.kind, IndexSpec::Kind::PQ);
  EXPECT_EQ(pq.pq_m, 16);
  EXPECT_EQ(pq.pq_nbits, 8);
  EXPECT_EQ(parse_index_spec("PQ16x8").pq_m, 16);
  EXPECT_EQ(parse_index_spec("IVF8,PQ12x8np").pq_m, 12);
  EXPECT_EQ(parse_index_spec("PQ12np").pq_m, 12);
  const IndexSpec ivf = parse_index_spec("IVF4096,PQ32");
  EXPECT_EQ(ivf.kind, IndexSpec::Kind::IVFPQ);
  EXPECT_EQ(ivf.n_lists, 4096);
  EXPECT_EQ(ivf.pq_m, 32);

  const auto flat_codes = index_factory(64, "PQ16x8", Metric::InnerProduct);
  const auto& index_pq = dynamic_cast<const IndexPQ&>(*flat_codes);
  EXPECT_EQ(index_pq.pq().M(), 16);
  EXPECT_EQ(index_pq.pq().nbits(), 8);
  EXPECT_EQ(index_pq.metric(), Metric::InnerProduct);
  const auto lists = index_factory(64, "IVF64,PQ32");
  const auto& ivf_pq = dynamic_cast<const IndexIVFPQ&>(*lists);
  EXPECT_EQ(ivf_pq.n_lists(), 64);
  EXPECT_EQ(ivf_pq.pq().M(), 32);
  const auto rotated = index_factory(64, "OPQ32,IVF64,PQ32");
  const auto& pre = dynamic_cast<const IndexPreTransform&>(*rotated);
  EXPECT_EQ(dynamic_cast<const OPQ&>(pre.transform()).m(), 32);
  EXPECT_EQ(dynamic_cast<const IndexIVFPQ&>(pre.index()).pq().M(), 32);

  // M must divide the dimension the quantizer receives (after the transforms).
  try {
    index_factory(60, "PCA30,PQ8");
    ADD_FAILURE() << "accepted PQ8 of 30 dimensions";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("PQ8 splits 30-dimensional"), std::string::npos)
        << e.what();
  }
  // 4-bit codes outside the fast-scan layout, and other widths: NotSupported naming the
  // component ("PQ32x4fs" is an IndexPQFastScan: test_index_pq_fast_scan.cpp).
  for (const char* spec : {"PQ32x4", "PQ8x12"}) {
    try {
      index_factory(64, spec);
      ADD_FAILURE() << "accepted " << spec;
    } catch (const NotSupported& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("\"") + spec + "\""), std::string::npos) << msg;
      EXPECT_NE(msg.find("-bit codes"), std::string::npos) << msg;
    }
  }
}

TEST(IndexFactory, DimensionAndDeviceAreCheckedByTheIndexes) {
  EXPECT_THROW(index_factory(0, "Flat"), InvalidArgument);
  EXPECT_THROW(index_factory(kMaxDim + 1, "IVF8,Flat"), InvalidArgument);
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(index_factory(8, "Flat", Metric::L2, Device::cuda(0)), NotSupported);
    EXPECT_THROW(index_factory(8, "IVF8,Flat", Metric::L2, Device::cuda(0)), NotSupported);
  }
}

TEST(IndexFactory, ParsesTransformComponents) {
  const IndexSpec spec =
      parse_index_spec("L2norm, PCAW64 ,PCAR32,PCAWR16,OPQ8,OPQ4_8,RR8,IVF7,Flat");
  EXPECT_EQ(spec.kind, IndexSpec::Kind::IVFFlat);
  EXPECT_EQ(spec.n_lists, 7);
  using K = TransformSpec::Kind;
  struct Want {
    K kind;
    const char* text;
    int d_out, m;
    bool whiten, rotate;
  };
  const Want want[] = {
      {K::L2Normalize, "L2norm", 0, 0, false, false}, {K::PCA, "PCAW64", 64, 0, true, false},
      {K::PCA, "PCAR32", 32, 0, false, true},         {K::PCA, "PCAWR16", 16, 0, true, true},
      {K::OPQ, "OPQ8", 0, 8, false, false},           {K::OPQ, "OPQ4_8", 8, 4, false, false},
      {K::RandomRotation, "RR8", 8, 0, false, false}};
  ASSERT_EQ(spec.transforms.size(), std::size(want));
  for (std::size_t i = 0; i < std::size(want); ++i) {
    const TransformSpec& t = spec.transforms[i];
    EXPECT_EQ(t.kind, want[i].kind) << i;
    EXPECT_EQ(t.text, want[i].text) << i;
    EXPECT_EQ(t.d_out, want[i].d_out) << i;
    EXPECT_EQ(t.m, want[i].m) << i;
    EXPECT_EQ(t.whiten, want[i].whiten) << i;
    EXPECT_EQ(t.rotate, want[i].rotate) << i;
  }
}

// The chain of wrappers below index, outermost first, and the index they feed.
std::vector<const VectorTransform*> chain_of(const Index& index, const Index** inner) {
  std::vector<const VectorTransform*> out;
  const Index* current = &index;
  while (const auto* pre = dynamic_cast<const IndexPreTransform*>(current)) {
    out.push_back(&pre->transform());
    current = &pre->index();
  }
  *inner = current;
  return out;
}

TEST(IndexFactory, BuildsTransformChains) {
  {
    const auto index = index_factory(128, "PCA64,IVF1024,Flat", Metric::InnerProduct);
    const Index* inner = nullptr;
    const auto chain = chain_of(*index, &inner);
    ASSERT_EQ(chain.size(), 1u);
    const auto* pca = dynamic_cast<const PCA*>(chain[0]);
    ASSERT_NE(pca, nullptr);
    EXPECT_EQ(pca->d_in(), 128);
    EXPECT_EQ(pca->d_out(), 64);
    EXPECT_FALSE(pca->params().whiten);
    const auto* ivf = dynamic_cast<const IndexIVFFlat*>(inner);
    ASSERT_NE(ivf, nullptr);
    EXPECT_EQ(ivf->dim(), 64);
    EXPECT_EQ(ivf->n_lists(), 1024);
    EXPECT_EQ(index->dim(), 128);
    EXPECT_EQ(index->metric(), Metric::InnerProduct);
    EXPECT_FALSE(index->is_trained());
  }
  {
    const auto index = index_factory(128, "OPQ16_64,Flat");
    const Index* inner = nullptr;
    const auto chain = chain_of(*index, &inner);
    ASSERT_EQ(chain.size(), 1u);
    const auto* opq = dynamic_cast<const OPQ*>(chain[0]);
    ASSERT_NE(opq, nullptr);
    EXPECT_EQ(opq->m(), 16);
    EXPECT_EQ(opq->d_in(), 128);
    EXPECT_EQ(opq->d_out(), 64);
    EXPECT_EQ(inner->dim(), 64);
    EXPECT_NE(dynamic_cast<const IndexFlat*>(inner), nullptr);
  }
  {
    const auto index = index_factory(16, "L2norm,Flat");
    const Index* inner = nullptr;
    const auto chain = chain_of(*index, &inner);
    ASSERT_EQ(chain.size(), 1u);
    EXPECT_NE(dynamic_cast<const L2Normalize*>(chain[0]), nullptr);
    EXPECT_EQ(inner->dim(), 16);
    EXPECT_TRUE(index->is_trained());  // nothing to learn
  }
  {
    const auto index = index_factory(200, "RR128,IVF256,Flat");
    const Index* inner = nullptr;
    const auto chain = chain_of(*index, &inner);
    ASSERT_EQ(chain.size(), 1u);
    const auto* rr = dynamic_cast<const RandomRotation*>(chain[0]);
    ASSERT_NE(rr, nullptr);
    EXPECT_EQ(rr->d_in(), 200);
    EXPECT_EQ(rr->d_out(), 128);
    EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(*inner).n_lists(), 256);
  }
  {
    // PCAWR: whitened PCA, then a rotation of its output; OPQ without _d keeps its input dim.
    const auto index = index_factory(32, "L2norm,PCAWR16,OPQ4,Flat");
    const Index* inner = nullptr;
    const auto chain = chain_of(*index, &inner);
    ASSERT_EQ(chain.size(), 4u);
    EXPECT_NE(dynamic_cast<const L2Normalize*>(chain[0]), nullptr);
    const auto* pca = dynamic_cast<const PCA*>(chain[1]);
    ASSERT_NE(pca, nullptr);
    EXPECT_TRUE(pca->params().whiten);
    EXPECT_EQ(pca->d_out(), 16);
    const auto* rr = dynamic_cast<const RandomRotation*>(chain[2]);
    ASSERT_NE(rr, nullptr);
    EXPECT_EQ(rr->d_in(), 16);
    EXPECT_EQ(rr->d_out(), 16);
    const auto* opq = dynamic_cast<const OPQ*>(chain[3]);
    ASSERT_NE(opq, nullptr);
    EXPECT_EQ(opq->d_in(), 16);
    EXPECT_EQ(opq->d_out(), 16);
    EXPECT_EQ(inner->dim(), 16);
  }
}

TEST(IndexFactory, TransformDimensionsAreCheckedNamingTheComponent) {
  struct Case {
    int dim;
    const char* spec;
    const char* why;
  };
  const Case cases[] = {
      {32, "PCA64,Flat", "transform 1 'PCA64' reduces 32-dimensional inputs to 64 dimensions"},
      {32, "L2norm,RR33,Flat", "transform 2 'RR33' maps 32-dimensional inputs to 33"},
      {32, "PCA16,OPQ6,Flat", "transform 2 'OPQ6' splits 16 dimensions into 6 sub-spaces"},
      {32, "OPQ8_64,Flat", "transform 1 'OPQ8_64' maps 32-dimensional inputs to 64"},
      {32, "PCA16,PCAR24,IVF8,Flat", "transform 2 'PCAR24' reduces 16-dimensional inputs"},
  };
  for (const Case& c : cases) {
    try {
      index_factory(c.dim, c.spec);
      ADD_FAILURE() << "accepted \"" << c.spec << "\" for dim " << c.dim;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(index_factory(0, "L2norm,Flat"), InvalidArgument);
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(index_factory(8, "PCA4,Flat", Metric::L2, Device::cuda(0)), NotSupported);
  }
}

}  // namespace
}  // namespace knnx
