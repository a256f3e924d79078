// The transform_chain section payload (core/index_file_chain): records round-trip through
// encode_chain / decode_chain, and every truncation, extension or header mismatch of a chain
// is a FormatError naming the section, never a crash or an allocation the bytes do not back.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/index_file.hpp"
#include "core/index_file_chain.hpp"
#include "knnx/error.hpp"

namespace knnx::detail::index_file {
namespace {

std::vector<float> ramp(std::size_t n, float start) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + 0.5f * static_cast<float>(i);
  return v;
}

TransformRecord linear(TransformType type, std::uint32_t d_in, std::uint32_t d_out) {
  TransformRecord t;
  t.type = type;
  t.d_in = d_in;
  t.d_out = d_out;
  t.trained = true;
  t.mean = ramp(d_in, 1.0f);
  t.matrix = ramp(std::size_t{d_in} * d_out, -3.0f);
  t.reverse = ramp(std::size_t{d_in} * d_out, 2.0f);
  return t;
}

// PCA 6 -> 4 (whitened), L2Normalize 4, OPQ 4 -> 4 (m 2), RandomRotation 4 -> 3.
TransformChainRecord sample_chain() {
  TransformChainRecord c;
  c.d_in = 6;
  TransformRecord pca = linear(TransformType::PCA, 6, 4);
  pca.whiten = true;
  pca.whiten_eps = 0.25f;
  pca.eigenvalues = {9, 4, 1, 0.5f, 0.25f, 0};
  c.transforms.push_back(pca);
  TransformRecord norm;
  norm.type = TransformType::L2Normalize;
  norm.d_in = norm.d_out = 4;
  norm.trained = true;
  c.transforms.push_back(norm);
  TransformRecord opq = linear(TransformType::OPQ, 4, 4);
  opq.mean.assign(4, 0.0f);
  opq.m = 2;
  opq.n_iter = 3;
  opq.ksub = 16;
  opq.kmeans_iter = 5;
  opq.max_train_points = 1000;
  opq.seed = 77;
  opq.objective = {3.5, 2.25, 2.0};
  c.transforms.push_back(opq);
  TransformRecord rr = linear(TransformType::RandomRotation, 4, 3);
  rr.mean.assign(4, 0.0f);
  rr.seed = 1234;
  c.transforms.push_back(rr);
  return c;
}

Header header_for(std::uint32_t dim, std::uint64_t ntotal) {
  Header h;
  h.dim = dim;
  h.ntotal = ntotal;
  h.flags = kFlagTrained | kFlagTransformChain;
  return h;
}

TEST(IndexFileChain, RoundTrip) {
  const TransformChainRecord c = sample_chain();
  const std::vector<std::uint8_t> bytes = encode_chain(c);
  // 16 + 4 x 48 + PCA (6 + 24 + 24 + 6) x 4 + OPQ (4 + 16 + 16) x 4 + 3 x 8 + RR (4 + 12 + 12) x 4
  EXPECT_EQ(bytes.size(), 16u + 4 * 48 + 60 * 4 + 36 * 4 + 24 + 28 * 4);
  const TransformChainRecord d = decode_chain(bytes, header_for(3, 10), "chain");
  EXPECT_EQ(d.d_in, 6u);
  ASSERT_EQ(d.transforms.size(), c.transforms.size());
  for (std::size_t i = 0; i < c.transforms.size(); ++i) {
    const TransformRecord& a = c.transforms[i];
    const TransformRecord& b = d.transforms[i];
    EXPECT_EQ(a.type, b.type) << i;
    EXPECT_EQ(a.d_in, b.d_in) << i;
    EXPECT_EQ(a.d_out, b.d_out) << i;
    EXPECT_EQ(a.trained, b.trained) << i;
    EXPECT_EQ(a.whiten, b.whiten) << i;
    EXPECT_EQ(a.whiten_eps, b.whiten_eps) << i;
    EXPECT_EQ(a.seed, b.seed) << i;
    EXPECT_EQ(a.m, b.m) << i;
    EXPECT_EQ(a.n_iter, b.n_iter) << i;
    EXPECT_EQ(a.ksub, b.ksub) << i;
    EXPECT_EQ(a.kmeans_iter, b.kmeans_iter) << i;
    EXPECT_EQ(a.max_train_points, b.max_train_points) << i;
    EXPECT_EQ(a.mean, b.mean) << i;
    EXPECT_EQ(a.matrix, b.matrix) << i;
    EXPECT_EQ(a.reverse, b.reverse) << i;
    EXPECT_EQ(a.eigenvalues, b.eigenvalues) << i;
    EXPECT_EQ(a.objective, b.objective) << i;
  }
  EXPECT_EQ(encode_chain(d), bytes);
}

TEST(IndexFileChain, UntrainedTransformsStoreNoStateAndHoldNoVectors) {
  TransformChainRecord c;
  c.d_in = 8;
  TransformRecord pca;
  pca.type = TransformType::PCA;
  pca.d_in = 8;
  pca.d_out = 2;
  c.transforms.push_back(pca);
  const std::vector<std::uint8_t> bytes = encode_chain(c);
  EXPECT_EQ(bytes.size(), 16u + 48);
  EXPECT_FALSE(decode_chain(bytes, header_for(2, 0), "chain").transforms[0].trained);
  try {
    decode_chain(bytes, header_for(2, 5), "chain");
    ADD_FAILURE() << "accepted vectors behind an untrained transform";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not trained, but the index holds 5 vectors"),
              std::string::npos)
        << e.what();
  }
}

// Every prefix of a valid chain is refused: a section cut anywhere is never read past its end.
TEST(IndexFileChain, EveryTruncationIsAFormatError) {
  const std::vector<std::uint8_t> bytes = encode_chain(sample_chain());
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::vector<std::uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    try {
      decode_chain(part, header_for(3, 10), "chain");
      ADD_FAILURE() << "accepted a chain cut at byte " << cut;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("'chain': section 'transform_chain'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(IndexFileChain, TrailingBytesAndHeaderMismatchAreFormatErrors) {
  std::vector<std::uint8_t> bytes = encode_chain(sample_chain());
  const auto error = [](const std::vector<std::uint8_t>& b, const Header& h) {
    try {
      decode_chain(b, h, "chain");
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(bytes, header_for(4, 10))
                .find("the chain outputs 3 dimensions, but the "
                      "header's dim (of the stored vectors) is 4"),
            std::string::npos);
  bytes.push_back(0);
  EXPECT_NE(error(bytes, header_for(3, 10)).find("1 bytes follow the last transform"),
            std::string::npos);
}

}  // namespace
}  // namespace knnx::detail::index_file
