// SearchParams: per-call settings reach the search without touching the index (two threads with
// different nprobe on one IVF index, different block settings on one flat index, each equal to
// its serial answer), and bad params are refused with InvalidArgument naming the field or type,
// before any output is written. Every test runs on the CPU and, where present, on cuda:0.
//
// scripts/sanitizers.sh runs the Concurrency* tests (here Concurrency/ConcurrencySearchParams)
// under ThreadSanitizer.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "index/gaussian_data.hpp"
#include "index/search_result.hpp"
#include "knnx/knnx.hpp"
#include "knnx/streams.hpp"

namespace knnx {
namespace {

using test::gaussian;

using Result = test::SearchResult;
using test::search;

std::vector<Device> devices() {
  std::vector<Device> out = {Device::cpu()};
  if (cuda_device_count() > 0) out.push_back(Device::cuda(0));
  return out;
}

std::string device_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param.is_cpu() ? "cpu" : "cuda0";
}

SearchParamsIVF ivf_params(int nprobe) {
  SearchParamsIVF p;
  p.nprobe = nprobe;
  return p;
}

// Runs a(i) and b(i) for i in [0, reps) on two threads started together.
template <typename A, typename B>
void run_two(int reps, A a, B b) {
  std::thread ta([&] {
    for (int i = 0; i < reps; ++i) a(i);
  });
  std::thread tb([&] {
    for (int i = 0; i < reps; ++i) b(i);
  });
  ta.join();
  tb.join();
}

constexpr int kDim = 16;
constexpr idx_t kBase = 4000;
constexpr idx_t kQueries = 64;
constexpr int kLists = 32;
constexpr int kK = 10;

class SearchParamsTest : public ::testing::TestWithParam<Device> {
 protected:
  // A trained, filled IVF index on the test's device, n_probe 1.
  std::unique_ptr<IndexIVFFlat> make_ivf() const {
    auto index = std::make_unique<IndexIVFFlat>(kDim, kLists, Metric::L2, GetParam());
    index->train(kBase, xb_.data());
    index->add(kBase, xb_.data());
    return index;
  }
  std::unique_ptr<IndexFlat> make_flat() const {
    auto index = std::make_unique<IndexFlat>(kDim, Metric::L2, GetParam());
    index->add(kBase, xb_.data());
    return index;
  }

