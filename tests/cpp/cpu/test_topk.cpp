// TopK (cpu/topk.hpp) against a full std::sort of the same stream: the result must be exactly
// the k smallest (score, label) pairs, in that order, however the pairs arrive.
#include "cpu/topk.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <unordered_map>
#include <vector>

namespace knnx::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Result {
  std::vector<float> scores;
  std::vector<idx_t> labels;
};

Result write_result(TopK& topk, int k, bool negate = false, float pad = kInf) {
  Result r{std::vector<float>(static_cast<std::size_t>(k)),
           std::vector<idx_t>(static_cast<std::size_t>(k))};
  topk.write(r.scores.data(), r.labels.data(), negate, pad);
  return r;
}

// The k smallest (score, label) pairs of the stream, best first, padded with (pad, -1).
Result reference(const std::vector<float>& scores, idx_t first_label, int k, float pad = kInf) {
  std::vector<Scored> all;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    all.push_back({scores[i], first_label + static_cast<idx_t>(i)});
  }
  std::sort(all.begin(), all.end(), scored_less);
  Result r;
  for (int i = 0; i < k; ++i) {
    const bool have = static_cast<std::size_t>(i) < all.size();
    r.scores.push_back(have ? all[static_cast<std::size_t>(i)].score : pad);
    r.labels.push_back(have ? all[static_cast<std::size_t>(i)].label : kNoLabel);
  }
  return r;
}

std::vector<float> random_scores(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 10.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Scores from {0, ..., distinct-1}: most candidates tie with many others.
std::vector<float> tied_scores(std::size_t n, int distinct, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, distinct - 1);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng));
  return v;
}

void expect_same(const Result& got, const Result& want) {
  ASSERT_EQ(got.scores.size(), want.scores.size());
  for (std::size_t i = 0; i < want.scores.size(); ++i) {
    EXPECT_EQ(got.scores[i], want.scores[i]) << "rank " << i;
    EXPECT_EQ(got.labels[i], want.labels[i]) << "rank " << i;
  }
}

class TopKSizes : public ::testing::TestWithParam<int> {};

TEST_P(TopKSizes, PushMatchesSortOnRandomStreams) {
  const int k = GetParam();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, static_cast<std::size_t>(k) - 1,
                        static_cast<std::size_t>(k), static_cast<std::size_t>(k) + 1,
                        2 * static_cast<std::size_t>(k), 2 * static_cast<std::size_t>(k) + 1,
                        std::size_t{20000}}) {
    SCOPED_TRACE(testing::Message() << "k=" << k << " n=" << n);
    const std::vector<float> stream = random_scores(n, static_cast<std::uint32_t>(n * 31 + k));
    TopK topk(k);
    for (std::size_t i = 0; i < n; ++i) topk.push(stream[i], static_cast<idx_t>(i));
    expect_same(write_result(topk, k), reference(stream, 0, k));
  }
}

TEST_P(TopKSizes, PushBlockMatchesSortWithLabelOffset) {
  const int k = GetParam();
  const std::vector<float> stream = random_scores(30011, static_cast<std::uint32_t>(k));
  const idx_t first = 1'000'000'007;
  TopK topk(k);
  // Uneven blocks, labels continuing across them, as the blocked search feeds them.
  std::size_t pos = 0;
  for (std::size_t block = 1; pos < stream.size(); block = block * 3 + 1) {
    const std::size_t len = std::min(block, stream.size() - pos);
    topk.push_block(stream.data() + pos, static_cast<idx_t>(len), first + static_cast<idx_t>(pos));
    pos += len;
  }
  expect_same(write_result(topk, k), reference(stream, first, k));
}

TEST_P(TopKSizes, TiesKeepTheSmallestLabels) {
  const int k = GetParam();
  for (int distinct : {1, 3, 50}) {
    SCOPED_TRACE(testing::Message() << "k=" << k << " distinct=" << distinct);
    const std::vector<float> stream = tied_scores(9000, distinct, static_cast<std::uint32_t>(k + distinct));
    TopK topk(k);
    topk.push_block(stream.data(), static_cast<idx_t>(stream.size()), 0);
    // Among equal scores the smallest labels win.
    expect_same(write_result(topk, k), reference(stream, 0, k));
  }
}

