// Bad input at the public boundary: each case throws the documented type with a message that
// names the argument and its value, and a failed call leaves the index exactly as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "index/gaussian_data.hpp"
#include "knnx/knnx.hpp"
#include "throws_naming.hpp"

namespace knnx {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

using test::throws_naming;

using test::gaussian;

// Everything observable about an index: ids, vectors, and the answer to a fixed search.
struct Snapshot {
  idx_t ntotal;
  std::vector<idx_t> ids;
  std::vector<float> vectors;
  std::vector<float> distances;
  std::vector<idx_t> labels;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const IndexFlat& index) {
  const int d = index.dim();
  const std::vector<float> queries = gaussian(4, d, 99);
  const int k = 12;
  Snapshot s{index.ntotal(), index.ids(), index.vectors(), std::vector<float>(4 * k),
             std::vector<idx_t>(4 * k)};
  index.search(4, queries.data(), k, s.distances.data(), s.labels.data());
  return s;
}

class BadInput : public ::testing::TestWithParam<Metric> {
 protected:
  static constexpr int kDim = 6;
  void SetUp() override {
    index_ = std::make_unique<IndexFlat>(kDim, GetParam());
    const std::vector<float> x = gaussian(10, kDim, 1);
    index_->add(10, x.data());
    good_ = gaussian(3, kDim, 2);
    before_ = snapshot(*index_);
  }
  // Called at the end of every test: no failed call changed the index.
  void TearDown() override { EXPECT_TRUE(snapshot(*index_) == before_) << "index changed"; }

  std::unique_ptr<IndexFlat> index_;
  std::vector<float> good_;  // 3 finite vectors
  Snapshot before_;
};

TEST(BadInputConstruct, DimensionOutOfRange) {
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    EXPECT_TRUE(
        throws_naming<InvalidArgument>([&] { IndexFlat index(0, metric); }, {"dim", "got 0"}));
    EXPECT_TRUE(
        throws_naming<InvalidArgument>([&] { IndexFlat index(-3, metric); }, {"dim", "got -3"}));
    EXPECT_TRUE(throws_naming<InvalidArgument>([&] { IndexFlat index(kMaxDim + 1, metric); },
                                               {"dim", "got " + std::to_string(kMaxDim + 1)}));
    EXPECT_TRUE(throws_naming<InvalidArgument>(
        [&] { IndexFlat index(std::numeric_limits<int>::min(), metric); }, {"dim"}));
  }
  // The bounds themselves are accepted.
  EXPECT_NO_THROW({ IndexFlat index(1); });
  EXPECT_NO_THROW({ IndexFlat index(kMaxDim); });
}

TEST(BadInputConstruct, CudaDeviceWithoutCuda) {
  // Both outcomes derive from knnx::Error: NotSupported when the build has no CUDA backend,
  // InvalidArgument when it has one but the device does not exist.
  if (!cuda_backend_compiled()) {
    EXPECT_TRUE(throws_naming<NotSupported>([] { IndexFlat index(8, Metric::L2, Device::cuda(0)); },
                                            {"cuda:0", "CUDA"}));
    EXPECT_TRUE(throws_naming<NotSupported>(
        [] { IndexFlat index(8, Metric::L2, Device::parse("cuda")); }, {"cuda:0"}));
  } else if (cuda_device_count() == 0) {
    EXPECT_TRUE(throws_naming<InvalidArgument>(
        [] { IndexFlat index(8, Metric::L2, Device::cuda(0)); }, {"cuda:0"}));
  }
  // An ordinal no machine has is refused on every build.
  EXPECT_TRUE(throws_naming<Error>([] { IndexFlat index(8, Metric::L2, Device::cuda(1000)); },
                                   {"cuda:1000"}));
}

TEST(BadInputConstruct, DeviceAndMetricNames) {
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([] { (void)Device::parse("tpu"); }, {"device", "\"tpu\""}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { (void)Device::parse("cuda:"); }, {"\"cuda:\""}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([] { (void)Device::parse("cuda:-1"); }, {"\"cuda:-1\""}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([] { (void)Device::parse("cuda:1x"); }, {"\"cuda:1x\""}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { (void)parse_metric("cosine"); },
                                             {"metric", "\"cosine\""}));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(parse_metric("IP"), Metric::InnerProduct);
}

TEST(BadInputConstruct, ConfigKnobsOutOfRange) {
  const Config saved = config();
  Config c = saved;
  c.cpu_base_block = 8;
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { set_config(c); }, {"KNNX_CPU_BASE_BLOCK", "\"8\""}));
  c = saved;
  c.cpu_query_block = 0;
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { set_config(c); }, {"KNNX_CPU_QUERY_BLOCK", "\"0\""}));
  c = saved;
  c.num_threads = -2;
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { set_config(c); }, {"KNNX_NUM_THREADS", "\"-2\""}));
  // Block sizes whose tile would not fit in memory are refused when set, not when searching.
  for (int big : {(1 << 14) + 1, 1 << 20, 1 << 24}) {
    c = saved;
    c.cpu_base_block = big;
    EXPECT_TRUE(
        throws_naming<InvalidArgument>([&] { set_config(c); }, {"KNNX_CPU_BASE_BLOCK", "16384"}));
    c = saved;
    c.cpu_query_block = big;
    EXPECT_TRUE(
        throws_naming<InvalidArgument>([&] { set_config(c); }, {"KNNX_CPU_QUERY_BLOCK", "16384"}));
  }
  // A refused set_config leaves the knobs in force untouched.
  const Config now = config();
  EXPECT_EQ(now.cpu_base_block, saved.cpu_base_block);
  EXPECT_EQ(now.cpu_query_block, saved.cpu_query_block);
  EXPECT_EQ(now.num_threads, saved.num_threads);
}

