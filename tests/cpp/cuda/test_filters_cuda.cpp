// IDSelector filters on GPU indexes: every GPU search path (flat: streaming, GEMM tiles in both
// shapes, fast precision; IVF: fused, unfused, chunked, shared scan) returns what the CPU index
// returns for the same filtered search — only admitted ids, -1 / empty_distance past the
// admitted count — for each selector kind at 1%, 10% and 90% selectivity, both metrics, k
// above the admitted count, and after remove_ids. Range search on a GPU index is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::expect_same;
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

class FiltersCudaIvf : public ::testing::TestWithParam<Metric> {};

TEST_P(FiltersCudaIvf, EqualsCpuOnEveryScan) {
  KNNX_REQUIRE_GPU();
  const Metric metric = GetParam();
  const int n_lists = 23;
  const std::vector<float> x = random_vectors(kRows, kDim, 6);
  const std::vector<float> q = random_vectors(200, kDim, 7);
  const std::vector<idx_t> ids = shuffled_ids(kRows, 8);
  IndexIVFFlat cpu(kDim, n_lists, metric), gpu(kDim, n_lists, metric, Device::cuda(0));
  cpu.set_centroids(x.data());  // the first rows: identical lists on both devices
  gpu.set_centroids(x.data());
  cpu.add_with_ids(kRows, x.data(), ids.data());
  gpu.add_with_ids(kRows, x.data(), ids.data());
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
    for (int n_probe : {1, 6, n_lists}) {
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

// GPU indexes have no range search: they refuse it (never answer from another computation) and
// stay usable.
TEST(FiltersCuda, RangeSearchIsRefused) {
  KNNX_REQUIRE_GPU();
  const int d = 16;
  const std::vector<float> x = random_vectors(500, d, 1);
  IndexFlat flat(d, Metric::L2, Device::cuda(0));
  flat.add(500, x.data());
  IndexIVFFlat ivf(d, 8, Metric::L2, Device::cuda(0));
  ivf.train(500, x.data());
  ivf.add(500, x.data());
  EXPECT_THROW(flat.range_search(1, x.data(), 1.0f), NotSupported);
  EXPECT_THROW(ivf.range_search(1, x.data(), 1.0f), NotSupported);
  IDSelectorRange sel(0, 10);
  EXPECT_EQ(flat.remove_ids(sel), 10);
  EXPECT_EQ(ivf.remove_ids(sel), 10);
  std::vector<float> dist(5);
  std::vector<idx_t> lab(5);
  flat.search(1, x.data(), 5, dist.data(), lab.data());
  EXPECT_GE(lab[0], 10);
}

}  // namespace
}  // namespace knnx
