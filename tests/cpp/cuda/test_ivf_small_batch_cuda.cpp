// GPU IVF-Flat and Flat searches of one query and of small batches, the latency paths: the
// per-query scan (each block summing its query's probed list sizes itself up to
// kScanPrefixInBlockMaxProbes probes, the probe_prefix kernel past them), the shared scan from
// two queries a list on average, the coarse search of a few queries over a small base split into
// many parts, filters, and one host wait a search. Lists are heavily skewed (one list holds
// most vectors), and every result is compared with the CPU index's.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/search_params.hpp"

namespace knnx {
namespace {

using test::expect_same;
using test::host_syncs;
using test::Neighbours;
using test::search;

// n_lists centroids: list 0 at the centre of a cloud holding `hub` of the n vectors, the others
// far from it with the rest of the vectors spread around them, so list 0 holds ~hub vectors and
// the others a few dozen each. Queries: half from the cloud (list 0 nearest), half near the
// outer centroids.
struct Skewed {
  int d;
  idx_t n;
  int n_lists;
  std::vector<float> centroids, base, queries;
};

Skewed skewed(int d, idx_t n, int n_lists, idx_t hub, idx_t nq, std::uint64_t seed) {
  Skewed s{d, n, n_lists, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  s.centroids.assign(static_cast<std::size_t>(n_lists) * d, 0.0f);
  for (int l = 1; l < n_lists; ++l) {
    for (int j = 0; j < d; ++j)
      s.centroids[static_cast<std::size_t>(l) * d + j] = 6.0f * normal(rng);
  }
  const auto near = [&](int list, float spread, std::vector<float>& out) {
    for (int j = 0; j < d; ++j) {
      out.push_back(s.centroids[static_cast<std::size_t>(list) * d + j] + spread * normal(rng));
    }
  };
  for (idx_t i = 0; i < n; ++i)
    near(i < hub ? 0 : 1 + static_cast<int>(i % (n_lists - 1)), 1.0f, s.base);
  for (idx_t i = 0; i < nq; ++i)
    near(i % 2 == 0 ? 0 : 1 + static_cast<int>(i % (n_lists - 1)), 1.0f, s.queries);
  return s;
}

struct Pair {
  IndexIVFFlat cpu, gpu;
  Pair(const Skewed& s, Metric metric)
      : cpu(s.d, s.n_lists, metric), gpu(s.d, s.n_lists, metric, Device::cuda(0)) {
    cpu.set_centroids(s.centroids.data());
    gpu.set_centroids(s.centroids.data());
    cpu.add(s.n, s.base.data());
    gpu.add(s.n, s.base.data());
  }
};

std::vector<float> first_queries(const Skewed& s, idx_t nq) {
  return {s.queries.begin(), s.queries.begin() + static_cast<std::ptrdiff_t>(nq) * s.d};
}

// One list holds ~90% of the vectors. nq 1 and small batches, n_probe 1 (a query of the hub
// list scans ~9,000 rows, cut into chunks) to 8, k within and past the shared scan's limit, each
// scan the search may choose (auto, per-query, shared) against the CPU.
TEST(IvfCudaSmallBatch, SkewedListsEqualCpu) {
  KNNX_REQUIRE_GPU();
  const Skewed s = skewed(32, 10000, 16, 9000, 16, 11);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    Pair p(s, metric);
    const auto sizes = p.gpu.list_sizes();
    ASSERT_EQ(sizes, p.cpu.list_sizes());
    // Under L2 the cloud's vectors are nearest list 0; inner products spread them (the centre
    // scores 0) over the outer lists, which makes those uneven instead.
    if (metric == Metric::L2) ASSERT_GT(sizes[0], 8000);
    for (const idx_t nq : {1, 2, 5, 16}) {
      const std::vector<float> q = first_queries(s, nq);
      for (const int n_probe : {1, 2, 8}) {
        for (const int k : {1, 10, 32, 100}) {
          SearchParamsIVF params;
          params.nprobe = n_probe;
          const Neighbours want = search(p.cpu, q, s.d, k, &params);
          for (const int shared : {-1, 0, 1}) {
            if (shared == 1 && k > 32) continue;  // the shared scan's k limit
            SearchParamsIVF gp = params;
            gp.shared_scan = shared;
            const std::string what = to_string(metric) + " nq " + std::to_string(nq) + " n_probe " +
                                     std::to_string(n_probe) + " k " + std::to_string(k) +
                                     " shared " + std::to_string(shared);
            expect_same(want, search(p.gpu, q, s.d, k, &gp), k, what.c_str());
          }
        }
      }
    }
  }
}

// n_probe past one warp's 32 probes and at and past kScanPrefixInBlockMaxProbes (256): the
// per-query scan's in-block prefix over several warp rounds, and the probe_prefix kernel past
// it, give the CPU's results for one query and a few.
TEST(IvfCudaSmallBatch, ManyProbesEqualCpu) {
  KNNX_REQUIRE_GPU();
  const Skewed s = skewed(16, 12000, 300, 6000, 4, 12);
  Pair p(s, Metric::L2);
  for (const idx_t nq : {1, 4}) {
    const std::vector<float> q = first_queries(s, nq);
    for (const int n_probe : {33, 64, 256, 257, 300}) {
      SearchParamsIVF params;
      params.nprobe = n_probe;
      params.shared_scan = 0;
      const Neighbours want = search(p.cpu, q, s.d, 10, &params);
      expect_same(want, search(p.gpu, q, s.d, 10, &params), 10,
                  ("n_probe " + std::to_string(n_probe)).c_str());
    }
  }
}

// A filter on one query and a small batch: only admitted ids come back, as on the CPU.
TEST(IvfCudaSmallBatch, FilteredEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const Skewed s = skewed(32, 10000, 16, 9000, 16, 13);
  Pair p(s, Metric::L2);
  const IDSelectorRange range(2000, 9500);
  for (const idx_t nq : {1, 16}) {
    const std::vector<float> q = first_queries(s, nq);
    for (const int n_probe : {1, 4}) {
      SearchParamsIVF params;
      params.nprobe = n_probe;
      params.sel = &range;
      const Neighbours want = search(p.cpu, q, s.d, 10, &params);
      const Neighbours got = search(p.gpu, q, s.d, 10, &params);
      expect_same(want, got, 10, ("filtered, n_probe " + std::to_string(n_probe)).c_str());
      for (const idx_t id : got.lab) {
        if (id >= 0) EXPECT_TRUE(range.is_member(id)) << id;
      }
    }
  }
}

// From two queries a list on average (32, 80 and 160 queries over 16 lists at n_probe 1: 2, 5 and
// 10 a list) the automatic choice takes the shared scan; results equal the CPU's, as the forced
// per-query scan's do.
TEST(IvfCudaSmallBatch, SharedFromTwoQueriesAListEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const Skewed s = skewed(32, 10000, 16, 9000, 160, 14);
  Pair p(s, Metric::L2);
  for (const idx_t nq : {32, 80, 160}) {
    const std::vector<float> q = first_queries(s, nq);
    SearchParamsIVF params;
    params.nprobe = 1;
    const Neighbours want = search(p.cpu, q, s.d, 10, &params);
    for (const int shared : {-1, 0}) {
      SearchParamsIVF gp = params;
      gp.shared_scan = shared;
      expect_same(want, search(p.gpu, q, s.d, 10, &gp), 10,
                  ("nq " + std::to_string(nq) + " shared " + std::to_string(shared)).c_str());
    }
  }
}

// One query: the host waits once a search, on either scan path.
TEST(IvfCudaSmallBatch, OneQueryOneHostWait) {
  KNNX_REQUIRE_GPU();
  const Skewed s = skewed(32, 10000, 16, 9000, 1, 15);
  Pair p(s, Metric::L2);
  const test::NoSyncCheck no_sync_check;
  for (const int n_probe : {1, 8}) {
    SearchParamsIVF params;
    params.nprobe = n_probe;
    search(p.gpu, s.queries, s.d, 10, &params);  // streams and pools of a first use set up
    const std::uint64_t before = host_syncs();
    search(p.gpu, s.queries, s.d, 10, &params);
    EXPECT_LE(host_syncs() - before, 1u) << "n_probe " << n_probe;
  }
}

// The streaming flat search of a few queries over a small base (the coarse search of an IVF
// index) splits it into parts of 256 rows: one query and a few over 300 to 5,000 rows, k up to
// and past a part's rows, equal the CPU's.
TEST(FlatCudaSmallBatch, SmallBaseSplitIntoPartsEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const int d = 24;
  for (const idx_t n : {300, 1000, 4096, 5000}) {
    const std::vector<float> base = test::random_vectors(n, d, 20 + static_cast<std::uint64_t>(n));
    const std::vector<float> queries = test::random_vectors(8, d, 21);
    for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
      IndexFlat cpu(d, metric), gpu(d, metric, Device::cuda(0));
      cpu.add(n, base.data());
      gpu.add(n, base.data());
      for (const idx_t nq : {1, 3, 8}) {
        const std::vector<float> q(queries.begin(), queries.begin() + nq * d);
        for (const int k : {1, 10, 100, 300}) {
          const std::string what = to_string(metric) + " n " + std::to_string(n) + " nq " +
                                   std::to_string(nq) + " k " + std::to_string(k);
          expect_same(search(cpu, q, d, k), search(gpu, q, d, k), k, what.c_str());
        }
      }
    }
  }
}

}  // namespace
}  // namespace knnx
