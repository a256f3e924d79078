// Concurrency: many threads searching one index get exactly what a serial search returns (Flat
// and IVF-Flat, every CPU search path), and writers that follow the documented contract —
// train/add/remove_ids/reset exclusive, searches shared, through a knnx::SharedMutex — never let
// a search see a half-changed index, and are not starved by searches that keep overlapping.
//
// scripts/sanitizers.sh runs this file under ThreadSanitizer (the Concurrency* suites).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "index/gaussian_data.hpp"
#include "knnx/knnx.hpp"
#include "knnx/shared_mutex.hpp"

namespace knnx {
namespace {

constexpr int kThreads = 8;

using test::gaussian;

struct Result {
  std::vector<float> distances;
  std::vector<idx_t> labels;
  bool operator==(const Result&) const = default;
};

Result search(const Index& index, idx_t nq, const float* queries, int k) {
  Result r;
  r.distances.resize(static_cast<std::size_t>(nq * k));
  r.labels.resize(static_cast<std::size_t>(nq * k));
  index.search(nq, queries, k, r.distances.data(), r.labels.data());
  return r;
}

// Runs body(t) on kThreads threads released together, so their calls overlap.
template <typename Body>
void run_together(int threads, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      body(t);
    });
  }
  for (std::thread& th : pool) th.join();
}

// Query counts that reach each CPU flat search path: the direct kernel (<= 3 queries), one
// block split over the base (a few queries) and query blocks split over the threads (many).
const std::vector<idx_t> kQueryCounts = {1, 3, 10, 300};

// Every thread searches every query batch several times; all answers must equal the serial
// ones bit for bit.
void expect_concurrent_equals_serial(const Index& index, int d, int k) {
  std::vector<std::vector<float>> queries;
  std::vector<Result> serial;
  for (std::size_t i = 0; i < kQueryCounts.size(); ++i) {
    queries.push_back(gaussian(kQueryCounts[i], d, 100 + static_cast<std::uint32_t>(i)));
    serial.push_back(search(index, kQueryCounts[i], queries.back().data(), k));
  }
  std::vector<int> mismatches(kThreads, 0);
  run_together(kThreads, [&](int t) {
    for (int rep = 0; rep < 3; ++rep) {
      for (std::size_t i = 0; i < kQueryCounts.size(); ++i) {
        const std::size_t j = (i + static_cast<std::size_t>(t)) % kQueryCounts.size();
        if (search(index, kQueryCounts[j], queries[j].data(), k) != serial[j]) ++mismatches[t];
      }
    }
  });
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

class ConcurrentSearch : public ::testing::TestWithParam<Metric> {};

TEST_P(ConcurrentSearch, FlatMatchesSerial) {
  const int d = 24;
  // 3000 rows fit in one base block (the few-query path then runs a team of one) and also
  // span several direct-kernel chunks.
  for (idx_t n : {idx_t{3000}, idx_t{20000}}) {
    IndexFlat index(d, GetParam());
    const std::vector<float> xb = gaussian(n, d, 1);
    index.add(n, xb.data());
    expect_concurrent_equals_serial(index, d, 10);
  }
}

TEST_P(ConcurrentSearch, IvfMatchesSerial) {
  const int d = 16;
  const idx_t n = 6000;
  IndexIVFFlat index(d, 32, GetParam());
  const std::vector<float> xb = gaussian(n, d, 2);
  index.train(n, xb.data());
  index.add(n, xb.data());
  for (int n_probe : {1, 6, 32}) {
    index.set_n_probe(n_probe);
    expect_concurrent_equals_serial(index, d, 20);
  }
}

INSTANTIATE_TEST_SUITE_P(Concurrency, ConcurrentSearch,
                         ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return info.param == Metric::L2 ? "L2" : "IP"; });

