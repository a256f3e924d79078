// A chunked add (AddOptions) is one call: all-or-nothing when a chunk, or its progress callback,
// fails part way, on every index kind it reaches; and atomic for other writers when the caller
// holds the writer lock for the call, as the Index contract asks.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_replicas.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/index_shards.hpp"
#include "knnx/shared_mutex.hpp"
#include "knnx/transform.hpp"
#include "shard_test_util.hpp"

namespace knnx {
namespace {

constexpr int kDim = 8;

// An index whose do_add throws OutOfMemory on its fail_on-th call (0-based): the fault a chunk
// meets when memory runs out after earlier chunks went in.
template <typename Base>
class FailingAdd : public Base {
 public:
  using Base::Base;
  int calls = 0;
  int fail_on = -1;

 protected:
  void do_add(idx_t n, const float* x, const idx_t* ids) override {
    if (calls++ == fail_on) throw OutOfMemory("injected: no memory for this chunk");
    Base::do_add(n, x, ids);
  }
};

// An index of the named kind whose innermost indexes (the wrapped one, every shard or replica)
// are FailingAdd ones, trained.
std::unique_ptr<Index> make_index(const std::string& kind) {
  const std::vector<float> train = test::grid_vectors(64, kDim, 7);
  auto flat = [] { return std::make_unique<FailingAdd<IndexFlat>>(kDim, Metric::L2); };
  if (kind == "flat") return flat();
  if (kind == "ivf") {
    auto ivf = std::make_unique<FailingAdd<IndexIVFFlat>>(kDim, 4, Metric::L2);
    ivf->train(64, train.data());
    ivf->set_n_probe(4);
    return ivf;
  }
  if (kind == "pretransform") {
    return std::make_unique<IndexPreTransform>(std::make_shared<L2Normalize>(kDim), flat());
  }
  // The compressed indexes: product quantizers train 256 centroids a sub-space.
  const std::vector<float> many = test::grid_vectors(300, kDim, 7);
  if (kind == "sq") {
    auto sq = std::make_unique<FailingAdd<IndexIVFScalarQuantizer>>(
        kDim, 4, ScalarQuantizer::Type::QT_8bit, Metric::L2);
    sq->train(64, train.data());
    sq->set_n_probe(4);
    return sq;
  }
  if (kind == "pq") {
    auto pq = std::make_unique<FailingAdd<IndexPQ>>(kDim, 2, 8, Metric::L2);
    pq->train(300, many.data());
    return pq;
  }
  if (kind == "ivfpq") {
    auto pq = std::make_unique<FailingAdd<IndexIVFPQ>>(kDim, 4, 2, 8, Metric::L2);
    pq->train(300, many.data());
    pq->set_n_probe(4);
    return pq;
  }
  if (kind == "refine") return std::make_unique<IndexRefineFlat>(flat());
  const SubIndexFactory factory = [&flat](Device) -> std::unique_ptr<Index> { return flat(); };
  const std::vector<Device> cpus(2, Device::cpu());
  if (kind == "shards") return std::make_unique<IndexShards>(kDim, Metric::L2, cpus, factory);
  return std::make_unique<IndexReplicas>(kDim, Metric::L2, cpus, factory);
}

// Rows with sequential and with chosen ids, two of them removed: two do_add calls on every
// innermost index (shards: 5 rows each per call).
constexpr int kFillCalls = 2;
void fill(Index& index) {
  const std::vector<float> x = test::grid_vectors(20, kDim, 11);
  index.add(10, x.data());
  const std::vector<idx_t> ids = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
  index.add_with_ids(10, x.data() + 10 * kDim, ids.data());
  const std::vector<idx_t> gone = {3, 109};
  index.remove_ids(2, gone.data());
}

// What a caller can observe: the count and every query's full ranking.
struct Snapshot {
  idx_t ntotal;
  test::Results all;
  bool operator==(const Snapshot& o) const {
    return ntotal == o.ntotal && all.labels == o.all.labels && all.distances == o.all.distances;
  }
};

Snapshot snapshot(const Index& index) {
  const std::vector<float> q = test::grid_vectors(5, kDim, 13);
  return {index.ntotal(), test::run_search(index, 5, q, 64)};
}

// The id the next add assigns, seen by adding one row (on a copy of the state: this changes it):
// the one id a full search finds after the add and not before (compressed indexes store the
// row approximately, so its own distance need not be 0).
idx_t next_id_by_adding(Index& index) {
  const std::vector<float> v = test::grid_vectors(1, kDim, 17);
  const int all = static_cast<int>(index.ntotal()) + 1;
  const test::Results before = test::run_search(index, 1, v, all);
  index.add(1, v.data());
  const test::Results after = test::run_search(index, 1, v, all);
  for (const idx_t id : after.labels) {
    if (id >= 0 &&
        std::find(before.labels.begin(), before.labels.end(), id) == before.labels.end()) {
      return id;
    }
  }
  ADD_FAILURE() << "the added row is not found";
  return -1;
}

class ChunkedAdd : public ::testing::TestWithParam<std::string> {};

// Makes the innermost indexes fail their fail_on-th add (-1: never).
void arm(Index& index, const std::string& kind, int fail_on) {
  auto set = [fail_on](Index& i) {
    if (auto* f = dynamic_cast<FailingAdd<IndexFlat>*>(&i)) f->fail_on = fail_on;
    if (auto* v = dynamic_cast<FailingAdd<IndexIVFFlat>*>(&i)) v->fail_on = fail_on;
    if (auto* q = dynamic_cast<FailingAdd<IndexIVFScalarQuantizer>*>(&i)) q->fail_on = fail_on;
    if (auto* p = dynamic_cast<FailingAdd<IndexPQ>*>(&i)) p->fail_on = fail_on;
    if (auto* p = dynamic_cast<FailingAdd<IndexIVFPQ>*>(&i)) p->fail_on = fail_on;
  };
  if (kind == "shards") {
    auto& s = static_cast<IndexShards&>(index);
    for (int i = 0; i < s.n_shards(); ++i) set(s.shard(i));
  } else if (kind == "replicas") {
    auto& r = static_cast<IndexReplicas&>(index);
    for (int i = 0; i < r.n_replicas(); ++i) set(r.replica(i));
  } else if (kind == "pretransform") {
    set(static_cast<IndexPreTransform&>(index).index());
  } else if (kind == "refine") {
    set(const_cast<Index&>(static_cast<IndexRefineFlat&>(index).base_index()));
  } else {
    set(index);
  }
}

TEST_P(ChunkedAdd, FailureMidwayLeavesTheIndexAndItsNextIdUnchanged) {
  const std::string kind = GetParam();
  const std::vector<float> x = test::grid_vectors(40, kDim, 19);
  std::vector<idx_t> ids(40);
  for (idx_t i = 0; i < 40; ++i) ids[static_cast<std::size_t>(i)] = 1000 + 3 * i;

  for (const bool with_ids : {false, true}) {
    SCOPED_TRACE(kind + (with_ids ? " add_with_ids" : " add"));
    // Reference: the same history without the failed call.
    std::unique_ptr<Index> reference = make_index(kind);
    fill(*reference);
    const Snapshot want = snapshot(*reference);

    std::unique_ptr<Index> index = make_index(kind);
    fill(*index);
    ASSERT_TRUE(snapshot(*index) == want);
    // Chunks of 7 rows: the third chunk's add fails in the innermost index.
    arm(*index, kind, kFillCalls + 2);
    std::vector<idx_t> progress;
    AddOptions options{.chunk_size = 7, .progress = [&](idx_t added, idx_t n) {
                         EXPECT_EQ(n, 40);
                         EXPECT_EQ(index->ntotal(), want.ntotal + added);  // reads the index
                         progress.push_back(added);
                       }};
    if (with_ids) {
      EXPECT_THROW(index->add_with_ids(40, x.data(), ids.data(), options), OutOfMemory);
    } else {
      EXPECT_THROW(index->add(40, x.data(), options), OutOfMemory);
    }
    if (kind == "shards") {
      EXPECT_FALSE(progress.empty());  // earlier chunks went in before the fault
    } else {
      EXPECT_EQ(progress, (std::vector<idx_t>{7, 14}));
    }
    EXPECT_TRUE(snapshot(*index) == want);
    arm(*index, kind, -1);
    EXPECT_EQ(next_id_by_adding(*index), next_id_by_adding(*reference));
  }
}

TEST_P(ChunkedAdd, ProgressThatThrowsUndoesTheWholeCall) {
  const std::string kind = GetParam();
  const std::vector<float> x = test::grid_vectors(40, kDim, 23);
  std::unique_ptr<Index> reference = make_index(kind);
  fill(*reference);
  std::unique_ptr<Index> index = make_index(kind);
  fill(*index);
  const Snapshot want = snapshot(*index);
  // Thrown after the last chunk too: even a complete add is undone.
  for (const idx_t stop_at : {idx_t{14}, idx_t{40}}) {
    AddOptions options{.chunk_size = 7, .progress = [stop_at](idx_t added, idx_t) {
                         if (added >= stop_at) throw InvalidArgument("stopped by the caller");
                       }};
    EXPECT_THROW(index->add(40, x.data(), options), InvalidArgument);
    EXPECT_TRUE(snapshot(*index) == want);
  }
  EXPECT_EQ(next_id_by_adding(*index), next_id_by_adding(*reference));
}

// Invalid values in a later chunk, or an id already stored there, are found before the first
// chunk goes in: nothing is added and progress is never called.
TEST_P(ChunkedAdd, EverythingIsValidatedBeforeTheFirstChunk) {
  const std::string kind = GetParam();
  std::unique_ptr<Index> index = make_index(kind);
  fill(*index);
  const Snapshot want = snapshot(*index);
  int calls = 0;
  const AddOptions options{.chunk_size = 7, .progress = [&](idx_t, idx_t) { ++calls; }};
  std::vector<float> x = test::grid_vectors(40, kDim, 29);
  x[static_cast<std::size_t>(30 * kDim + 2)] = std::numeric_limits<float>::quiet_NaN();
  try {
    index->add(40, x.data(), options);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("in rows 28:35 of x"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("row 2, column 2"), std::string::npos) << e.what();
  }
  x[static_cast<std::size_t>(30 * kDim + 2)] = 0.0f;
  std::vector<idx_t> ids(40);
  for (idx_t i = 0; i < 40; ++i) ids[static_cast<std::size_t>(i)] = 500 + i;
  ids[33] = 100;  // stored by fill()
  EXPECT_THROW(index->add_with_ids(40, x.data(), ids.data(), options), InvalidArgument);
  ids[33] = 500;  // repeated
  EXPECT_THROW(index->add_with_ids(40, x.data(), ids.data(), options), InvalidArgument);
  EXPECT_THROW(index->add(40, x.data(), AddOptions{.chunk_size = -1}), InvalidArgument);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(snapshot(*index) == want);
}

// A chunked add that succeeds gives what one plain add gives.
TEST_P(ChunkedAdd, SameContentsAsAPlainAdd) {
  const std::string kind = GetParam();
  const std::vector<float> x = test::grid_vectors(40, kDim, 31);
  std::unique_ptr<Index> plain = make_index(kind);
  std::unique_ptr<Index> chunked = make_index(kind);
  fill(*plain);
  fill(*chunked);
  plain->add(40, x.data());
  std::vector<idx_t> progress;
  chunked->add(40, x.data(), {.chunk_size = 16, .progress = [&](idx_t added, idx_t) {
                                progress.push_back(added);
                              }});
  EXPECT_EQ(progress, (std::vector<idx_t>{16, 32, 40}));
  EXPECT_EQ(chunked->ntotal(), plain->ntotal());
  const std::vector<float> q = test::grid_vectors(5, kDim, 37);
  const test::Results a = test::run_search(*plain, 5, q, 10);
  const test::Results b = test::run_search(*chunked, 5, q, 10);
  EXPECT_EQ(a.distances, b.distances);
  if (kind != "shards") EXPECT_EQ(a.labels, b.labels);  // shards: ties may come in another order
}

INSTANTIATE_TEST_SUITE_P(Kinds, ChunkedAdd,
                         ::testing::Values("flat", "ivf", "pretransform", "shards", "replicas",
                                           "sq", "pq", "ivfpq", "refine"));

// Two threads add in chunks to one index under its writer lock while a third searches: each
// call's rows are contiguous and in order (no chunk of the other thread between them), the total
// is right, and a search never sees part of a call.
TEST(ConcurrencyChunkedAdd, ChunksOfConcurrentAddsDoNotInterleave) {
  constexpr int kThreads = 2, kCalls = 12;
  constexpr idx_t kRows = 30;
  IndexFlat index(kDim, Metric::L2);
  SharedMutex mutex;
  std::atomic<bool> adding{true};
  std::atomic<int> partial_views{0};
  std::thread searcher([&] {
    const std::vector<float> q(kDim, 0.0f);
    std::vector<float> d(1);
    std::vector<idx_t> l(1);
    while (adding) {
      std::shared_lock lock(mutex);
      if (index.ntotal() % kRows != 0) ++partial_views;
      if (index.ntotal() > 0) index.search(1, q.data(), 1, d.data(), l.data());
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        // Row r of call c of thread t holds (t, c, r) in its first three coordinates.
        std::vector<float> x(static_cast<std::size_t>(kRows * kDim), 0.0f);
        for (idx_t r = 0; r < kRows; ++r) {
          x[static_cast<std::size_t>(r * kDim)] = static_cast<float>(t);
          x[static_cast<std::size_t>(r * kDim + 1)] = static_cast<float>(c);
          x[static_cast<std::size_t>(r * kDim + 2)] = static_cast<float>(r);
        }
        std::unique_lock lock(mutex);
        index.add(kRows, x.data(), {.chunk_size = 4, .progress = [&](idx_t, idx_t) {
                                      std::this_thread::yield();  // let the others try
                                    }});
      }
    });
  }
  for (std::thread& w : writers) w.join();
  adding = false;
  searcher.join();

  EXPECT_EQ(partial_views, 0);
  ASSERT_EQ(index.ntotal(), kThreads * kCalls * kRows);
  const std::vector<float> v = index.vectors();
  std::vector<int> calls_seen(kThreads, 0);
  for (idx_t block = 0; block < kThreads * kCalls; ++block) {
    const float* first = v.data() + block * kRows * kDim;
    const int t = static_cast<int>(first[0]);
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(first[1], static_cast<float>(calls_seen[static_cast<std::size_t>(t)]++));
    for (idx_t r = 0; r < kRows; ++r) {
      const float* row = first + r * kDim;
      ASSERT_EQ(row[0], first[0]) << "block " << block << " row " << r;
      ASSERT_EQ(row[1], first[1]) << "block " << block << " row " << r;
      ASSERT_EQ(row[2], static_cast<float>(r)) << "block " << block << " row " << r;
    }
  }
  EXPECT_EQ(calls_seen, std::vector<int>(kThreads, kCalls));
  const std::vector<idx_t> ids = index.ids();
  for (idx_t i = 0; i < index.ntotal(); ++i) EXPECT_EQ(ids[static_cast<std::size_t>(i)], i);
}

}  // namespace
}  // namespace knnx
