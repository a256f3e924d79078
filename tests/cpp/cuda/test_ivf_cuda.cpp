// GPU IndexIVFFlat and KMeans against their CPU counterparts, and every GPU scan variant
// (fused, unfused, shared candidates, chunked, threads per block) against the others.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "gpu_test_util.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/synthetic.hpp"

namespace knnx {
namespace {

using test::ConfigGuard;
using test::expect_same;
using test::Neighbours;
using test::random_vectors;
using test::search;

struct Data {
  int d;
  idx_t n;
  std::vector<float> base, queries, centroids;
};

Data clustered(int d, idx_t n, idx_t nq, int n_lists, std::uint64_t seed) {
  MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 64;
  spec.noise_stddev = 0.3f;
  spec.seed = seed;
  Data data{d, n, make_mixture_base(spec, n).data, make_mixture_queries(spec, nq).data, {}};
  // Centroids: a sample of the base (identical for both devices).
  data.centroids.assign(data.base.begin(), data.base.begin() + static_cast<std::ptrdiff_t>(n_lists) * d);
  return data;
}

// Gives a CPU and a GPU index the data's centroids and vectors.
void add_to_both(const Data& data, IndexIVFFlat& cpu, IndexIVFFlat& gpu) {
  cpu.set_centroids(data.centroids.data());
  gpu.set_centroids(data.centroids.data());
  cpu.add(data.n, data.base.data());
  gpu.add(data.n, data.base.data());
}

class IvfCudaSweep : public ::testing::TestWithParam<std::tuple<Metric, int, int>> {};

TEST_P(IvfCudaSweep, EqualsCpuWithIdenticalCentroids) {
  KNNX_REQUIRE_GPU();
  const auto [metric, k, n_probe] = GetParam();
  const int d = 40, n_lists = 37;
  const Data data = clustered(d, 6007, 120, n_lists, 3);
  IndexIVFFlat cpu(d, n_lists, metric), gpu(d, n_lists, metric, Device::cuda(0));
  add_to_both(data, cpu, gpu);
  EXPECT_EQ(cpu.list_sizes(), gpu.list_sizes());
  cpu.set_n_probe(n_probe);
  gpu.set_n_probe(n_probe);
  const Neighbours want = search(cpu, data.queries, d, k);
  ConfigGuard guard;
  struct Variant {
    const char* name;
    bool fused;
    int shared;
    int rows_per_chunk;
    int tpb;
  };
  const Variant variants[] = {{"fused", true, 0, 8192, 256},       {"unfused", false, 0, 8192, 256},
                              {"shared", true, 1, 8192, 256},      {"chunked", true, 0, 300, 256},
                              {"tpb128", true, 0, 8192, 128},      {"tpb512", true, 0, 1000, 512},
                              {"auto", true, -1, 8192, 256}};
  for (const Variant& v : variants) {
    Config c = config();
    c.ivf_fused = v.fused;
    c.ivf_shared = v.shared;
    c.ivf_rows_per_chunk = v.rows_per_chunk;
    c.ivf_tpb = v.tpb;
    set_config(c);
    expect_same(want, search(gpu, data.queries, d, k), k, v.name);
  }
}

INSTANTIATE_TEST_SUITE_P(
    MetricKProbe, IvfCudaSweep,
    ::testing::Combine(::testing::Values(Metric::L2, Metric::InnerProduct),
                       ::testing::Values(1, 10, 32, 100, 1000), ::testing::Values(1, 5, 37)),
    [](const auto& info) {
      return to_string(std::get<0>(info.param)) + "_k" + std::to_string(std::get<1>(info.param)) +
             "_p" + std::to_string(std::get<2>(info.param));
    });

TEST(IvfCuda, SharedScanCutsLongListsIntoPieces) {
  KNNX_REQUIRE_GPU();
  // Eight lists of ~2,500 rows (uneven): the shared scan cuts each into pieces of 256 rows, so
  // lists end up in different numbers of pieces and each query merges partials from several
  // blocks, some of them left empty.
  const int d = 40, n_lists = 8;
  const Data data = clustered(d, 20000, 150, n_lists, 7);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexIVFFlat cpu(d, n_lists, metric), gpu(d, n_lists, metric, Device::cuda(0));
    add_to_both(data, cpu, gpu);
    const auto sizes = gpu.list_sizes();
    ASSERT_GT(*std::max_element(sizes.begin(), sizes.end()), 4 * 256);
    for (const int n_probe : {1, 3}) {
      for (const int k : {1, 10, 32}) {
        cpu.set_n_probe(n_probe);
        gpu.set_n_probe(n_probe);
        const Neighbours want = search(cpu, data.queries, d, k);
        for (const int rows_per_chunk : {256, 8192}) {
          ConfigGuard guard;
          Config c = config();
          c.ivf_shared = 1;
          c.ivf_rows_per_chunk = rows_per_chunk;
          set_config(c);
          expect_same(want, search(gpu, data.queries, d, k), k, "shared, pieces");
        }
      }
    }
  }
}

// Every query the same (all probe the same lists, one "hub" list taking every query): the
// shared scan's items are many groups of one list times its pieces, the most the host's bound
// on their number allows for; results equal the CPU's.
TEST(IvfCuda, SharedScanHubListTakesEveryQuery) {
  KNNX_REQUIRE_GPU();
  const int d = 40, n_lists = 8;
  const Data data = clustered(d, 20000, 150, n_lists, 9);
  std::vector<float> same(static_cast<std::size_t>(1000) * d);
  for (std::size_t i = 0; i < same.size(); ++i) same[i] = data.queries[i % d];
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexIVFFlat cpu(d, n_lists, metric), gpu(d, n_lists, metric, Device::cuda(0));
    add_to_both(data, cpu, gpu);
    for (const int n_probe : {1, 2, 8}) {
      cpu.set_n_probe(n_probe);
      gpu.set_n_probe(n_probe);
      const Neighbours want = search(cpu, same, d, 10);
      for (const int rows_per_chunk : {256, 1 << 20}) {
        ConfigGuard guard;
        Config c = config();
        c.ivf_shared = 1;
        c.ivf_rows_per_chunk = rows_per_chunk;
        set_config(c);
        expect_same(want, search(gpu, same, d, 10), 10, "shared, one hub list");
      }
    }
  }
}

