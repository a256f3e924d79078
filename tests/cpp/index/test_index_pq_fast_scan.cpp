// ProductQuantizer::fast_scan, IndexPQFastScan and IndexIVFPQFastScan on the CPU: 4-bit codes
// round-trip (nearest of 16 centroids, packed two a byte in FAISS's order), searches rank as a
// float64 brute force over the decoded vectors up to the quantized tables, with distances close
// to the exact ones; ids, filters, n_probe, removal and reconstruction as IndexPQ / IndexIVFPQ;
// factory strings; typed errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "brute_force.hpp"
#include "gaussian_data.hpp"
#include "knnx/knnx.hpp"
#include "throws_naming.hpp"

namespace knnx {
namespace {

using test::brute_force;
using test::gaussian;
using test::score;
using test::throws_naming;

constexpr int kD = 32, kM = 16, kK = 10;
constexpr idx_t kN = 2000, kQ = 20;

ProductQuantizerParams quick() {
  ProductQuantizerParams p;
  p.kmeans_iter = 8;
  return p;
}

int entry(const std::uint8_t* code, int m) { return (code[m / 2] >> ((m & 1) * 4)) & 15; }

TEST(ProductQuantizerFastScan, CodesAreNearestCentroidsPackedTwoAByte) {
  const std::vector<float> x = gaussian(kN, kD, 1);
  ProductQuantizer pq = ProductQuantizer::fast_scan(kD, kM, quick());
  EXPECT_EQ(pq.nbits(), 4);
  EXPECT_EQ(pq.ksub(), 16);
  EXPECT_EQ(pq.code_size(), kM / 2);
  pq.train(kN, x.data());
  const idx_t n = 50;
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n * pq.code_size()));
  pq.encode(n, x.data(), codes.data());
  std::vector<float> back(static_cast<std::size_t>(n * kD));
  pq.decode(n, codes.data(), back.data());
  const std::vector<float>& c = pq.centroids();
  const int ds = pq.dsub();
  double err = 0.0;
  for (idx_t i = 0; i < n; ++i) {
    for (int m = 0; m < kM; ++m) {
      const float* sub = x.data() + i * kD + m * ds;
      double best = 1e30;
      for (int j = 0; j < 16; ++j)
        best = std::min(best, score(sub, c.data() + (m * 16 + j) * ds, ds, Metric::L2));
      const int got = entry(codes.data() + i * pq.code_size(), m);
      EXPECT_NEAR(score(sub, c.data() + (m * 16 + got) * ds, ds, Metric::L2), best, 1e-5);
      // decode puts that centroid back.
      for (int t = 0; t < ds; ++t)
        EXPECT_EQ(back[static_cast<std::size_t>(i * kD + m * ds + t)],
                  c[static_cast<std::size_t>((m * 16 + got) * ds + t)]);
    }
    err += score(x.data() + i * kD, back.data() + i * kD, kD, Metric::L2);
  }
  // Unit-variance data: 32 per vector before quantization; 16 centroids per 2-d sub-space
  // remove most of it.
  EXPECT_LT(err / double(n), 0.4 * kD);
}

TEST(ProductQuantizerFastScan, BadInputGivesTypedErrors) {
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([] { ProductQuantizer::fast_scan(30, 15); }, {"even", "15"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer::fast_scan(32, 6); },
                                             {"M must divide", "6"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer::fast_scan(1024, 512); },
                                             {"256", "512"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { ProductQuantizer(32, 8, 4); }, {"nbits", "4"}));
  ProductQuantizer pq = ProductQuantizer::fast_scan(8, 4);
  std::vector<std::uint8_t> code(2);
  const std::vector<float> x = gaussian(15, 8, 2);
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([&] { pq.encode(1, x.data(), code.data()); }, {"trained"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([&] { pq.train(15, x.data()); }, {"16", "15"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexPQFastScan(30, 15); }, {"even", "15"}));
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { IndexIVFPQFastScan(32, 8, 7); }, {"M", "7"}));
  EXPECT_TRUE(
      throws_naming<InvalidArgument>([] { IndexIVFPQFastScan(32, 0, 8); }, {"n_lists", "0"}));
  IndexPQFastScan untrained(kD, kM);
  const std::vector<float> q = gaussian(1, kD, 3);
  std::vector<float> dist(kK);
  std::vector<idx_t> lab(kK);
  EXPECT_THROW(untrained.add(1, q.data()), InvalidArgument);
  // CPU only: NotSupported on a GPU (InvalidArgument where the device does not exist).
  EXPECT_THROW(IndexPQFastScan(kD, kM, Metric::L2, Device::cuda(0)), Error);
  EXPECT_THROW(IndexIVFPQFastScan(kD, 8, kM, Metric::L2, Device::cuda(0)), Error);
}

