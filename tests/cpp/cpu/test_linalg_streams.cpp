// search_batched_async on a CPU index (the chunking, callbacks and error paths shared with the
// GPU pipeline) and StreamSet's argument checks.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "cpu/linalg_test_util.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/streams.hpp"

namespace knnx {
namespace {

TEST(BatchedSearch, ChunksMatchOneSearchAndEachCallbackFiresOnce) {
  const int d = 16, k = 7;
  const idx_t n = 3000, nq = 1001;
  const std::vector<float> x = test::normal_matrix(n, d, 1);
  const std::vector<float> q = test::normal_matrix(nq, d, 2);
  IndexFlat index(d);
  index.add(n, x.data());
  std::vector<float> dist(nq * k), ref_d(nq * k);
  std::vector<idx_t> lab(nq * k), ref_l(nq * k);
  index.search(nq, q.data(), k, ref_d.data(), ref_l.data());
  std::mutex mutex;
  std::set<std::pair<idx_t, idx_t>> chunks;
  BatchedSearchOptions opt;
  opt.chunk_queries = 128;
  BatchedSearch s = search_batched_async(
      index, nq, q.data(), k, dist.data(), lab.data(),
      [&](idx_t first, idx_t count) {
        std::lock_guard<std::mutex> lock(mutex);
        EXPECT_TRUE(chunks.insert({first, count}).second);
      },
      opt);
  s.wait();
  EXPECT_TRUE(s.done());
  // Chunking changes the BLAS blocking, so distances may differ in the last bits.
  int same = 0;
  for (idx_t i = 0; i < nq * k; ++i) {
    EXPECT_NEAR(dist[i], ref_d[i], 1e-4 * (1.0 + ref_d[i]));
    same += lab[i] == ref_l[i];
  }
  EXPECT_GE(same, nq * k * 99 / 100);
  idx_t covered = 0;
  for (const auto& [first, count] : chunks) {
    EXPECT_EQ(first, covered);
    covered += count;
  }
  EXPECT_EQ(covered, nq);
  EXPECT_EQ(chunks.size(), 8u);  // ceil(1001 / 128)
}

TEST(BatchedSearch, CallbackErrorsAreRethrownByWait) {
  const int d = 4;
  IndexFlat index(d);
  const std::vector<float> x = test::normal_matrix(100, d, 3);
  index.add(100, x.data());
  std::vector<float> dist(100);
  std::vector<idx_t> lab(100);
  BatchedSearchOptions opt;
  opt.chunk_queries = 10;
  BatchedSearch s = search_batched_async(
      index, 100, x.data(), 1, dist.data(), lab.data(),
      [](idx_t first, idx_t) {
        if (first == 30) throw InvalidArgument("stop at 30");
      },
      opt);
  EXPECT_THROW(s.wait(), InvalidArgument);
}

TEST(BatchedSearch, BadArgumentsAreRefusedBeforeStarting) {
  const int d = 4;
  IndexFlat index(d);
  std::vector<float> q(8, 0.0f), dist(8);
  std::vector<idx_t> lab(8);
  EXPECT_THROW(search_batched_async(index, 0, q.data(), 1, dist.data(), lab.data()), InvalidArgument);
  EXPECT_THROW(search_batched_async(index, 2, q.data(), 0, dist.data(), lab.data()), InvalidArgument);
  EXPECT_THROW(search_batched_async(index, 2, nullptr, 1, dist.data(), lab.data()), InvalidArgument);
  BatchedSearchOptions opt;
  opt.chunk_queries = -1;
  EXPECT_THROW(search_batched_async(index, 2, q.data(), 1, dist.data(), lab.data(), {}, opt),
               InvalidArgument);
  q[3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(search_batched_async(index, 2, q.data(), 1, dist.data(), lab.data()), InvalidArgument);
  EXPECT_THROW(StreamSet(0, Device::cuda(0)), InvalidArgument);
  EXPECT_THROW(StreamSet(2, Device::cpu()), InvalidArgument);
  if (cuda_device_count() == 0) EXPECT_THROW(StreamSet(2, Device::cuda(0)), Error);
}

}  // namespace
}  // namespace knnx