TEST(BadInputConstruct, ErrorsShareOneBase) {
  static_assert(std::is_base_of_v<Error, InvalidArgument>);
  static_assert(std::is_base_of_v<Error, NotSupported>);
  static_assert(std::is_base_of_v<Error, OutOfMemory>);
  static_assert(std::is_base_of_v<Error, FormatError>);
  static_assert(std::is_base_of_v<Error, IoError>);
  static_assert(std::is_base_of_v<Error, CudaError>);
  static_assert(std::is_base_of_v<std::runtime_error, Error>);
  const IndexFlat index(4);
  std::vector<float> d(1);
  std::vector<idx_t> l(1);
  EXPECT_THROW(index.search(1, nullptr, 1, d.data(), l.data()), Error);
}

TEST_P(BadInput, CountsMustBePositive) {
  IndexFlat& index = *index_;
  float dist[4];
  idx_t lab[4];
  const idx_t one = 1;
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add(0, good_.data()); }, {"n ", "got 0"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.add(-5, good_.data()); }, {"n ", "got -5"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(0, good_.data(), &one); },
                                             {"n ", "got 0"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.train(0, good_.data()); }, {"n ", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(0, good_.data(), 1, dist, lab); },
                                             {"nq", "got 0"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.search(-1, good_.data(), 1, dist, lab); },
                                             {"nq", "got -1"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.remove_ids(-1, &one); }, {"n ", "got -1"}));
}

