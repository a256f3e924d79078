// IndexShards and IndexReplicas on the CPU: 1, 2 and 3 sub-indexes give exactly the single
// index's results (labels and distances) for Flat and IVF-Flat, L2 and inner product, k up to
// 1024, sizes not divisible by the shard count, add_with_ids, remove_ids, reset and
// reconstruct; balanced adds, shared IVF training, the split / merge of existing indexes, and
// the typed errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "index/shard_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::expect_balanced;
using test::expect_identical;
using test::grid_vectors;
using test::Results;
using test::run_search;

constexpr int kDim = 24;
constexpr int kLists = 16;

// The base vectors by label, for the tie-aware comparison.
std::map<idx_t, const float*> by_label(const std::vector<float>& x, const std::vector<idx_t>& ids) {
  std::map<idx_t, const float*> m;
  for (std::size_t i = 0; i < ids.size(); ++i) m[ids[i]] = x.data() + i * kDim;
  return m;
}

std::vector<idx_t> sequential(idx_t n, idx_t first = 0) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

// Exact for Flat with sequential ids (row order is label order on every shard); IVF orders
// equal distances by list position, so there the comparison allows ties to differ in order.
void expect_same(bool ivf, Metric metric, const Results& want, const Results& got, idx_t nq, int k,
                 const std::vector<float>& q, const std::map<idx_t, const float*>& base) {
  if (ivf) {
    test::expect_identical_up_to_ties(want, got, nq, k, metric, q, base, kDim);
  } else {
    expect_identical(want, got, nq, k);
  }
}

std::vector<Device> cpus(int n) {
  return std::vector<Device>(static_cast<std::size_t>(n), Device::cpu());
}

// Centroids on the same grid as the data (the first kLists rows of their own sample), so list
// assignment is exact too.
std::vector<float> grid_centroids() { return grid_vectors(kLists, kDim, 99); }

std::unique_ptr<Index> make_single(bool ivf, Metric metric) {
  if (!ivf) return std::make_unique<IndexFlat>(kDim, metric);
  auto index = std::make_unique<IndexIVFFlat>(kDim, kLists, metric);
  index->set_centroids(grid_centroids().data());
  index->set_n_probe(5);
  return index;
}

SubIndexFactory factory(bool ivf, Metric metric) {
  return [ivf, metric](Device) { return make_single(ivf, metric); };
}

struct Case {
  bool ivf;
  Metric metric;
  int shards;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.ivf ? "IVF" : "Flat") +
         (info.param.metric == Metric::L2 ? "_L2_" : "_IP_") + std::to_string(info.param.shards);
}

class ShardsCpu : public ::testing::TestWithParam<Case> {};

TEST_P(ShardsCpu, SearchEqualsSingleIndexForManyK) {
  const Case c = GetParam();
  const idx_t n = 3001;  // not divisible by 2 or 3
  const idx_t nq = 37;
  const std::vector<float> x = grid_vectors(n, kDim, 1);
  const std::vector<float> q = grid_vectors(nq, kDim, 2);
  auto single = make_single(c.ivf, c.metric);
  IndexShards shards(kDim, c.metric, cpus(c.shards), factory(c.ivf, c.metric));
  EXPECT_STREQ(shards.gather_method(), "host");
  single->add(n, x.data());
  shards.add(n, x.data());
  EXPECT_EQ(shards.ntotal(), n);
  expect_balanced(shards.shard_sizes());
  const auto base = by_label(x, sequential(n));
  for (int k : {1, 10, 100, 1024}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    expect_same(c.ivf, c.metric, run_search(*single, nq, q, k), run_search(shards, nq, q, k), nq, k,
                q, base);
  }
  // More results asked for than stored: padded identically.
  IndexShards small(kDim, c.metric, cpus(c.shards), factory(c.ivf, c.metric));
  auto small_single = make_single(c.ivf, c.metric);
  small.add(7, x.data());
  small_single->add(7, x.data());
  expect_same(c.ivf, c.metric, run_search(*small_single, nq, q, 16), run_search(small, nq, q, 16),
              nq, 16, q, base);
}