  const std::vector<float> xb_ = gaussian(kBase, kDim, 11);
  const std::vector<float> xq_ = gaussian(kQueries, kDim, 12);
};

using ConcurrencySearchParams = SearchParamsTest;

TEST_P(ConcurrencySearchParams, TwoThreadsTwoNprobeOneIvfIndex) {
  const auto index = make_ivf();
  const SearchParamsIVF few = ivf_params(2), many = ivf_params(24);
  const Result serial_few = search(*index, kQueries, xq_.data(), kK, &few);
  const Result serial_many = search(*index, kQueries, xq_.data(), kK, &many);
  // The two settings must answer differently, or the test would not tell them apart.
  ASSERT_NE(serial_few, serial_many);

  int wrong_few = 0, wrong_many = 0;
  run_two(
      6, [&](int) { wrong_few += search(*index, kQueries, xq_.data(), kK, &few) != serial_few; },
      [&](int) { wrong_many += search(*index, kQueries, xq_.data(), kK, &many) != serial_many; });
  EXPECT_EQ(wrong_few, 0);
  EXPECT_EQ(wrong_many, 0);
  EXPECT_EQ(index->n_probe(), 1);  // the index itself is untouched

  // A per-call nprobe answers as the index set to that n_probe does.
  index->set_n_probe(24);
  EXPECT_EQ(search(*index, kQueries, xq_.data(), kK), serial_many);
}

TEST_P(ConcurrencySearchParams, TwoThreadsTwoSettingsOneFlatIndex) {
  const auto index = make_flat();
  const Result serial = search(*index, kQueries, xq_.data(), kK);
  SearchParams small_blocks;
  small_blocks.cpu_query_block = 7;
  small_blocks.cpu_base_block = 64;
  small_blocks.flat_stream_max_nq = 0;
  small_blocks.workspace_bytes = std::int64_t{16} << 20;
  // Blocking and batching change how the work is cut, not the exact answer.
  ASSERT_EQ(search(*index, kQueries, xq_.data(), kK, &small_blocks), serial);

  int wrong_default = 0, wrong_small = 0;
  run_two(
      6, [&](int) { wrong_default += search(*index, kQueries, xq_.data(), kK) != serial; },
      [&](int) {
        wrong_small += search(*index, kQueries, xq_.data(), kK, &small_blocks) != serial;
      });
  EXPECT_EQ(wrong_default, 0);
  EXPECT_EQ(wrong_small, 0);
}

INSTANTIATE_TEST_SUITE_P(Concurrency, ConcurrencySearchParams, ::testing::ValuesIn(devices()),
                         device_name);

// Expects search(params) to throw InvalidArgument whose message contains `names`, with the
// output arrays left as they were.
void expect_refused(const Index& index, const float* queries, const SearchParams& params,
                    const std::string& names) {
  std::vector<float> distances(kQueries * kK, 7.0f);
  std::vector<idx_t> labels(kQueries * kK, 7);
  try {
    index.search(kQueries, queries, kK, distances.data(), labels.data(), &params);
    ADD_FAILURE() << "no exception; expected one naming " << names;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
  EXPECT_EQ(distances, std::vector<float>(kQueries * kK, 7.0f));
  EXPECT_EQ(labels, std::vector<idx_t>(kQueries * kK, 7));
  EXPECT_THROW(index.validate_search_params(params), InvalidArgument);
}

TEST_P(SearchParamsTest, NprobeBelowOneIsRefused) {
  const auto index = make_ivf();
  expect_refused(*index, xq_.data(), ivf_params(0), "nprobe");
  expect_refused(*index, xq_.data(), ivf_params(-3), "nprobe");
}

TEST_P(SearchParamsTest, NprobeAboveNlistsIsClampedAsFaissDoes) {
  const auto index = make_ivf();
  const SearchParamsIVF all = ivf_params(kLists), beyond = ivf_params(kLists * 10);
  const Result exact = search(*index, kQueries, xq_.data(), kK, &all);
  EXPECT_EQ(search(*index, kQueries, xq_.data(), kK, &beyond), exact);
  // nprobe = n_lists scans everything: the flat index's answer.
  const auto flat = make_flat();
  EXPECT_EQ(search(*flat, kQueries, xq_.data(), kK).labels, exact.labels);
}

TEST_P(SearchParamsTest, PlainParamsKeepTheIndexNprobe) {
  const auto index = make_ivf();
  index->set_n_probe(5);
  SearchParams plain;
  plain.workspace_bytes = std::int64_t{64} << 20;
  EXPECT_EQ(search(*index, kQueries, xq_.data(), kK, &plain),
            search(*index, kQueries, xq_.data(), kK));
  SearchParamsIVF unset;  // nprobe not set: the index's
  EXPECT_EQ(search(*index, kQueries, xq_.data(), kK, &unset),
            search(*index, kQueries, xq_.data(), kK));
}

TEST_P(SearchParamsTest, WorkspaceTooSmallIsRefused) {
  const auto flat = make_flat();
  SearchParams p;
  p.workspace_bytes = 1 << 20;
  expect_refused(*flat, xq_.data(), p, "workspace_bytes");
  p.workspace_bytes = -1;
  expect_refused(*flat, xq_.data(), p, "workspace_bytes");
}

TEST_P(SearchParamsTest, FieldsOutOfRangeAreRefusedByName) {
  const auto flat = make_flat();
  const auto ivf = make_ivf();
  SearchParams p;
  p.flat_overfetch = 0;
  expect_refused(*flat, xq_.data(), p, "flat_overfetch");
  p = {};
  p.flat_tile_rows = 10;
  expect_refused(*flat, xq_.data(), p, "flat_tile_rows");
  p = {};
  p.cpu_base_block = 8;
  expect_refused(*flat, xq_.data(), p, "cpu_base_block");
  SearchParamsIVF q;
  q.shared_scan = 2;
  expect_refused(*ivf, xq_.data(), q, "shared_scan");
  q = {};
  q.rows_per_chunk = 100;
  expect_refused(*ivf, xq_.data(), q, "rows_per_chunk");
  q = {};
  q.cpu_query_block = 0;  // base fields are checked in the IVF variant too
  expect_refused(*ivf, xq_.data(), q, "cpu_query_block");
}

TEST_P(SearchParamsTest, WrongParamsTypeForTheIndexKindIsRefused) {
  const auto flat = make_flat();
  expect_refused(*flat, xq_.data(), ivf_params(4), "SearchParamsIVF");
}

TEST_P(SearchParamsTest, CompositeIndexesPassParamsOn) {
  const auto ivf = make_ivf();
  const SearchParamsIVF p = ivf_params(24);
  const Result single = search(*ivf, kQueries, xq_.data(), kK, &p);
  const IndexShards shards(*ivf, {GetParam(), GetParam()});
  const Result sharded = search(shards, kQueries, xq_.data(), kK, &p);
  EXPECT_EQ(sharded.distances, single.distances);
  // The shards' own n_probe (1, copied from the index) stays in force without params.
  EXPECT_NE(search(shards, kQueries, xq_.data(), kK).distances, single.distances);

  const auto flat = make_flat();
  const IndexShards flat_shards(*flat, {GetParam(), GetParam()});
  expect_refused(flat_shards, xq_.data(), p, "SearchParamsIVF");
}

TEST_P(SearchParamsTest, BatchedSearchTakesParams) {
  const auto ivf = make_ivf();
  const SearchParamsIVF p = ivf_params(24);
  // Chunks of 16 queries, each searched as a search of 16 queries is.
  constexpr idx_t kChunk = 16;
  Result expected;
  for (idx_t q0 = 0; q0 < kQueries; q0 += kChunk) {
    const Result part = search(*ivf, kChunk, xq_.data() + q0 * kDim, kK, &p);
    expected.distances.insert(expected.distances.end(), part.distances.begin(),
                              part.distances.end());
    expected.labels.insert(expected.labels.end(), part.labels.begin(), part.labels.end());
  }
  Result got{std::vector<float>(kQueries * kK), std::vector<idx_t>(kQueries * kK)};
  BatchedSearchOptions options;
  options.chunk_queries = kChunk;
  options.params = &p;
  search_batched_async(*ivf, kQueries, xq_.data(), kK, got.distances.data(), got.labels.data(), {},
                       options)
      .wait();
  EXPECT_EQ(got, expected);

  const SearchParamsIVF bad = ivf_params(0);
  options.params = &bad;
  EXPECT_THROW(search_batched_async(*ivf, kQueries, xq_.data(), kK, got.distances.data(),
                                    got.labels.data(), {}, options),
               InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Devices, SearchParamsTest, ::testing::ValuesIn(devices()), device_name);

}  // namespace
}  // namespace knnx