struct Data {
  std::vector<float> base = gaussian(kN, kD, 11);
  std::vector<float> queries = gaussian(kQ, kD, 12);
};

// The decoded vectors of index's rows (reconstruct of every id).
std::vector<float> decoded(const Index& index, const std::vector<idx_t>& ids) {
  std::vector<float> out(ids.size() * kD);
  for (std::size_t i = 0; i < ids.size(); ++i) index.reconstruct(ids[i], out.data() + i * kD);
  return out;
}

std::vector<idx_t> admitted_by(const IDSelector& sel, const std::vector<idx_t>& ids) {
  std::vector<idx_t> out;
  for (idx_t id : ids)
    if (sel.is_member(id)) out.push_back(id);
  return out;
}

// The search agrees with a float64 brute force over the decoded vectors: recall@10 >= 0.8 (the
// tables are quantized to 8 bits) and every distance close to the exact one.
void expect_ranks_as_decoded(const Index& index, const Data& data, Metric metric,
                             const std::vector<idx_t>& ids, const SearchParams* params = nullptr) {
  const std::vector<float> dec = decoded(index, ids);
  std::vector<float> dist(kQ * kK);
  std::vector<idx_t> lab(kQ * kK);
  index.search(kQ, data.queries.data(), kK, dist.data(), lab.data(), params);
  int hits = 0;
  double err = 0.0, mag = 0.0;
  for (idx_t q = 0; q < kQ; ++q) {
    const float* qv = data.queries.data() + q * kD;
    const std::vector<idx_t> want =
        brute_force(dec, static_cast<idx_t>(ids.size()), kD, qv, kK, metric);
    std::set<idx_t> want_ids;
    for (idx_t r : want) want_ids.insert(ids[static_cast<std::size_t>(r)]);
    for (int j = 0; j < kK; ++j) {
      const idx_t id = lab[static_cast<std::size_t>(q * kK + j)];
      ASSERT_GE(id, 0);
      hits += want_ids.count(id) ? 1 : 0;
      const std::size_t row = std::find(ids.begin(), ids.end(), id) - ids.begin();
      const double exact = score(qv, dec.data() + row * kD, kD, metric);
      err += std::abs(exact - dist[static_cast<std::size_t>(q * kK + j)]);
      mag += std::abs(exact);
    }
  }
  EXPECT_GE(hits, 0.8 * kQ * kK);
  EXPECT_LT(err, 0.02 * mag);
}

TEST(IndexPQFastScan, SearchRanksAsTheDecodedVectors) {
  const Data data;
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    IndexPQFastScan index(kD, kM, metric);
    index.set_pq_params(quick());
    index.train(kN, data.base.data());
    index.add(kN, data.base.data());
    EXPECT_EQ(index.pq().code_size(), kM / 2);
    std::vector<idx_t> ids(kN);
    for (idx_t i = 0; i < kN; ++i) ids[static_cast<std::size_t>(i)] = i;
    expect_ranks_as_decoded(index, data, metric, ids);
    // The stored codes are the quantizer's, in row order.
    std::vector<std::uint8_t> want(static_cast<std::size_t>(kN) * (kM / 2));
    index.pq().encode(kN, data.base.data(), want.data());
    EXPECT_EQ(index.codes(), want);
  }
}