TEST_P(TopKSizes, MergeOfCollectorsMatchesSort) {
  const int k = GetParam();
  for (int distinct : {0, 4}) {  // 0: continuous scores; 4: heavy ties
    SCOPED_TRACE(testing::Message() << "k=" << k << " distinct=" << distinct);
    const std::size_t n = 25000;
    const std::vector<float> stream =
        distinct == 0 ? random_scores(n, 7u + static_cast<std::uint32_t>(k))
                      : tied_scores(n, distinct, 9u + static_cast<std::uint32_t>(k));
    // Five collectors over interleaved chunks of uneven length, merged into the first, in an
    // order that hands the merge labels out of sequence.
    std::vector<TopK> parts(5, TopK(k));
    std::size_t pos = 0;
    for (int chunk = 0; pos < n; ++chunk) {
      const std::size_t len = std::min<std::size_t>(97 + 613 * static_cast<std::size_t>(chunk % 4), n - pos);
      parts[static_cast<std::size_t>(chunk) % parts.size()].push_block(
          stream.data() + pos, static_cast<idx_t>(len), static_cast<idx_t>(pos));
      pos += len;
    }
    for (std::size_t p : {3u, 1u, 4u, 2u}) parts[0].merge(parts[p]);
    // Ties are decided by label whatever the arrival order, so merging changes nothing.
    expect_same(write_result(parts[0], k), reference(stream, 0, k));
  }
}

TEST_P(TopKSizes, ArrivalOrderDoesNotMatter) {
  const int k = GetParam();
  for (int distinct : {0, 1, 2, 5, 300}) {
    SCOPED_TRACE(testing::Message() << "k=" << k << " distinct=" << distinct);
    const std::size_t n = 12000;
    const std::vector<float> stream =
        distinct == 0 ? random_scores(n, 17u + static_cast<std::uint32_t>(k))
                      : tied_scores(n, distinct, 19u + static_cast<std::uint32_t>(k + distinct));
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(23));
    TopK topk(k);
    for (std::size_t i : order) topk.push(stream[i], static_cast<idx_t>(i));
    expect_same(write_result(topk, k), reference(stream, 0, k));
    // Reversed: every tie arrives largest label first.
    TopK reversed(k);
    for (std::size_t i = n; i-- > 0;) reversed.push(stream[i], static_cast<idx_t>(i));
    expect_same(write_result(reversed, k), reference(stream, 0, k));
    // Blocks in reverse order: later blocks bring smaller labels to ties already held.
    TopK blocks(k);
    for (std::size_t b0 = n; b0 > 0;) {
      const std::size_t len = std::min<std::size_t>(333, b0);
      b0 -= len;
      blocks.push_block(stream.data() + b0, static_cast<idx_t>(len), static_cast<idx_t>(b0));
    }
    expect_same(write_result(blocks, k), reference(stream, 0, k));
  }
}

TEST_P(TopKSizes, MergeOfPartlyEmptyCollectors) {
  const int k = GetParam();
  const std::vector<float> stream = random_scores(static_cast<std::size_t>(k) / 2 + 1, 11);
  TopK a(k), empty(k), b(k);
  const std::size_t half = stream.size() / 2;
  a.push_block(stream.data(), static_cast<idx_t>(half), 0);
  b.push_block(stream.data() + half, static_cast<idx_t>(stream.size() - half),
               static_cast<idx_t>(half));
  a.merge(empty);
  a.merge(b);
  // Fewer candidates than k in total: everything comes back, then padding.
  expect_same(write_result(a, k), reference(stream, 0, k));
}

TEST_P(TopKSizes, ThresholdNeverCutsAResult) {
  const int k = GetParam();
  const std::vector<float> stream = random_scores(12000, 5u + static_cast<std::uint32_t>(k));
  TopK topk(k);
  std::vector<float> seen;
  float last = topk.threshold();
  EXPECT_EQ(last, kInf);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    topk.push(stream[i], static_cast<idx_t>(i));
    seen.push_back(stream[i]);
    const float t = topk.threshold();
    ASSERT_LE(t, last) << "threshold rose at element " << i;
    last = t;
    if ((i & 1023) == 0 && seen.size() >= static_cast<std::size_t>(k)) {
      std::vector<float> sorted = seen;
      std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end());
      // Everything that belongs to the current top k still passes the threshold or is held.
      ASSERT_GE(t, sorted[static_cast<std::size_t>(k - 1)]) << "element " << i;
    }
  }
}