TEST_P(ShardsCpu, AddWithIdsRemoveAndMoreAdds) {
  const Case c = GetParam();
  const idx_t n = 2000;
  const idx_t nq = 25;
  const int k = 50;
  const std::vector<float> x = grid_vectors(n, kDim, 3);
  const std::vector<float> q = grid_vectors(nq, kDim, 4);
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::mt19937_64 rng(5);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (idx_t& id : ids) id = id * 7 + 1000;  // sparse, shuffled ids
  // Shuffled ids: a single index orders equal distances by row or list position, the shards by
  // label, so equal distances may come in another order.
  std::map<idx_t, const float*> base = by_label(x, ids);
  auto same = [&](const Results& want, const Results& got, int kk) {
    test::expect_identical_up_to_ties(want, got, nq, kk, c.metric, q, base, kDim);
  };
  auto single = make_single(c.ivf, c.metric);
  IndexShards shards(kDim, c.metric, cpus(c.shards), factory(c.ivf, c.metric));
  // Three uneven batches.
  const idx_t cut[] = {0, 333, 1001, n};
  for (int b = 0; b < 3; ++b) {
    const idx_t a = cut[b], len = cut[b + 1] - cut[b];
    single->add_with_ids(len, x.data() + a * kDim, ids.data() + a);
    shards.add_with_ids(len, x.data() + a * kDim, ids.data() + a);
    expect_balanced(shards.shard_sizes());
  }
  same(run_search(*single, nq, q, k), run_search(shards, nq, q, k), k);

  // Remove every third id plus some absent ones; counts agree.
  std::vector<idx_t> gone;
  for (idx_t i = 0; i < n; i += 3) gone.push_back(ids[static_cast<std::size_t>(i)]);
  gone.push_back(-5);
  gone.push_back(999999);
  gone.push_back(gone.front());  // repeated
  EXPECT_EQ(shards.remove_ids(static_cast<idx_t>(gone.size()), gone.data()),
            single->remove_ids(static_cast<idx_t>(gone.size()), gone.data()));
  EXPECT_EQ(shards.ntotal(), single->ntotal());
  same(run_search(*single, nq, q, k), run_search(shards, nq, q, k), k);

  // add() after add_with_ids numbers from one past the largest id ever held, as the single
  // index does; the add rebalances the shards.
  single->add(500, x.data());
  shards.add(500, x.data());
  const std::vector<idx_t> added = sequential(500, 1000 + 7 * (n - 1) + 1);
  for (std::size_t i = 0; i < added.size(); ++i) base[added[i]] = x.data() + i * kDim;
  same(run_search(*single, nq, q, k), run_search(shards, nq, q, k), k);
  const std::vector<idx_t> sizes = shards.shard_sizes();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), idx_t{0}), single->ntotal());

  // reconstruct finds the vector on whichever shard holds it.
  std::vector<float> got(kDim);
  const idx_t kept = ids[1];
  shards.reconstruct(kept, got.data());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), x.begin() + 1 * kDim));
  EXPECT_THROW(shards.reconstruct(ids[0], got.data()), InvalidArgument);  // removed
  EXPECT_THROW(shards.reconstruct(-1, got.data()), InvalidArgument);

  // Ids already stored are refused, and nothing is added.
  const idx_t before = shards.ntotal();
  EXPECT_THROW(shards.add_with_ids(1, x.data(), &kept), InvalidArgument);
  EXPECT_EQ(shards.ntotal(), before);

  // reset empties every shard and numbers from 0 again.
  shards.reset();
  single->reset();
  EXPECT_EQ(shards.ntotal(), 0);
  shards.add(100, x.data());
  single->add(100, x.data());
  base = by_label(x, sequential(100));
  same(run_search(*single, nq, q, 10), run_search(shards, nq, q, 10), 10);
}

TEST_P(ShardsCpu, ReplicasEqualSingleIndex) {
  const Case c = GetParam();
  const idx_t n = 1501;
  const std::vector<float> x = grid_vectors(n, kDim, 6);
  auto single = make_single(c.ivf, c.metric);
  IndexReplicas replicas(kDim, c.metric, cpus(c.shards), factory(c.ivf, c.metric));
  single->add(n, x.data());
  replicas.add(n, x.data());
  EXPECT_EQ(replicas.ntotal(), n);
  for (int r = 0; r < replicas.n_replicas(); ++r) EXPECT_EQ(replicas.replica(r).ntotal(), n);
  // nq below, at and above the replica count, not divisible by it.
  for (idx_t nq : {idx_t{1}, idx_t{2}, idx_t{3}, idx_t{40}}) {
    const std::vector<float> q = grid_vectors(nq, kDim, 7);
    for (int k : {1, 64, 1024}) {
      SCOPED_TRACE("nq = " + std::to_string(nq) + ", k = " + std::to_string(k));
      expect_identical(run_search(*single, nq, q, k), run_search(replicas, nq, q, k), nq, k);
    }
  }
  std::vector<idx_t> gone = {0, 5, 1500, 77777};
  EXPECT_EQ(replicas.remove_ids(4, gone.data()), single->remove_ids(4, gone.data()));
  for (int r = 0; r < replicas.n_replicas(); ++r) {
    EXPECT_EQ(replicas.replica(r).ntotal(), single->ntotal());
  }
  const std::vector<float> q = grid_vectors(20, kDim, 8);
  expect_identical(run_search(*single, 20, q, 30), run_search(replicas, 20, q, 30), 20, 30);
  std::vector<float> got(kDim);
  replicas.reconstruct(6, got.data());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), x.begin() + 6 * kDim));
  EXPECT_THROW(replicas.reconstruct(5, got.data()), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, ShardsCpu,
    ::testing::Values(Case{false, Metric::L2, 1}, Case{false, Metric::L2, 2},
                      Case{false, Metric::L2, 3}, Case{false, Metric::InnerProduct, 1},
                      Case{false, Metric::InnerProduct, 2}, Case{false, Metric::InnerProduct, 3},
                      Case{true, Metric::L2, 1}, Case{true, Metric::L2, 2},
                      Case{true, Metric::L2, 3}, Case{true, Metric::InnerProduct, 2},
                      Case{true, Metric::InnerProduct, 3}),
    case_name);

