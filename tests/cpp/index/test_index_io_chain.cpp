// write_index / read_index of indexes behind transform chains (IndexPreTransform, as
// index_factory builds them): PCA, whitened and rotated PCA, OPQ, random rotations and L2
// normalisation over Flat and IVFFlat indexes give identical results, matrices, ids, n_probe
// and reconstructions after loading; untrained chains load and train as the saved ones would;
// read_index_info describes the chain; GPU-built chains load onto the CPU and back.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/transform.hpp"

namespace knnx {
namespace {

namespace fs = std::filesystem;

// Each test's files live in a directory of their own.
class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("knnx_chain_io") {}
};

constexpr int kDim = 16;
constexpr idx_t kN = 600;

std::vector<float> gaussian(idx_t n, int d, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  // Unequal variances per coordinate give PCA well-separated components.
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = dist(rng) * (1.0f + static_cast<float>(i % d));
  return v;
}

struct SearchResult {
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

SearchResult run_search(const Index& index, const std::vector<float>& queries, int k) {
  const idx_t nq = static_cast<idx_t>(queries.size()) / index.dim();
  SearchResult r{std::vector<float>(static_cast<std::size_t>(nq * k)),
                 std::vector<idx_t>(static_cast<std::size_t>(nq * k))};
  index.search(nq, queries.data(), k, r.distances.data(), r.labels.data());
  return r;
}

// The transforms index is wrapped in (outermost first) and the index they feed.
std::vector<const VectorTransform*> chain_of(const Index& index, const Index** inner) {
  std::vector<const VectorTransform*> out;
  const Index* current = &index;
  while (const auto* pre = dynamic_cast<const IndexPreTransform*>(current)) {
    out.push_back(&pre->transform());
    current = &pre->index();
  }
  *inner = current;
  return out;
}

IndexIVFFlat* ivf_of(Index& index) {
  Index* current = &index;
  while (auto* pre = dynamic_cast<IndexPreTransform*>(current)) current = &pre->index();
  return dynamic_cast<IndexIVFFlat*>(current);
}

// Same transform types, dimensions, settings and trained state.
void expect_same_chain(const Index& a, const Index& b) {
  const Index* inner_a = nullptr;
  const Index* inner_b = nullptr;
  const auto ca = chain_of(a, &inner_a);
  const auto cb = chain_of(b, &inner_b);
  ASSERT_EQ(ca.size(), cb.size());
  EXPECT_EQ(inner_a->dim(), inner_b->dim());
  EXPECT_EQ(typeid(*inner_a), typeid(*inner_b));
  for (std::size_t i = 0; i < ca.size(); ++i) {
    SCOPED_TRACE("transform " + std::to_string(i));
    EXPECT_EQ(typeid(*ca[i]), typeid(*cb[i]));
    EXPECT_EQ(ca[i]->d_in(), cb[i]->d_in());
    EXPECT_EQ(ca[i]->d_out(), cb[i]->d_out());
    EXPECT_EQ(ca[i]->is_trained(), cb[i]->is_trained());
    EXPECT_EQ(ca[i]->reversible(), cb[i]->reversible());
    if (const auto* la = dynamic_cast<const LinearTransform*>(ca[i])) {
      const auto& lb = dynamic_cast<const LinearTransform&>(*cb[i]);
      EXPECT_EQ(la->matrix(), lb.matrix());
      EXPECT_EQ(la->mean(), lb.mean());
    }
    if (const auto* pa = dynamic_cast<const PCA*>(ca[i])) {
      const auto& pb = dynamic_cast<const PCA&>(*cb[i]);
      EXPECT_EQ(pa->params().whiten, pb.params().whiten);
      EXPECT_EQ(pa->params().whiten_eps, pb.params().whiten_eps);
      EXPECT_EQ(pa->eigenvalues(), pb.eigenvalues());
    }
    if (const auto* oa = dynamic_cast<const OPQ*>(ca[i])) {
      const auto& ob = dynamic_cast<const OPQ&>(*cb[i]);
      EXPECT_EQ(oa->m(), ob.m());
      EXPECT_EQ(oa->params().n_iter, ob.params().n_iter);
      EXPECT_EQ(oa->params().ksub, ob.params().ksub);
      EXPECT_EQ(oa->params().kmeans_iter, ob.params().kmeans_iter);
      EXPECT_EQ(oa->params().max_train_points, ob.params().max_train_points);
      EXPECT_EQ(oa->params().seed, ob.params().seed);
      EXPECT_EQ(oa->objective(), ob.objective());
    }
    if (const auto* ra = dynamic_cast<const RandomRotation*>(ca[i])) {
      EXPECT_EQ(ra->seed(), dynamic_cast<const RandomRotation&>(*cb[i]).seed());
    }
  }
}

// Whether the next add() to a copy made by saving and loading assigns `id` (removing `id` then
// removes the added vector).
bool next_add_assigns(const Index& index, const TempDir& dir, idx_t id) {
  write_index(index, dir.file("next.knnx"));
  std::unique_ptr<Index> copy = read_index(dir.file("next.knnx"));
  const std::vector<float> x = gaussian(1, index.dim(), 3);
  const idx_t before = copy->ntotal();
  copy->add(1, x.data());
  return copy->remove_ids(1, &id) == 1 && copy->ntotal() == before;
}

class ChainRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(ChainRoundTrip, ResultsMatricesAndIdsAreIdentical) {
  const std::string spec = GetParam();
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    SCOPED_TRACE(spec + (metric == Metric::L2 ? " l2" : " ip"));
    std::unique_ptr<Index> index = index_factory(kDim, spec, metric);
    const std::vector<float> x = gaussian(kN, kDim, 1);
    index->train(kN, x.data());
    index->add(kN, x.data());
    IndexIVFFlat* ivf = ivf_of(*index);
    if (ivf != nullptr) ivf->set_n_probe(3);

