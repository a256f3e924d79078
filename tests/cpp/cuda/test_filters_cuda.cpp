// IDSelector filters on GPU indexes: every GPU search path (flat: streaming, GEMM tiles in both
// shapes, fast precision; IVF: fused, unfused, chunked, shared scan) returns what the CPU index
// returns for the same filtered search — only admitted ids, -1 / empty_distance past the
// admitted count — for each selector kind at 1%, 10% and 90% selectivity, both metrics, k
// above the admitted count, and after remove_ids. Range search on a GPU index returns what the
// CPU's returns, with and without selectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::expect_same;
using test::expect_same_range;
using test::Neighbours;
using test::random_vectors;
using test::search;

constexpr int kDim = 30;  // not a multiple of 4: rows are padded on the device
constexpr idx_t kRows = 5000;

// Ids that are not the row numbers: a permutation, spaced out and shifted.
std::vector<idx_t> shuffled_ids(idx_t n, std::uint64_t seed) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  std::iota(ids.begin(), ids.end(), idx_t{0});
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(seed));
  for (idx_t& id : ids) id = id * 3 + 100;
  return ids;
}

// A named selector with the objects it points to.
struct NamedSelector {
  std::string name;
  std::vector<std::unique_ptr<IDSelector>> parts;  // the last one is the selector
  const IDSelector& sel() const { return *parts.back(); }
};

// A random `fraction` of ids.
std::vector<idx_t> sample(const std::vector<idx_t>& ids, double fraction, std::uint64_t seed) {
  std::vector<idx_t> out = ids;
  std::shuffle(out.begin(), out.end(), std::mt19937_64(seed));
  out.resize(static_cast<std::size_t>(fraction * static_cast<double>(ids.size())));
  return out;
}

