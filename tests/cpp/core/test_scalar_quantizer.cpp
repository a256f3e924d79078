// ScalarQuantizer (knnx/scalar_quantizer.hpp): every type round-trips within its documented
// error bound, codes have the documented size and layout, and bad input gets typed errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/scalar_quantizer.hpp"

namespace knnx {
namespace {

using Type = ScalarQuantizer::Type;

std::vector<float> random_rows(idx_t n, int d, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (float& v : x) v = g(rng);
  return x;
}

// Every component of decode(encode(x)) within error_bound (plus a few float32 roundings).
void expect_round_trip(const ScalarQuantizer& sq, const std::vector<float>& x) {
  const int d = sq.dim();
  const idx_t n = static_cast<idx_t>(x.size()) / d;
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n) * sq.code_size());
  std::vector<float> back(x.size());
  sq.encode(n, x.data(), codes.data());
  sq.decode(n, codes.data(), back.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const int j = static_cast<int>(i % static_cast<std::size_t>(d));
    const double bound = sq.error_bound(j, x[i]);
    const double slack =
        4 * std::numeric_limits<float>::epsilon() *
        (std::fabs(x[i]) + (sq.vdiff().empty() ? 0.0 : std::fabs(sq.vmin()[j]) + sq.vdiff()[j]));
    ASSERT_LE(std::fabs(static_cast<double>(back[i]) - x[i]), bound + slack)
        << ScalarQuantizer::type_name(sq.type()) << " component " << j << " of " << x[i]
        << " decoded to " << back[i];
  }
}

TEST(ScalarQuantizer, CodeSizes) {
  EXPECT_EQ(ScalarQuantizer(33, Type::QT_8bit).code_size(), 33u);
  EXPECT_EQ(ScalarQuantizer(33, Type::QT_4bit).code_size(), 17u);
  EXPECT_EQ(ScalarQuantizer(33, Type::QT_fp16).code_size(), 66u);
  EXPECT_EQ(ScalarQuantizer(33, Type::QT_bf16).code_size(), 66u);
}

TEST(ScalarQuantizer, UniformTypesRoundTripWithinBound) {
  for (Type type : {Type::QT_8bit, Type::QT_4bit}) {
    for (int d : {1, 7, 32}) {
      ScalarQuantizer sq(d, type);
      EXPECT_FALSE(sq.is_trained());
      const std::vector<float> train = random_rows(500, d, 3.0f, 1);
      sq.train(500, train.data());
      ASSERT_TRUE(sq.is_trained());
      expect_round_trip(sq, train);                         // inside the trained range
      expect_round_trip(sq, random_rows(200, d, 6.0f, 2));  // partly outside: clamped
    }
  }
}

TEST(ScalarQuantizer, UniformBoundIsTight) {
  // Inside the range, the bound is half a bin: 8-bit errors stay below range / 510 and reach a
  // good part of it on dense data.
  const int d = 4;
  ScalarQuantizer sq(d, Type::QT_8bit);
  const std::vector<float> x = random_rows(5000, d, 1.0f, 3);
  sq.train(5000, x.data());
  std::vector<std::uint8_t> codes(x.size());
  std::vector<float> back(x.size());
  sq.encode(5000, x.data(), codes.data());
  sq.decode(5000, codes.data(), back.data());
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::fabs(double(back[i]) - x[i]) / sq.vdiff()[i % d]);
  }
  EXPECT_LE(worst, 1.0 / 510 + 1e-6);
  EXPECT_GE(worst, 0.9 / 510);
}

TEST(ScalarQuantizer, FloatTypesRoundTripWithinBound) {
  for (Type type : {Type::QT_fp16, Type::QT_bf16}) {
    ScalarQuantizer sq(16, type);
    EXPECT_TRUE(sq.is_trained());  // nothing to learn
    std::vector<float> x = random_rows(300, 16, 10.0f, 4);
    // Tiny, subnormal-range, large and saturating values.
    const float special[] = {0.0f, -0.0f,   1e-6f,  -3e-8f, 6e-5f,   65504.0f, -70000.0f, 1e5f,
                             1.0f, 2049.0f, 1e-30f, -1e30f, 3.3e38f, -3.4e38f, 0.1f,      5.0e-39f};
    x.insert(x.end(), std::begin(special), std::end(special));
    expect_round_trip(sq, x);
  }
}

TEST(ScalarQuantizer, Fp16IsExactOnRepresentableValues) {
  ScalarQuantizer sq(4, Type::QT_fp16);
  const std::vector<float> x{1.5f, -0.25f, 65504.0f, 0x1p-24f};
  std::vector<std::uint8_t> codes(8);
  std::vector<float> back(4);
  sq.encode(1, x.data(), codes.data());
  sq.decode(1, codes.data(), back.data());
  EXPECT_EQ(back, x);
  // 1.5 is 0x3e00 in half precision.
  EXPECT_EQ(codes[0], 0x00);
  EXPECT_EQ(codes[1], 0x3e);
}

TEST(ScalarQuantizer, FourBitLayoutIsLowNibbleFirst) {
  ScalarQuantizer sq(3, Type::QT_4bit);
  sq.set_ranges({0.0f, 0.0f, 0.0f}, {15.0f, 15.0f, 15.0f});
  const std::vector<float> x{2.5f, 14.5f, 7.5f};  // codes 2, 14, 7
  std::vector<std::uint8_t> codes(2);
  sq.encode(1, x.data(), codes.data());
  EXPECT_EQ(codes[0], 0xe2);
  EXPECT_EQ(codes[1], 0x07);
}

TEST(ScalarQuantizer, ConstantComponentDecodesToItsValue) {
  ScalarQuantizer sq(2, Type::QT_8bit);
  const std::vector<float> x{3.0f, 1.0f, 3.0f, 2.0f};
  sq.train(2, x.data());
  std::vector<std::uint8_t> codes(4);
  std::vector<float> back(4);
  sq.encode(2, x.data(), codes.data());
  sq.decode(2, codes.data(), back.data());
  EXPECT_EQ(back[0], 3.0f);
  EXPECT_EQ(back[2], 3.0f);
}

TEST(ScalarQuantizer, BadInputIsRefused) {
  EXPECT_THROW(ScalarQuantizer(0, Type::QT_8bit), InvalidArgument);
  EXPECT_THROW(ScalarQuantizer(8, static_cast<Type>(7)), InvalidArgument);
  ScalarQuantizer sq(2, Type::QT_8bit);
  const std::vector<float> x{1.0f, 2.0f};
  std::vector<std::uint8_t> codes(2);
  EXPECT_THROW(sq.encode(1, x.data(), codes.data()), InvalidArgument);  // untrained
  EXPECT_THROW(sq.decode(1, codes.data(), nullptr), InvalidArgument);
  const std::vector<float> bad{1.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(sq.train(1, bad.data()), InvalidArgument);
  EXPECT_FALSE(sq.is_trained());
  EXPECT_THROW(sq.set_ranges({0.0f}, {1.0f}), InvalidArgument);
  EXPECT_THROW(sq.set_ranges({0.0f, 0.0f}, {1.0f, -1.0f}), InvalidArgument);
  ScalarQuantizer half(2, Type::QT_fp16);
  EXPECT_THROW(half.set_ranges({0.0f, 0.0f}, {1.0f, 1.0f}), InvalidArgument);
}

}  // namespace
}  // namespace knnx