TEST(IvfCuda, AllListsProbedIsExact) {
  KNNX_REQUIRE_GPU();
  const int d = 64, n_lists = 16, k = 20;
  const Data data = clustered(d, 4000, 50, n_lists, 5);
  IndexIVFFlat gpu(d, n_lists, Metric::L2, Device::cuda(0));
  gpu.train(data.n, data.base.data());
  gpu.add(data.n, data.base.data());
  gpu.set_n_probe(n_lists);
  IndexFlat flat(d, Metric::L2);
  flat.add(data.n, data.base.data());
  expect_same(search(flat, data.queries, d, k), search(gpu, data.queries, d, k), k, "exact");
}

// d = 13 is padded to 16 on the device: the coarse search reads the padded queries, so a few
// probes per query pick the lists the CPU picks.
TEST(IvfCuda, UnalignedDimensionProbesLikeCpu) {
  KNNX_REQUIRE_GPU();
  const int d = 13, n_lists = 37, k = 10;
  const Data data = clustered(d, 6007, 120, n_lists, 9);
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexIVFFlat cpu(d, n_lists, metric), gpu(d, n_lists, metric, Device::cuda(0));
    add_to_both(data, cpu, gpu);
    cpu.set_n_probe(3);
    gpu.set_n_probe(3);
    expect_same(search(cpu, data.queries, d, k), search(gpu, data.queries, d, k), k,
                to_string(metric).c_str());
  }
}