    TempDir dir;
    const std::string path = dir.file("chain.knnx");
    write_index(*index, path);
    std::unique_ptr<Index> loaded = read_index(path);
    expect_same_chain(*index, *loaded);
    EXPECT_EQ(loaded->dim(), kDim);
    EXPECT_EQ(loaded->metric(), metric);
    EXPECT_EQ(loaded->ntotal(), kN);
    EXPECT_TRUE(loaded->is_trained());
    if (ivf != nullptr) {
      IndexIVFFlat* loaded_ivf = ivf_of(*loaded);
      ASSERT_NE(loaded_ivf, nullptr);
      EXPECT_EQ(loaded_ivf->n_probe(), 3);
      EXPECT_EQ(loaded_ivf->centroids(), ivf->centroids());
      for (int l = 0; l < ivf->n_lists(); ++l) {
        EXPECT_EQ(loaded_ivf->list_ids(l), ivf->list_ids(l));
        EXPECT_EQ(loaded_ivf->list_vectors(l), ivf->list_vectors(l));
      }
    }
    const std::vector<float> queries = gaussian(25, kDim, 2);
    const SearchResult before = run_search(*index, queries, 10);
    const SearchResult after = run_search(*loaded, queries, 10);
    EXPECT_EQ(after.labels, before.labels);
    EXPECT_EQ(after.distances, before.distances);