TEST(IndexPQFastScan, IdsFiltersRemovalAndReconstruction) {
  const Data data;
  IndexPQFastScan index(kD, kM);
  index.set_pq_params(quick());
  index.train(kN, data.base.data());
  std::vector<idx_t> ids(kN);
  for (idx_t i = 0; i < kN; ++i) ids[static_cast<std::size_t>(i)] = 10 * i + 7;
  index.add_with_ids(kN, data.base.data(), ids.data());
  // Remove a third, scattered over the blocks.
  std::vector<idx_t> gone, kept;
  for (idx_t id : ids) (id % 3 == 0 ? gone : kept).push_back(id);
  EXPECT_EQ(index.remove_ids(static_cast<idx_t>(gone.size()), gone.data()),
            static_cast<idx_t>(gone.size()));
  EXPECT_EQ(index.ntotal(), static_cast<idx_t>(kept.size()));
  EXPECT_EQ(index.ids(), kept);
  expect_ranks_as_decoded(index, data, Metric::L2, kept);
  // Reconstruction decodes the stored code.
  std::vector<std::uint8_t> code(kM / 2);
  index.pq().encode(1, data.base.data() + 1 * kD, code.data());
  std::vector<float> want(kD), got(kD);
  index.pq().decode(1, code.data(), want.data());
  index.reconstruct(ids[1], got.data());
  EXPECT_EQ(got, want);
  // A selector admits only its ids.
  const IDSelectorRange sel(5000, 12000);
  SearchParams params;
  params.sel = &sel;
  std::vector<float> dist(kQ * kK);
  std::vector<idx_t> lab(kQ * kK);
  index.search(kQ, data.queries.data(), kK, dist.data(), lab.data(), &params);
  for (idx_t id : lab) EXPECT_TRUE(sel.is_member(id)) << id;
  expect_ranks_as_decoded(index, data, Metric::L2, admitted_by(sel, kept), &params);
}

TEST(IndexIVFPQFastScan, SearchRanksAsTheReconstructions) {
  const Data data;
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    // Codes of the vectors themselves (FAISS's "IVF<n>,PQ<M>x4fs"): reconstruct() decodes.
    IndexIVFPQFastScan plain(kD, 8, kM, metric, Device::cpu(), false);
    EXPECT_FALSE(plain.by_residual());
    plain.set_pq_params(quick());
    plain.train(kN, data.base.data());
    plain.add(kN, data.base.data());
    plain.set_n_probe(8);
    std::vector<idx_t> all(kN);
    for (idx_t i = 0; i < kN; ++i) all[static_cast<std::size_t>(i)] = i;
    expect_ranks_as_decoded(plain, data, metric, all);
    std::vector<float> back(kD), want(kD);
    std::vector<std::uint8_t> code(kM / 2);
    plain.pq().encode(1, data.base.data() + 5 * kD, code.data());
    plain.pq().decode(1, code.data(), want.data());
    plain.reconstruct(5, back.data());
    EXPECT_EQ(back, want);

    IndexIVFPQFastScan index(kD, 8, kM, metric);
    EXPECT_TRUE(index.by_residual());
    index.set_pq_params(quick());
    index.train(kN, data.base.data());
    index.add(kN, data.base.data());
    index.set_n_probe(8);  // every list: the ranking is the quantizer's alone
    std::vector<idx_t> ids(kN);
    for (idx_t i = 0; i < kN; ++i) ids[static_cast<std::size_t>(i)] = i;
    expect_ranks_as_decoded(index, data, metric, ids);
    if (metric == Metric::L2) {
      EXPECT_TRUE(index.precomputed_table_in_use());
      index.set_use_precomputed_table(false);
      expect_ranks_as_decoded(index, data, metric, ids);
    }
    // Fewer probes through SearchParamsIVF: every result lies in a probed list.
    SearchParamsIVF one;
    one.nprobe = 1;
    std::vector<float> dist(kQ * kK);
    std::vector<idx_t> lab(kQ * kK);
    index.search(kQ, data.queries.data(), kK, dist.data(), lab.data(), &one);
    std::vector<idx_t> nearest(kQ);
    std::vector<float> cd(kQ);
    IndexFlat coarse(kD, metric);
    coarse.add(8, index.centroids().data());
    coarse.search(kQ, data.queries.data(), 1, cd.data(), nearest.data());
    for (idx_t q = 0; q < kQ; ++q) {
      const std::vector<idx_t> list = index.list_ids(static_cast<int>(nearest[q]));
      for (int j = 0; j < kK; ++j) {
        const idx_t id = lab[static_cast<std::size_t>(q * kK + j)];
        if (id >= 0) EXPECT_NE(std::find(list.begin(), list.end(), id), list.end());
      }
    }
  }
}

