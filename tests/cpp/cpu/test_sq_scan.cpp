// SqScanner (cpu/sq_scan.hpp): its scores equal the exact distances to the decoded vectors, for
// every type, both metrics and odd dimensions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cpu/sq_scan.hpp"

namespace knnx::cpu {
namespace {

using Type = ScalarQuantizer::Type;

TEST(SqScanner, ScoresEqualDistancesToDecodedVectors) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 2.0f);
  for (Type type : {Type::QT_8bit, Type::QT_4bit, Type::QT_fp16, Type::QT_bf16}) {
    for (int d : {1, 5, 24, 67}) {
      for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
        const idx_t n = 40;
        std::vector<float> x(static_cast<std::size_t>(n) * d), q(static_cast<std::size_t>(d));
        for (float& v : x) v = g(rng);
        for (float& v : q) v = g(rng);
        ScalarQuantizer sq(d, type);
        sq.train(n, x.data());
        std::vector<std::uint8_t> codes(static_cast<std::size_t>(n) * sq.code_size());
        sq.encode(n, x.data(), codes.data());
        std::vector<float> decoded(x.size());
        sq.decode(n, codes.data(), decoded.data());
        SqScanner scanner(sq, metric);
        const float offset = 1.25f;
        scanner.set_query(q.data(), offset);
        std::vector<float> scores(static_cast<std::size_t>(n));
        scanner.scores(codes.data(), n, scores.data());
        for (idx_t i = 0; i < n; ++i) {
          double exact = 0.0, norm = 0.0;
          for (int j = 0; j < d; ++j) {
            const double xv = decoded[static_cast<std::size_t>(i * d + j)];
            exact += metric == Metric::L2 ? (q[j] - xv) * (q[j] - xv) : q[j] * xv;
            norm += (std::fabs(q[j]) + std::fabs(xv)) * (std::fabs(q[j]) + std::fabs(xv));
          }
          if (metric == Metric::InnerProduct) exact = -(exact + offset);
          ASSERT_NEAR(scores[static_cast<std::size_t>(i)], exact, 1e-5 * (norm + 1.0))
              << ScalarQuantizer::type_name(type) << " d=" << d << " row " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace knnx::cpu