// Both sides of TopK::kInsertMaxK (sorted array below, pivoted buffer above).
INSTANTIATE_TEST_SUITE_P(K, TopKSizes, ::testing::Values(1, 2, 7, 16, 17, 64, 100, 2048),
                         [](const auto& info) { return "k" + std::to_string(info.param); });

TEST(TopK, KLargerThanStreamPadsWithTheGivenValue) {
  const std::vector<float> stream = {3.0f, -1.0f, 2.0f};
  TopK topk(7);
  topk.push_block(stream.data(), 3, 10);
  const Result r = write_result(topk, 7, /*negate=*/false, kInf);
  const std::vector<float> want_scores = {-1.0f, 2.0f, 3.0f, kInf, kInf, kInf, kInf};
  const std::vector<idx_t> want_labels = {11, 12, 10, -1, -1, -1, -1};
  EXPECT_EQ(r.scores, want_scores);
  EXPECT_EQ(r.labels, want_labels);
}

TEST(TopK, EmptyStreamWritesOnlyPadding) {
  TopK topk(4);
  const Result r = write_result(topk, 4, /*negate=*/true, -kInf);
  EXPECT_EQ(r.scores, std::vector<float>(4, -kInf));
  EXPECT_EQ(r.labels, std::vector<idx_t>(4, kNoLabel));
}

TEST(TopK, NegateWritesNegatedScoresBestFirst) {
  // Inner-product callers push -ip; written back, the results are ip in descending order.
  const std::vector<float> ip = {0.5f, 4.0f, -2.0f, 1.0f};
  TopK topk(3);
  for (std::size_t i = 0; i < ip.size(); ++i) topk.push(-ip[i], static_cast<idx_t>(i));
  const Result r = write_result(topk, 3, /*negate=*/true, -kInf);
  EXPECT_EQ(r.scores[0], 4.0f);
  EXPECT_EQ(r.scores[1], 1.0f);
  EXPECT_EQ(r.scores[2], 0.5f);
  EXPECT_EQ(r.labels[0], 1);
  EXPECT_EQ(r.labels[1], 3);
  EXPECT_EQ(r.labels[2], 0);
}

TEST(TopK, ResetStartsAFreshSelection) {
  TopK topk(2);
  const std::vector<float> first = {-5.0f, -6.0f, -7.0f, -8.0f, -9.0f};
  topk.push_block(first.data(), 5, 0);
  topk.reset(3);
  EXPECT_EQ(topk.threshold(), kInf);
  const std::vector<float> second = {4.0f, 1.0f, 3.0f, 2.0f};
  topk.push_block(second.data(), 4, 100);
  expect_same(write_result(topk, 3), reference(second, 100, 3));
}

TEST(TopK, WriteTwiceGivesTheSameResult) {
  const std::vector<float> stream = random_scores(5000, 3);
  TopK topk(64);
  topk.push_block(stream.data(), 5000, 0);
  const Result a = write_result(topk, 64);
  const Result b = write_result(topk, 64);
  expect_same(a, b);
  expect_same(a, reference(stream, 0, 64));
}

TEST(TopK, InfiniteAndExtremeScores) {
  const float big = std::numeric_limits<float>::max();
  const std::vector<float> stream = {big, -big, 0.0f, -kInf, 1.0f, big};
  TopK topk(3);
  topk.push_block(stream.data(), static_cast<idx_t>(stream.size()), 0);
  const Result r = write_result(topk, 3);
  EXPECT_EQ(r.scores, (std::vector<float>{-kInf, -big, 0.0f}));
  EXPECT_EQ(r.labels, (std::vector<idx_t>{3, 1, 2}));
}

}  // namespace
}  // namespace knnx::cpu