TEST(ShardsCpuTrain, IvfTrainsOnceAndSharesCentroids) {
  const idx_t n = 4000;
  const std::vector<float> x = grid_vectors(n, kDim, 9);
  const std::vector<float> q = grid_vectors(30, kDim, 10);
  IndexShards shards(kDim, "IVF16,Flat", cpus(3), Metric::L2);
  IndexReplicas replicas(kDim, "IVF16,Flat", cpus(2), Metric::L2);
  EXPECT_FALSE(shards.is_trained());
  EXPECT_THROW(shards.add(10, x.data()), InvalidArgument);  // not trained
  shards.train(n, x.data());
  replicas.train(n, x.data());
  EXPECT_TRUE(shards.is_trained());
  const auto& first = dynamic_cast<const IndexIVFFlat&>(shards.shard(0));
  const std::vector<float> centroids = first.centroids();
  for (int i = 1; i < shards.n_shards(); ++i) {
    EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(shards.shard(i)).centroids(), centroids);
  }
  EXPECT_EQ(dynamic_cast<const IndexIVFFlat&>(replicas.replica(1)).centroids(),
            dynamic_cast<const IndexIVFFlat&>(replicas.replica(0)).centroids());

  // The single index with the same centroids gives the same results at any n_probe.
  IndexIVFFlat single(kDim, 16, Metric::L2);
  single.set_centroids(centroids.data());
  single.add(n, x.data());
  shards.add(n, x.data());
  for (int p : {1, 4, 16}) {
    single.set_n_probe(p);
    shards.set_n_probe(p);
    EXPECT_EQ(shards.n_probe(), p);
    test::expect_identical_up_to_ties(run_search(single, 30, q, 20), run_search(shards, 30, q, 20),
                                      30, 20, Metric::L2, q, by_label(x, sequential(n)), kDim);
  }
  // Training again needs empty shards.
  EXPECT_THROW(shards.train(n, x.data()), InvalidArgument);
  EXPECT_THROW(IndexShards(kDim, "Flat", cpus(2)).set_n_probe(2), NotSupported);
}

TEST(ShardsCpuSplit, SplitsAndMergesAnExistingIndex) {
  const idx_t n = 2500;
  const std::vector<float> x = grid_vectors(n, kDim, 11);
  const std::vector<float> q = grid_vectors(40, kDim, 12);
  for (bool ivf : {false, true}) {
    SCOPED_TRACE(ivf ? "IVF" : "Flat");
    auto single = make_single(ivf, Metric::L2);
    single->add(n, x.data());
    std::vector<idx_t> gone = {3, 4, 2499};
    single->remove_ids(3, gone.data());
    IndexShards shards(*single, cpus(3));
    IndexReplicas replicas(*single, cpus(2));
    EXPECT_EQ(shards.ntotal(), single->ntotal());
    expect_balanced(shards.shard_sizes());
    const auto base = by_label(x, sequential(n));
    const Results want = run_search(*single, 40, q, 25);
    expect_same(ivf, Metric::L2, want, run_search(shards, 40, q, 25), 40, 25, q, base);
    expect_identical(want, run_search(replicas, 40, q, 25), 40, 25);
    if (ivf) {
      EXPECT_EQ(shards.n_probe(), 5);
      EXPECT_EQ(replicas.n_probe(), 5);
    }
    // merged() is the single index again, which write_index / read_index round-trip.
    auto merged = shards.merged();
    EXPECT_EQ(merged->ntotal(), single->ntotal());
    expect_same(ivf, Metric::L2, want, run_search(*merged, 40, q, 25), 40, 25, q, base);
    const std::string path = ::testing::TempDir() + "knnx_shards_merged.idx";
    write_index(*merged, path);
    auto loaded = read_index(path);
    std::remove(path.c_str());
    IndexShards again(*loaded, cpus(2));
    expect_same(ivf, Metric::L2, want, run_search(again, 40, q, 25), 40, 25, q, base);
    expect_identical(run_search(*single, 40, q, 25), run_search(*replicas.merged(), 40, q, 25), 40,
                     25);
  }
}