TEST(IndexIVFPQFastScan, IdsFiltersRemovalAndReconstruction) {
  const Data data;
  IndexIVFPQFastScan index(kD, 8, kM);
  index.set_pq_params(quick());
  index.train(kN, data.base.data());
  std::vector<idx_t> ids(kN);
  for (idx_t i = 0; i < kN; ++i) ids[static_cast<std::size_t>(i)] = 3 * i + 1;
  index.add_with_ids(kN, data.base.data(), ids.data());
  index.set_n_probe(8);
  std::vector<idx_t> gone, kept;
  for (idx_t id : ids) (id % 2 == 0 ? gone : kept).push_back(id);
  EXPECT_EQ(index.remove_ids(static_cast<idx_t>(gone.size()), gone.data()),
            static_cast<idx_t>(gone.size()));
  EXPECT_EQ(index.ntotal(), static_cast<idx_t>(kept.size()));
  expect_ranks_as_decoded(index, data, Metric::L2, kept);
  // list_codes are row-major codes of the residuals.
  idx_t total = 0;
  for (int l = 0; l < 8; ++l) {
    EXPECT_EQ(index.list_codes(l).size(), index.list_ids(l).size() * (kM / 2));
    total += static_cast<idx_t>(index.list_ids(l).size());
  }
  EXPECT_EQ(total, index.ntotal());
  const IDSelectorRange sel(0, 1500);
  SearchParamsIVF params;
  params.sel = &sel;
  std::vector<float> dist(kQ * kK);
  std::vector<idx_t> lab(kQ * kK);
  index.search(kQ, data.queries.data(), kK, dist.data(), lab.data(), &params);
  for (idx_t id : lab) {
    EXPECT_TRUE(sel.is_member(id)) << id;
    EXPECT_EQ(id % 2, 1) << id;
  }
  expect_ranks_as_decoded(index, data, Metric::L2, admitted_by(sel, kept), &params);
}

TEST(IndexPQFastScan, FactoryStrings) {
  auto pq = index_factory(kD, "PQ16x4fs");
  ASSERT_NE(dynamic_cast<IndexPQFastScan*>(pq.get()), nullptr);
  EXPECT_EQ(dynamic_cast<IndexPQ&>(*pq).pq().nbits(), 4);
  auto ivf = index_factory(kD, "IVF8,PQ16x4fs", Metric::InnerProduct);
  ASSERT_NE(dynamic_cast<IndexIVFPQFastScan*>(ivf.get()), nullptr);
  EXPECT_EQ(ivf->metric(), Metric::InnerProduct);
  // As FAISS's factory: "fs" codes the vectors, "fsr" their residuals.
  EXPECT_FALSE(dynamic_cast<IndexIVFPQFastScan&>(*ivf).by_residual());
  EXPECT_TRUE(
      dynamic_cast<IndexIVFPQFastScan&>(*index_factory(kD, "IVF8,PQ16x4fsr")).by_residual());
  const IndexSpec spec = parse_index_spec("OPQ16,IVF4096,PQ16x4fs");
  EXPECT_TRUE(spec.pq_fast_scan);
  EXPECT_EQ(spec.pq_nbits, 4);
  EXPECT_EQ(spec.kind, IndexSpec::Kind::IVFPQ);
  EXPECT_TRUE(throws_naming<InvalidArgument>([] { index_factory(30, "PQ15x4fs"); }, {"15"}));
  EXPECT_TRUE(throws_naming<NotSupported>([] { index_factory(kD, "PQ16x4"); }, {"PQ16x4fs"}));
  // With a refine stage the distances become exact.
  auto refined = index_factory(kD, "PQ16x4fs,RFlat");
  EXPECT_NE(dynamic_cast<IndexRefineFlat*>(refined.get()), nullptr);
}

}  // namespace
}  // namespace knnx