// Writers under the exclusive lock, searches under the shared one: every search sees the index
// between two writes, so its answer equals the serial answer for the state it saw. The states
// are the prefixes 0..j of a list of chunks (added one by one, then removed again from the end,
// twice), and the answer for each is computed beforehand on a separate index.
template <typename MakeIndex>
void expect_searches_see_whole_writes(MakeIndex make_index) {
  const int d = 12, k = 8;
  const idx_t chunk = 400;
  const int n_chunks = 12;
  const idx_t nq = 6;
  const std::vector<float> xb = gaussian(chunk * n_chunks, d, 3);
  const std::vector<float> q = gaussian(nq, d, 4);

  // expected[j]: the answer once chunks 0..j are stored (ids = row numbers).
  std::vector<Result> expected;
  {
    auto reference = make_index(d, xb);
    for (int j = 0; j < n_chunks; ++j) {
      reference->add(chunk, xb.data() + static_cast<std::size_t>(j * chunk * d));
      expected.push_back(search(*reference, nq, q.data(), k));
    }
  }

  auto index = make_index(d, xb);
  index->add(chunk, xb.data());
  SharedMutex mutex;
  std::atomic<bool> done{false};
  std::atomic<int> searches{0};
  std::vector<int> bad(kThreads, 0);
  // Ids are the row numbers throughout (add_with_ids), as in the reference.
  auto chunk_ids = [&](int j) {
    std::vector<idx_t> ids(static_cast<std::size_t>(chunk));
    for (idx_t i = 0; i < chunk; ++i) ids[static_cast<std::size_t>(i)] = j * chunk + i;
    return ids;
  };
  std::thread writer([&] {
    for (int round = 0; round < 2; ++round) {
      for (int j = 1; j < n_chunks; ++j) {
        const std::vector<idx_t> ids = chunk_ids(j);
        std::unique_lock lock(mutex);
        index->add_with_ids(chunk, xb.data() + static_cast<std::size_t>(j * chunk * d), ids.data());
      }
      for (int j = n_chunks - 1; j >= 1; --j) {
        const std::vector<idx_t> ids = chunk_ids(j);
        std::unique_lock lock(mutex);
        EXPECT_EQ(index->remove_ids(chunk, ids.data()), chunk);
      }
    }
    done = true;
  });
  run_together(kThreads - 1, [&](int t) {
    while (!done.load() || searches.load() < 4 * kThreads) {
      std::shared_lock lock(mutex);
      const idx_t ntotal = index->ntotal();
      const Result r = search(*index, nq, q.data(), k);
      lock.unlock();
      searches.fetch_add(1);
      if (ntotal % chunk != 0 || ntotal < chunk || r != expected[ntotal / chunk - 1]) ++bad[t];
    }
  });
  writer.join();
  for (int t = 0; t < kThreads - 1; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
  EXPECT_EQ(index->ntotal(), chunk);
}

TEST(ConcurrencyWriters, FlatAddAndRemoveWhileSearching) {
  expect_searches_see_whole_writes(
      [](int d, const std::vector<float>&) { return std::make_unique<IndexFlat>(d, Metric::L2); });
}

TEST(ConcurrencyWriters, IvfAddAndRemoveWhileSearching) {
  expect_searches_see_whole_writes([](int d, const std::vector<float>& xb) {
    auto index = std::make_unique<IndexIVFFlat>(d, 8, Metric::L2);
    index->train(static_cast<idx_t>(xb.size()) / d, xb.data());
    index->set_n_probe(3);
    return index;
  });
}

// Searches on different indexes at once (each thread its own index) share nothing but the
// process-wide BLAS and OpenMP runtimes; their answers must not depend on each other.
TEST(ConcurrencyIndependent, SeparateIndexesInParallel) {
  const int d = 20;
  const idx_t n = 2500;
  std::vector<std::unique_ptr<IndexFlat>> indexes;
  std::vector<Result> serial;
  const std::vector<float> q = gaussian(12, d, 5);
  for (int t = 0; t < kThreads; ++t) {
    indexes.push_back(std::make_unique<IndexFlat>(d));
    const std::vector<float> xb = gaussian(n, d, 10 + static_cast<std::uint32_t>(t));
    indexes.back()->add(n, xb.data());
    serial.push_back(search(*indexes.back(), 12, q.data(), 5));
  }
  std::vector<int> mismatches(kThreads, 0);
  run_together(kThreads, [&](int t) {
    for (int rep = 0; rep < 10; ++rep) {
      if (search(*indexes[static_cast<std::size_t>(t)], 12, q.data(), 5) !=
          serial[static_cast<std::size_t>(t)]) {
        ++mismatches[t];
      }
    }
  });
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// The lock itself: readers that hold it shared in overlapping turns, with no moment in which
// none holds it, must still let a writer in. std::shared_mutex on glibc prefers readers and
// never would (the Python test_searches_run_while_another_thread_adds hung that way).
TEST(ConcurrencySharedMutex, WriterIsNotStarvedByOverlappingReaders) {
  SharedMutex mutex;
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  int value = 0;  // written under the exclusive lock, read under the shared one
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::shared_lock lock(mutex);
        const int seen = value;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        EXPECT_EQ(value, seen);  // no writer inside while a reader is
        reads.fetch_add(1);
      }
    });
  }
  while (reads.load() < 20) std::this_thread::yield();  // readers are overlapping now
  const auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < 50; ++w) {
    std::unique_lock lock(mutex);
    ++value;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(value, 50);
  EXPECT_LT(seconds, 20.0) << "50 writes took " << seconds << " s among overlapping readers";
}

TEST(ConcurrencySharedMutex, TryLockRespectsHoldersAndWaitingWriters) {
  SharedMutex mutex;
  ASSERT_TRUE(mutex.try_lock_shared());
  EXPECT_TRUE(mutex.try_lock_shared());  // readers share
  EXPECT_FALSE(mutex.try_lock());        // but keep a writer out
  mutex.unlock_shared();
  mutex.unlock_shared();
  ASSERT_TRUE(mutex.try_lock());
  EXPECT_FALSE(mutex.try_lock_shared());
  EXPECT_FALSE(mutex.try_lock());
  mutex.unlock();

  // A writer blocked behind a reader keeps new readers out until it has run.
  mutex.lock_shared();
  std::atomic<bool> wrote{false};
  std::thread writer([&] {
    std::unique_lock lock(mutex);
    wrote = true;
  });
  bool reader_refused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!reader_refused && std::chrono::steady_clock::now() < deadline) {
    if (mutex.try_lock_shared()) {
      mutex.unlock_shared();
      std::this_thread::yield();
    } else {
      reader_refused = true;  // the writer is waiting now
    }
  }
  EXPECT_TRUE(reader_refused);
  EXPECT_FALSE(wrote.load());
  mutex.unlock_shared();
  writer.join();
  EXPECT_TRUE(wrote.load());
  EXPECT_TRUE(mutex.try_lock_shared());
  mutex.unlock_shared();
}

}  // namespace
}  // namespace knnx