TEST_P(BadInput, NullPointers) {
  IndexFlat& index = *index_;
  std::vector<float> dist(3 * 2);
  std::vector<idx_t> lab(3 * 2);
  const std::vector<idx_t> ids = {100, 101, 102};
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.add(3, nullptr); }, {"x must not be null"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.train(3, nullptr); }, {"x must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(3, nullptr, ids.data()); },
                                             {"x must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.add_with_ids(3, good_.data(), nullptr); },
                                             {"ids must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { index.search(3, nullptr, 2, dist.data(), lab.data()); }, {"queries must not be null"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.search(3, good_.data(), 2, nullptr, lab.data()); },
                                     {"distances must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { index.search(3, good_.data(), 2, dist.data(), nullptr); },
      {"labels must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.reconstruct(0, nullptr); },
                                             {"out must not be null"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.remove_ids(2, nullptr); },
                                             {"ids must not be null"}));
}

TEST_P(BadInput, KOutOfRange) {
  const IndexFlat& index = *index_;
  std::vector<float> dist(static_cast<std::size_t>(kMaxK + 1));
  std::vector<idx_t> lab(static_cast<std::size_t>(kMaxK + 1));
  for (const int k :
       {0, -1, std::numeric_limits<int>::min(), kMaxK + 1, std::numeric_limits<int>::max()}) {
    EXPECT_TRUE(throws_naming<InvalidArgument>(
        [&] { index.search(1, good_.data(), k, dist.data(), lab.data()); },
        {"k must be in [1, " + std::to_string(kMaxK) + "]", "got " + std::to_string(k)}))
        << "k=" << k;
  }
  // The bounds themselves are accepted.
  EXPECT_NO_THROW(index.search(1, good_.data(), kMaxK, dist.data(), lab.data()));
  EXPECT_NO_THROW(index.search(1, good_.data(), 1, dist.data(), lab.data()));
}

TEST_P(BadInput, NonFiniteVectorsAreRefusedAndNothingIsAdded) {
  IndexFlat& index = *index_;
  const std::vector<idx_t> ids = {200, 201, 202};
  for (const float bad : {kNaN, kInf, -kInf}) {
    // The bad value in the first, a middle, and the very last element.
    for (const std::size_t pos : {std::size_t{0}, std::size_t{2 * kDim + 3}, good_.size() - 1}) {
      std::vector<float> x = good_;
      x[pos] = bad;
      const std::string row = "row " + std::to_string(pos / kDim);
      const std::string col = "column " + std::to_string(pos % kDim);
      EXPECT_TRUE(
          throws_naming<InvalidArgument>([&] { index.add(3, x.data()); }, {"x ", row, col}));
      EXPECT_TRUE(throws_naming<InvalidArgument>(
          [&] { index.add_with_ids(3, x.data(), ids.data()); }, {"x ", row, col}));
      EXPECT_TRUE(
          throws_naming<InvalidArgument>([&] { index.train(3, x.data()); }, {"x ", row, col}));
      EXPECT_EQ(index.ntotal(), 10);
    }
  }
  // The refused ids are still free: the same ids with finite vectors go in afterwards.
  IndexFlat fresh(kDim, GetParam());
  std::vector<float> x = good_;
  x[4] = kNaN;
  EXPECT_THROW(fresh.add_with_ids(3, x.data(), ids.data()), InvalidArgument);
  EXPECT_EQ(fresh.ntotal(), 0);
  EXPECT_NO_THROW(fresh.add_with_ids(3, good_.data(), ids.data()));
  EXPECT_EQ(fresh.ids(), ids);
}

TEST_P(BadInput, NonFiniteQueriesAreRefusedBeforeAnyOutputIsWritten) {
  const IndexFlat& index = *index_;
  for (const float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> q = good_;
    q[kDim + 2] = bad;
    std::vector<float> dist(3 * 4, 12345.0f);
    std::vector<idx_t> lab(3 * 4, 777);
    EXPECT_TRUE(throws_naming<InvalidArgument>(
        [&] { index.search(3, q.data(), 4, dist.data(), lab.data()); },
        {"queries", "row 1", "column 2"}));
    EXPECT_EQ(dist, std::vector<float>(3 * 4, 12345.0f));
    EXPECT_EQ(lab, std::vector<idx_t>(3 * 4, 777));
  }
}

TEST_P(BadInput, BadIdsAddNothing) {
  IndexFlat& index = *index_;  // holds ids 0..9
  const std::vector<float> x = gaussian(4, kDim, 3);
  struct Case {
    std::vector<idx_t> ids;
    std::vector<std::string> needles;
  };
  const Case cases[] = {
      {{20, -5, 21, 22}, {"ids[1] = -5", "negative"}},
      {{20, 21, 22, std::numeric_limits<idx_t>::min()}, {"ids[3]", "negative"}},
      {{30, 31, 30, 32}, {"ids[2] = 30", "more than once"}},
      {{40, 41, 42, 41}, {"ids[3] = 41", "more than once"}},
      {{50, 3, 51, 52}, {"ids[1] = 3", "already stored"}},
      {{9, 60, 61, 62}, {"ids[0] = 9", "already stored"}},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(throws_naming<InvalidArgument>(
        [&] { index.add_with_ids(4, x.data(), c.ids.data()); }, c.needles));
    EXPECT_EQ(index.ntotal(), 10);
  }
  // None of the valid ids from the refused calls went in: they are all still free.
  const std::vector<idx_t> later = {20, 21, 22, 30};
  EXPECT_EQ(index.remove_ids(4, later.data()), 0);
}

TEST_P(BadInput, CollisionWithUserIdsAfterRemoval) {
  const std::vector<float> x = gaussian(2, kDim, 4);
  const std::vector<idx_t> ids = {500, 501};
  IndexFlat other(kDim, GetParam());
  other.add_with_ids(2, x.data(), ids.data());
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { other.add_with_ids(2, x.data(), ids.data()); },
                                             {"ids[0] = 500", "already stored"}));
  const idx_t gone = 500;
  EXPECT_EQ(other.remove_ids(1, &gone), 1);
  // A removed id is free again for add_with_ids; 501 still collides.
  EXPECT_NO_THROW(other.add_with_ids(1, x.data(), &gone));
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { other.add_with_ids(1, x.data(), ids.data() + 1); }, {"ids[0] = 501"}));
  EXPECT_EQ(other.ntotal(), 2);
}

TEST_P(BadInput, ReconstructOfAnAbsentId) {
  const IndexFlat& index = *index_;
  std::vector<float> out(kDim, 5.0f);
  for (const idx_t id : {idx_t{10}, idx_t{-1}, idx_t{1} << 40, std::numeric_limits<idx_t>::min()}) {
    EXPECT_TRUE(throws_naming<InvalidArgument>([&] { index.reconstruct(id, out.data()); },
                                               {"id " + std::to_string(id), "not stored"}));
  }
  EXPECT_EQ(out, std::vector<float>(kDim, 5.0f));
}

TEST_P(BadInput, SizesThatOverflow) {
  IndexFlat& index = *index_;
  const idx_t huge = std::numeric_limits<idx_t>::max() / 2;
  std::vector<float> dist(4);
  std::vector<idx_t> lab(4);
  const std::vector<idx_t> ids(4, 0);
  // Refused from the sizes alone, before a single element is read.
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { index.add(huge, good_.data()); }, {"x", "overflows"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { index.add_with_ids(huge, good_.data(), ids.data()); }, {"x", "overflows"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { index.search(huge, good_.data(), 1, dist.data(), lab.data()); },
      {"queries", "overflows"}));
  // nq * dim fits, nq * k does not.
  IndexFlat narrow(1, GetParam());
  const idx_t nq = std::numeric_limits<idx_t>::max() / 1000;
  EXPECT_TRUE(throws_naming<InvalidArgument>(
      [&] { narrow.search(nq, good_.data(), kMaxK, dist.data(), lab.data()); },
      {"labels", "overflows"}));
}

INSTANTIATE_TEST_SUITE_P(Metrics, BadInput, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace knnx