TEST(IvfCuda, IdsRemovalResetAndGrowth) {
  KNNX_REQUIRE_GPU();
  const int d = 24, n_lists = 8;
  const Data data = clustered(d, 3000, 30, n_lists, 7);
  IndexIVFFlat cpu(d, n_lists), gpu(d, n_lists, Metric::L2, Device::cuda(0));
  cpu.set_centroids(data.centroids.data());
  gpu.set_centroids(data.centroids.data());
  // Many small adds force repeated re-layouts of the device arena.
  for (idx_t s = 0; s < data.n; s += 250) {
    std::vector<idx_t> ids(250);
    for (int i = 0; i < 250; ++i) ids[i] = 10 * (s + i) + 3;
    cpu.add_with_ids(250, data.base.data() + s * d, ids.data());
    gpu.add_with_ids(250, data.base.data() + s * d, ids.data());
  }
  cpu.set_n_probe(3);
  gpu.set_n_probe(3);
  expect_same(search(cpu, data.queries, d, 10), search(gpu, data.queries, d, 10), 10, "ids");
  std::vector<idx_t> gone;
  for (idx_t i = 0; i < data.n; i += 3) gone.push_back(10 * i + 3);
  gone.push_back(5);  // absent
  EXPECT_EQ(cpu.remove_ids(static_cast<idx_t>(gone.size()), gone.data()),
            gpu.remove_ids(static_cast<idx_t>(gone.size()), gone.data()));
  EXPECT_EQ(cpu.ntotal(), gpu.ntotal());
  EXPECT_EQ(cpu.list_sizes(), gpu.list_sizes());
  for (int l = 0; l < n_lists; ++l) {
    EXPECT_EQ(cpu.list_ids(l), gpu.list_ids(l));
    EXPECT_EQ(cpu.list_vectors(l), gpu.list_vectors(l));
  }
  expect_same(search(cpu, data.queries, d, 10), search(gpu, data.queries, d, 10), 10, "removed");
  std::vector<float> rc(d), rg(d);
  cpu.reconstruct(10 * 1 + 3, rc.data());
  gpu.reconstruct(10 * 1 + 3, rg.data());
  EXPECT_EQ(rc, rg);
  gpu.reset();
  EXPECT_EQ(gpu.ntotal(), 0);
  const Neighbours empty = search(gpu, data.queries, d, 5);
  for (idx_t l : empty.lab) EXPECT_EQ(l, -1);
  gpu.add(100, data.base.data());
  EXPECT_EQ(gpu.ntotal(), 100);
}

TEST(IvfCuda, KMeansOnGpuClustersLikeCpu) {
  KNNX_REQUIRE_GPU();
  const int d = 32, k = 50;
  MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 50;
  spec.noise_stddev = 0.1f;
  spec.seed = 9;
  const auto x = make_mixture_base(spec, 20000).data;
  for (auto init : {KMeansParams::Init::KMeansPlusPlus, KMeansParams::Init::Random}) {
    KMeansParams p;
    p.init = init;
    p.n_iter = 15;
    KMeans cpu(d, k, Metric::L2, p);
    p.device = Device::cuda(0);
    KMeans gpu(d, k, Metric::L2, p);
    cpu.train(20000, x.data());
    gpu.train(20000, x.data());
    ASSERT_EQ(gpu.centroids().size(), static_cast<std::size_t>(k * d));
    const auto& obj = gpu.objective();
    ASSERT_EQ(obj.size(), 15u);
    for (std::size_t i = 1; i < obj.size(); ++i) EXPECT_LE(obj[i], obj[i - 1] * (1 + 1e-5));
    // Same clustering quality (different random streams: compare objectives, not centroids).
    EXPECT_NEAR(obj.back(), cpu.objective().back(), 0.1 * cpu.objective().back());
    std::vector<idx_t> lab(100);
    gpu.assign(100, x.data(), lab.data());
    for (idx_t l : lab) EXPECT_TRUE(l >= 0 && l < k);
  }
}

TEST(IvfCuda, KMeansSplitsEmptyClusters) {
  KNNX_REQUIRE_GPU();
  // 8 distinct points repeated: 12 clusters cannot all keep points without splits.
  const int d = 4, k = 12;
  std::vector<float> x;
  for (int r = 0; r < 400; ++r) {
    for (int p = 0; p < 8; ++p) {
      for (int j = 0; j < d; ++j) x.push_back(static_cast<float>(p * 10 + j));
    }
  }
  KMeansParams params;
  params.device = Device::cuda(0);
  params.n_iter = 5;
  KMeans km(d, k, Metric::L2, params);
  km.train(static_cast<idx_t>(x.size()) / d, x.data());
  for (float v : km.centroids()) EXPECT_TRUE(std::isfinite(v));
}

TEST(IvfCuda, SphericalKMeansOnGpuHasUnitCentroids) {
  KNNX_REQUIRE_GPU();
  const int d = 16, k = 10;
  const auto x = random_vectors(3000, d, 4);
  KMeansParams p;
  p.device = Device::cuda(0);
  p.spherical = true;
  KMeans km(d, k, Metric::InnerProduct, p);
  km.train(3000, x.data());
  for (int c = 0; c < k; ++c) {
    double s = 0;
    for (int j = 0; j < d; ++j) s += double(km.centroids()[c * d + j]) * km.centroids()[c * d + j];
    EXPECT_NEAR(s, 1.0, 1e-4);
  }
}

}  // namespace
}  // namespace knnx