TEST(ShardsCpuConcurrency, ConcurrentSearchesAgree) {
  const idx_t n = 3000;
  const std::vector<float> x = grid_vectors(n, kDim, 13);
  const std::vector<float> q = grid_vectors(16, kDim, 14);
  IndexShards shards(kDim, "Flat", cpus(3));
  IndexReplicas replicas(kDim, "Flat", cpus(2));
  shards.add(n, x.data());
  replicas.add(n, x.data());
  const Results want = run_search(shards, 16, q, 10);
  std::vector<Results> got(8);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        got[static_cast<std::size_t>(t)] =
            run_search(t % 2 ? static_cast<const Index&>(replicas) : shards, 16, q, 10);
      });
    }
  }
  for (const Results& r : got) expect_identical(want, r, 16, 10);
}

TEST(ShardsCpuErrors, TypedErrors) {
  EXPECT_THROW(IndexShards(kDim, "Flat", {}), InvalidArgument);
  EXPECT_THROW(IndexReplicas(kDim, "Flat", {}), InvalidArgument);
  EXPECT_THROW(IndexShards(kDim, "HNSW32", cpus(2)), InvalidArgument);
  EXPECT_THROW(IndexShards(0, "Flat", cpus(2)), InvalidArgument);
  // The factory's indexes must match the requested shape.
  EXPECT_THROW(
      IndexShards(kDim, Metric::L2, cpus(2),
                  [](Device d) { return std::make_unique<IndexFlat>(kDim + 1, Metric::L2, d); }),
      InvalidArgument);
  EXPECT_THROW(IndexShards(kDim, Metric::L2, cpus(2),
                           [](Device d) {
                             return std::make_unique<IndexFlat>(kDim, Metric::InnerProduct, d);
                           }),
               InvalidArgument);
  EXPECT_THROW(
      IndexShards(kDim, Metric::L2, cpus(2), [](Device) { return std::unique_ptr<Index>(); }),
      InvalidArgument);
  int made = 0;
  EXPECT_THROW(IndexShards(kDim, Metric::L2, cpus(2),
                           [&](Device d) -> std::unique_ptr<Index> {
                             if (made++ == 0)
                               return std::make_unique<IndexFlat>(kDim, Metric::L2, d);
                             return std::make_unique<IndexIVFFlat>(kDim, 4, Metric::L2, d);
                           }),
               InvalidArgument);
  EXPECT_THROW(IndexShards(kDim, Metric::L2, cpus(2), SubIndexFactory{}), InvalidArgument);
  // IVF sub-indexes with different list counts.
  int lists = 4;
  EXPECT_THROW(IndexShards(kDim, Metric::L2, cpus(2),
                           [&](Device d) {
                             return std::make_unique<IndexIVFFlat>(kDim, lists++, Metric::L2, d);
                           }),
               InvalidArgument);
  if (!cuda_backend_compiled()) {
    EXPECT_THROW(IndexShards(kDim, "Flat", {Device::cpu(), Device::cuda(0)}), NotSupported);
  } else if (cuda_device_count() == 0) {
    EXPECT_THROW(IndexShards(kDim, "Flat", {Device::cpu(), Device::cuda(0)}), InvalidArgument);
  }
  if (!nccl_compiled()) {
    EXPECT_THROW(IndexShards(kDim, "Flat", cpus(2), Metric::L2, {ShardGather::Nccl}), NotSupported);
  }

  IndexShards shards(kDim, "Flat", cpus(2));
  const std::vector<float> x = grid_vectors(10, kDim, 15);
  shards.add(10, x.data());
  EXPECT_THROW(shards.shard(2), InvalidArgument);
  EXPECT_THROW(shards.shard(-1), InvalidArgument);
  std::vector<float> d(10);
  std::vector<idx_t> l(10);
  EXPECT_THROW(shards.search(1, x.data(), 0, d.data(), l.data()), InvalidArgument);
  EXPECT_THROW(shards.search(1, x.data(), kMaxK + 1, d.data(), l.data()), InvalidArgument);
  std::vector<float> bad = x;
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(shards.add(1, bad.data()), InvalidArgument);
  EXPECT_THROW(shards.search(1, bad.data(), 1, d.data(), l.data()), InvalidArgument);
  const idx_t dup[] = {20, 20};
  EXPECT_THROW(shards.add_with_ids(2, x.data(), dup), InvalidArgument);
  const idx_t negative[] = {-3};
  EXPECT_THROW(shards.add_with_ids(1, x.data(), negative), InvalidArgument);
  EXPECT_EQ(shards.ntotal(), 10);
  // A sub-index type without a split.
  IndexShards flat_of_flat(kDim, "Flat", cpus(1));
  EXPECT_THROW(IndexShards(flat_of_flat, cpus(2)), NotSupported);
}

}  // namespace
}  // namespace knnx