// Every selector kind, and batches at 1%, 10% and 90% of the stored ids.
std::vector<NamedSelector> selectors(const std::vector<idx_t>& ids) {
  std::vector<NamedSelector> out;
  for (double fraction : {0.01, 0.1, 0.9}) {
    NamedSelector s{"batch_" + std::to_string(static_cast<int>(fraction * 100)) + "pct", {}};
    s.parts.push_back(std::make_unique<IDSelectorBatch>(sample(ids, fraction, 7)));
    out.push_back(std::move(s));
  }
  const idx_t max_id = *std::max_element(ids.begin(), ids.end());
  {
    NamedSelector s{"array_10pct", {}};
    s.parts.push_back(std::make_unique<IDSelectorArray>(sample(ids, 0.1, 8)));
    out.push_back(std::move(s));
  }
  {
    NamedSelector s{"range_half", {}};
    s.parts.push_back(std::make_unique<IDSelectorRange>(100, 100 + 3 * (kRows / 2)));
    out.push_back(std::move(s));
  }
  {
    std::vector<std::uint8_t> bitmap(static_cast<std::size_t>(max_id / 8 + 1), 0);
    for (idx_t id : sample(ids, 0.1, 9))
      bitmap[static_cast<std::size_t>(id >> 3)] |= 1u << (id & 7);
    NamedSelector s{"bitmap_10pct", {}};
    s.parts.push_back(std::make_unique<IDSelectorBitmap>(bitmap.size(), bitmap.data()));
    out.push_back(std::move(s));
  }
  for (const char* op : {"not", "and", "or"}) {
    NamedSelector s{op, {}};
    s.parts.push_back(std::make_unique<IDSelectorBatch>(sample(ids, 0.1, 10)));
    s.parts.push_back(std::make_unique<IDSelectorRange>(100, 100 + 3 * (kRows / 2)));
    const IDSelector* a = s.parts[0].get();
    const IDSelector* b = s.parts[1].get();
    if (std::string(op) == "not") {
      s.parts.push_back(std::make_unique<IDSelectorNot>(b));
    } else if (std::string(op) == "and") {
      s.parts.push_back(std::make_unique<IDSelectorAnd>(a, b));
    } else {
      s.parts.push_back(std::make_unique<IDSelectorOr>(a, b));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Every label is admitted or -1, and -1 only past the admitted count of a query's candidates.
void expect_admitted(const Neighbours& r, const IDSelector& sel, const std::string& what) {
  for (idx_t id : r.lab) {
    if (id >= 0) ASSERT_TRUE(sel.is_member(id)) << what << ": id " << id << " is not admitted";
  }
}

struct FlatPath {
  const char* name;
  int nq;          // > 2 x SMs takes the one-block-per-query tile shape
  int stream_max;  // flat_stream_max_nq: >= nq takes the streaming kernel
  int tile_rows;   // several tiles per search
};

class FiltersCudaFlat : public ::testing::TestWithParam<Metric> {};

TEST_P(FiltersCudaFlat, EqualsCpuOnEveryPath) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const std::vector<float> x = random_vectors(kRows, kDim, 1);
  const std::vector<idx_t> ids = shuffled_ids(kRows, 2);
  IndexFlat cpu(kDim, metric), gpu(kDim, metric, Device::cuda(0));
  cpu.add_with_ids(kRows, x.data(), ids.data());
  gpu.add_with_ids(kRows, x.data(), ids.data());
  const FlatPath paths[] = {
      {"stream", 20, 1024, 4096}, {"tiles_wide", 40, 0, 1024}, {"tiles_per_query", 400, 0, 1024}};
  for (const FlatPath& path : paths) {
    const std::vector<float> q = random_vectors(path.nq, kDim, 3);
    for (const NamedSelector& s : selectors(ids)) {
      for (int k : {10, 100}) {  // 100 > the 50 ids of the 1% selector
        SearchParams params;
        params.sel = &s.sel();
        params.flat_stream_max_nq = path.stream_max;
        params.flat_tile_rows = path.tile_rows;
        const std::string what = std::string(path.name) + " " + s.name + " k" + std::to_string(k);
        const Neighbours want = search(cpu, q, kDim, k, &params);
        const Neighbours got = search(gpu, q, kDim, k, &params);
        expect_admitted(got, s.sel(), what);
        expect_same(want, got, k, what.c_str());
        // Fast precision re-ranks a candidate set drawn from admitted rows only.
        params.precision = FlatPrecision::Fast;
        const Neighbours fast = search(gpu, q, kDim, k, &params);
        expect_admitted(fast, s.sel(), what + " fast");
        for (std::size_t i = 0; i < fast.lab.size(); ++i) {
          ASSERT_EQ(fast.lab[i] < 0, want.lab[i] < 0) << what << " fast slot " << i;
        }
      }
    }
  }
}

TEST_P(FiltersCudaFlat, IdentityIdsAndRemoval) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const std::vector<float> x = random_vectors(kRows, kDim, 4);
  const std::vector<float> q = random_vectors(16, kDim, 5);
  IndexFlat cpu(kDim, metric), gpu(kDim, metric, Device::cuda(0));
  cpu.add(kRows, x.data());
  gpu.add(kRows, x.data());
  IDSelectorRange block(1000, 1300);  // ids are rows here
  std::vector<idx_t> gone(100);
  std::iota(gone.begin(), gone.end(), idx_t{1100});
  IDSelectorBatch gone_sel(gone);
  ASSERT_EQ(cpu.remove_ids(gone_sel), 100);
  ASSERT_EQ(gpu.remove_ids(gone_sel), 100);
  SearchParams params;
  params.sel = &block;
  for (int k : {5, 250}) {  // 200 ids of the range remain: k = 250 pads
    const Neighbours want = search(cpu, q, kDim, k, &params);
    const Neighbours got = search(gpu, q, kDim, k, &params);
    expect_admitted(got, block, "range after remove");
    expect_same(want, got, k, "range after remove");
  }
  // An empty selection: every slot padded; the unfiltered search is unchanged afterwards.
  IDSelectorRange none(-10, -5);
  params.sel = &none;
  const Neighbours empty = search(gpu, q, kDim, 3, &params);
  for (std::size_t i = 0; i < empty.lab.size(); ++i) {
    EXPECT_EQ(empty.lab[i], -1);
    EXPECT_EQ(empty.dist[i], empty_distance(metric));
  }
  expect_same(search(cpu, q, kDim, 7), search(gpu, q, kDim, 7), 7, "unfiltered");
}

INSTANTIATE_TEST_SUITE_P(Metrics, FiltersCudaFlat,
                         ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

constexpr int kLists = 23;

// A CPU and a GPU IVF index holding x (kRows vectors) with `ids`, both with the first kLists
// rows as centroids, so their lists are identical.
struct IvfPair {
  IndexIVFFlat cpu, gpu;
  IvfPair(Metric metric, const std::vector<float>& x, const std::vector<idx_t>& ids)
      : cpu(kDim, kLists, metric), gpu(kDim, kLists, metric, Device::cuda(0)) {
    cpu.set_centroids(x.data());
    gpu.set_centroids(x.data());
    cpu.add_with_ids(kRows, x.data(), ids.data());
    gpu.add_with_ids(kRows, x.data(), ids.data());
  }
};

class FiltersCudaIvf : public ::testing::TestWithParam<Metric> {};

TEST_P(FiltersCudaIvf, EqualsCpuOnEveryScan) {
  KNNX_REQUIRE_GPU();
  const std::vector<float> x = random_vectors(kRows, kDim, 6);
  const std::vector<float> q = random_vectors(200, kDim, 7);
  const std::vector<idx_t> ids = shuffled_ids(kRows, 8);
  IvfPair pair(GetParam(), x, ids);
  IndexIVFFlat& cpu = pair.cpu;
  IndexIVFFlat& gpu = pair.gpu;
  ASSERT_EQ(cpu.list_sizes(), gpu.list_sizes());
  struct Scan {
    const char* name;
    bool fused;
    int shared;
    int rows_per_chunk;
  };
  const Scan scans[] = {{"fused", true, 0, 8192},
                        {"chunked", true, 0, 256},
                        {"unfused", false, 0, 8192},
                        {"shared", true, 1, 8192},
                        {"shared_pieces", true, 1, 256}};
  for (const NamedSelector& s : selectors(ids)) {
    for (int n_probe : {1, 6, kLists}) {
      for (int k : {10, 32, 100}) {
        SearchParamsIVF params;
        params.sel = &s.sel();
        params.nprobe = n_probe;
        const Neighbours want = search(cpu, q, kDim, k, &params);
        for (const Scan& scan : scans) {
          params.scan_fused = scan.fused;
          params.shared_scan = scan.shared;
          params.rows_per_chunk = scan.rows_per_chunk;
          const std::string what = std::string(scan.name) + " " + s.name + " p" +
                                   std::to_string(n_probe) + " k" + std::to_string(k);
          const Neighbours got = search(gpu, q, kDim, k, &params);
          expect_admitted(got, s.sel(), what);
          expect_same(want, got, k, what.c_str());
        }
      }
    }
  }
  // After remove_ids(selector) on both, filtered searches still agree.
  const std::vector<NamedSelector> sels = selectors(ids);
  ASSERT_EQ(cpu.remove_ids(sels[1].sel()), gpu.remove_ids(sels[1].sel()));
  for (const NamedSelector& s : sels) {
    SearchParamsIVF params;
    params.sel = &s.sel();
    params.nprobe = 6;
    const std::string what = "after remove " + s.name;
    const Neighbours got = search(gpu, q, kDim, 20, &params);
    expect_admitted(got, s.sel(), what);
    expect_same(search(cpu, q, kDim, 20, &params), got, 20, what.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, FiltersCudaIvf,
                         ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

float radius_between(const Index& index, const std::vector<float>& q, int rank) {
  const Neighbours r =
      search(index, std::vector<float>(q.begin(), q.begin() + kDim), kDim, rank + 1);
  return (r.dist[static_cast<std::size_t>(rank - 1)] + r.dist[static_cast<std::size_t>(rank)]) / 2;
}

class RangeCuda : public ::testing::TestWithParam<Metric> {};

TEST_P(RangeCuda, FlatEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const std::vector<float> x = random_vectors(kRows, kDim, 11);
  const std::vector<float> q = random_vectors(40, kDim, 12);
  const std::vector<idx_t> ids = shuffled_ids(kRows, 13);
  IndexFlat cpu(kDim, metric), gpu(kDim, metric, Device::cuda(0));
  cpu.add_with_ids(kRows, x.data(), ids.data());
  gpu.add_with_ids(kRows, x.data(), ids.data());
  const float radius = radius_between(cpu, q, 200);
  expect_same_range(cpu.range_search(40, q.data(), radius), gpu.range_search(40, q.data(), radius),
                    radius, "flat");
  for (const NamedSelector& s : selectors(ids)) {
    SearchParams params;
    params.sel = &s.sel();
    expect_same_range(cpu.range_search(40, q.data(), radius, &params),
                      gpu.range_search(40, q.data(), radius, &params), radius, "flat " + s.name);
  }
  // The smallest workspace bound; nothing, and everything, in range.
  SearchParams small;
  small.workspace_bytes = std::int64_t{16} << 20;
  expect_same_range(cpu.range_search(40, q.data(), radius),
                    gpu.range_search(40, q.data(), radius, &small), radius, "flat small workspace");
  const float none = metric == Metric::L2 ? 0.0f : 1e30f;
  const float every = metric == Metric::L2 ? 1e30f : -1e30f;
  const RangeSearchResult empty = gpu.range_search(40, q.data(), none);
  EXPECT_EQ(empty.lims, std::vector<idx_t>(41, 0));
  const RangeSearchResult all = gpu.range_search(3, q.data(), every);
  EXPECT_EQ(all.lims.back(), 3 * kRows);
  expect_same_range(cpu.range_search(3, q.data(), every), all, every, "flat everything");
  // A non-finite query is refused, and the index stays usable.
  std::vector<float> bad = q;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(gpu.range_search(40, bad.data(), radius), InvalidArgument);
  expect_same_range(cpu.range_search(2, q.data(), radius), gpu.range_search(2, q.data(), radius),
                    radius, "flat after error");
}

TEST_P(RangeCuda, IvfEqualsCpu) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const std::vector<float> x = random_vectors(kRows, kDim, 14);
  const std::vector<float> q = random_vectors(40, kDim, 15);
  const std::vector<idx_t> ids = shuffled_ids(kRows, 16);
  IvfPair pair(metric, x, ids);
  IndexIVFFlat& cpu = pair.cpu;
  IndexIVFFlat& gpu = pair.gpu;
  IndexFlat exact(kDim, metric);
  exact.add(kRows, x.data());
  const float radius = radius_between(exact, q, 100);
  for (int n_probe : {1, 6, kLists}) {
    SearchParamsIVF params;
    params.nprobe = n_probe;
    const std::string what = "ivf p" + std::to_string(n_probe);
    expect_same_range(cpu.range_search(40, q.data(), radius, &params),
                      gpu.range_search(40, q.data(), radius, &params), radius, what);
    for (const NamedSelector& s : selectors(ids)) {
      params.sel = &s.sel();
      expect_same_range(cpu.range_search(40, q.data(), radius, &params),
                        gpu.range_search(40, q.data(), radius, &params), radius,
                        what + " " + s.name);
    }
  }
  const std::vector<NamedSelector> sels = selectors(ids);
  ASSERT_EQ(cpu.remove_ids(sels[1].sel()), gpu.remove_ids(sels[1].sel()));
  SearchParamsIVF params;
  params.nprobe = 6;
  params.workspace_bytes = std::int64_t{16} << 20;
  expect_same_range(cpu.range_search(40, q.data(), radius, &params),
                    gpu.range_search(40, q.data(), radius, &params), radius, "ivf after remove");
}

INSTANTIATE_TEST_SUITE_P(Metrics, RangeCuda, ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace knnx