    // Reconstruction through the chain, where every transform has a reverse.
    std::vector<float> a(kDim), b(kDim);
    const Index* inner = nullptr;
    bool reversible = true;
    for (const VectorTransform* t : chain_of(*index, &inner))
      reversible = reversible && t->reversible();
    if (reversible) {
      for (idx_t id : {idx_t{0}, idx_t{17}, kN - 1}) {
        index->reconstruct(id, a.data());
        loaded->reconstruct(id, b.data());
        EXPECT_EQ(a, b) << "id " << id;
      }
    } else {
      EXPECT_THROW(loaded->reconstruct(0, b.data()), NotSupported);
    }
    EXPECT_TRUE(next_add_assigns(*loaded, dir, kN));
  }
}

INSTANTIATE_TEST_SUITE_P(Specs, ChainRoundTrip,
                         ::testing::Values("PCA8,Flat", "PCAW8,IVF4,Flat", "PCAR8,Flat",
                                           "OPQ4,Flat", "OPQ2_8,IVF4,Flat", "RR12,IVF4,Flat",
                                           "L2norm,Flat", "L2norm,PCA10,RR8,IVF5,Flat"));

// A rotation without reduction reconstructs the added vectors themselves (to rounding), before
// and after loading.
TEST(ChainIo, ReconstructThroughAFullRotation) {
  std::unique_ptr<Index> index = index_factory(kDim, "RR16,IVF4,Flat");
  const std::vector<float> x = gaussian(200, kDim, 4);
  index->train(200, x.data());
  index->add(200, x.data());
  TempDir dir;
  write_index(*index, dir.file("rr.knnx"));
  const std::unique_ptr<Index> loaded = read_index(dir.file("rr.knnx"));
  std::vector<float> out(kDim);
  loaded->reconstruct(42, out.data());
  for (int j = 0; j < kDim; ++j) EXPECT_NEAR(out[j], x[42 * kDim + j], 1e-4f * (1 + j)) << j;
}

TEST(ChainIo, CustomIdsAndRemovalsKeepTheIdCounter) {
  std::unique_ptr<Index> index = index_factory(kDim, "PCA8,IVF4,Flat");
  const std::vector<float> x = gaussian(300, kDim, 5);
  index->train(300, x.data());
  std::vector<idx_t> ids(300);
  for (idx_t i = 0; i < 300; ++i) ids[static_cast<std::size_t>(i)] = 1000 + 2 * i;
  index->add_with_ids(300, x.data(), ids.data());
  const std::vector<idx_t> gone = {1000, 1598};  // the largest id among them
  EXPECT_EQ(index->remove_ids(2, gone.data()), 2);
  TempDir dir;
  write_index(*index, dir.file("ids.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("ids.knnx"));
  EXPECT_EQ(loaded->ntotal(), 298);
  const std::vector<float> queries = gaussian(10, kDim, 6);
  EXPECT_EQ(run_search(*loaded, queries, 5).labels, run_search(*index, queries, 5).labels);
  EXPECT_EQ(read_index_info(dir.file("ids.knnx")).next_id, 1599);
  EXPECT_TRUE(next_add_assigns(*loaded, dir, 1599));
  EXPECT_THROW(loaded->add_with_ids(1, x.data(), ids.data() + 5), InvalidArgument);  // stored
}

// A chain saved before training loads untrained and trains as the saved one would have.
TEST(ChainIo, UntrainedChainsLoadAndTrain) {
  for (const char* spec : {"PCAW8,IVF4,Flat", "OPQ4_8,Flat", "L2norm,RR8,IVF3,Flat"}) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Index> index = index_factory(kDim, spec);
    TempDir dir;
    write_index(*index, dir.file("untrained.knnx"));
    std::unique_ptr<Index> loaded = read_index(dir.file("untrained.knnx"));
    expect_same_chain(*index, *loaded);
    EXPECT_EQ(loaded->is_trained(), index->is_trained());
    EXPECT_EQ(loaded->ntotal(), 0);
    const std::vector<float> x = gaussian(kN, kDim, 8);
    index->train(kN, x.data());
    loaded->train(kN, x.data());
    index->add(kN, x.data());
    loaded->add(kN, x.data());
    expect_same_chain(*index, *loaded);
    const std::vector<float> queries = gaussian(10, kDim, 9);
    EXPECT_EQ(run_search(*loaded, queries, 5).labels, run_search(*index, queries, 5).labels);
  }
}

TEST(ChainIo, InfoDescribesTheChain) {
  std::unique_ptr<Index> index = index_factory(kDim, "L2norm,PCAW12,OPQ3_6,IVF4,Flat");
  const std::vector<float> x = gaussian(kN, kDim, 10);
  index->train(kN, x.data());
  index->add(kN, x.data());
  TempDir dir;
  write_index(*index, dir.file("info.knnx"));
  const IndexFileInfo info = read_index_info(dir.file("info.knnx"));
  EXPECT_EQ(info.format_version, 2u);
  EXPECT_EQ(info.index_type, "IVFFlat");
  EXPECT_EQ(info.dim, kDim);
  EXPECT_EQ(info.stored_dim, 6);
  EXPECT_EQ(info.ntotal, kN);
  ASSERT_EQ(info.transforms.size(), 3u);
  EXPECT_EQ(info.transforms[0].type, "L2Normalize");
  EXPECT_EQ(info.transforms[1].type, "PCA");
  EXPECT_TRUE(info.transforms[1].whiten);
  EXPECT_EQ(info.transforms[1].d_in, kDim);
  EXPECT_EQ(info.transforms[1].d_out, 12);
  EXPECT_EQ(info.transforms[2].type, "OPQ");
  EXPECT_EQ(info.transforms[2].m, 3);
  EXPECT_EQ(info.transforms[2].d_in, 12);
  EXPECT_EQ(info.transforms[2].d_out, 6);
  EXPECT_EQ(info.transforms[2].ksub, 256);
  for (const IndexFileTransform& t : info.transforms) EXPECT_TRUE(t.trained) << t.type;
  ASSERT_FALSE(info.sections.empty());
  EXPECT_EQ(info.sections.front().name, "transform_chain");
}

TEST(ChainIo, OtherTransformsAreNotSupported) {
  class Negate : public VectorTransform {
   public:
    explicit Negate(int d) : VectorTransform(d, d, Device::cpu()) {}
    bool is_trained() const override { return true; }
    bool reversible() const override { return false; }

   protected:
    void do_train(idx_t, const float*) override {}
    void do_apply(idx_t n, const float* x, float* out) const override {
      for (idx_t i = 0; i < n * d_in(); ++i) out[i] = -x[i];
    }
  };
  IndexPreTransform index(std::make_shared<Negate>(4), std::make_unique<IndexFlat>(4));
  TempDir dir;
  EXPECT_THROW(write_index(index, dir.file("negate.knnx")), NotSupported);
  EXPECT_FALSE(fs::exists(dir.file("negate.knnx")));
}

// A chain built on a GPU loads onto the CPU and back, with the same matrices and results.
TEST(ChainIo, GpuChainsLoadOntoTheCpuAndBack) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  for (const char* spec : {"PCA8,IVF4,Flat", "OPQ4_8,Flat", "L2norm,RR12,Flat"}) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Index> gpu = index_factory(kDim, spec, Metric::L2, Device::cuda(0));
    const std::vector<float> x = gaussian(kN, kDim, 11);
    gpu->train(kN, x.data());
    gpu->add(kN, x.data());
    if (IndexIVFFlat* ivf = ivf_of(*gpu)) ivf->set_n_probe(4);
    TempDir dir;
    write_index(*gpu, dir.file("gpu.knnx"));
    std::unique_ptr<Index> cpu = read_index(dir.file("gpu.knnx"));
    EXPECT_TRUE(cpu->device().is_cpu());
    expect_same_chain(*gpu, *cpu);
    std::unique_ptr<Index> back = read_index(dir.file("gpu.knnx"), Device::cuda(0));
    EXPECT_TRUE(back->device().is_cuda());
    expect_same_chain(*gpu, *back);
    const std::vector<float> queries = gaussian(20, kDim, 12);
    EXPECT_EQ(run_search(*back, queries, 5).labels, run_search(*gpu, queries, 5).labels);
    EXPECT_EQ(run_search(*back, queries, 5).distances, run_search(*gpu, queries, 5).distances);
    // Across devices the transforms agree to float32 rounding, so the neighbours agree.
    const SearchResult on_cpu = run_search(*cpu, queries, 1);
    const SearchResult on_gpu = run_search(*gpu, queries, 1);
    int same = 0;
    for (std::size_t i = 0; i < on_cpu.labels.size(); ++i)
      same += on_cpu.labels[i] == on_gpu.labels[i];
    EXPECT_GE(same, 18);
  }
}

}  // namespace
}  // namespace knnx
