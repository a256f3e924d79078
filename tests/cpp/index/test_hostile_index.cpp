// Hostile calls on indexes: ids at the edge of the id range, vectors above the norm bound (whose
// distances would overflow float), and re-training a transform that a non-empty index depends on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/metric.hpp"
#include "knnx/transform.hpp"
#include "shard_test_util.hpp"

namespace knnx {
namespace {

namespace fs = std::filesystem;

std::string temp_file(const char* name) {
  return (fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)).string();
}

std::unique_ptr<Index> trained(const std::string& kind, int d) {
  if (kind == "flat") return std::make_unique<IndexFlat>(d);
  auto ivf = std::make_unique<IndexIVFFlat>(d, 2);
  std::vector<float> x(static_cast<std::size_t>(8 * d));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  ivf->train(8, x.data());
  ivf->set_n_probe(2);
  return ivf;
}

class HostileIds : public ::testing::TestWithParam<std::string> {};

// Every id add_with_ids accepts can be saved and loaded back; the largest is 2^63 - 2.
TEST_P(HostileIds, AcceptedIdsAreLoadableIds) {
  const int d = 4;
  std::unique_ptr<Index> index = trained(GetParam(), d);
  const std::vector<float> x(static_cast<std::size_t>(2 * d), 1.0f);
  const idx_t too_large[] = {kMaxId + 1};
  EXPECT_THROW(index->add_with_ids(1, x.data(), too_large), InvalidArgument);
  EXPECT_EQ(index->ntotal(), 0);
  const idx_t edge[] = {kMaxId, 0};
  index->add_with_ids(2, x.data(), edge);
  const std::string path = temp_file("edge_ids.knnx");
  write_index(*index, path);
  std::unique_ptr<Index> loaded = read_index(path);
  fs::remove(path);
  EXPECT_EQ(loaded->ntotal(), 2);
  std::vector<float> back(d);
  loaded->reconstruct(kMaxId, back.data());
  EXPECT_EQ(back, std::vector<float>(d, 1.0f));
}

// Sequential ids never wrap around to negative ones: an add that would pass kMaxId throws and
// changes nothing.
TEST_P(HostileIds, SequentialIdsStopAtTheLargestId) {
  const int d = 4;
  std::unique_ptr<Index> index = trained(GetParam(), d);
  const std::vector<float> x(static_cast<std::size_t>(3 * d), 1.0f);
  const idx_t near_end[] = {kMaxId - 1};
  index->add_with_ids(1, x.data(), near_end);
  try {
    index->add(2, x.data());
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("largest id"), std::string::npos) << e.what();
  }
  EXPECT_EQ(index->ntotal(), 1);
  index->add(1, x.data());  // takes kMaxId, the last id
  std::vector<float> back(d);
  index->reconstruct(kMaxId, back.data());
  EXPECT_THROW(index->add(1, x.data()), InvalidArgument);
  EXPECT_EQ(index->ntotal(), 2);
}

INSTANTIATE_TEST_SUITE_P(Kinds, HostileIds, ::testing::Values("flat", "ivf"));

// Vectors whose squared L2 norm is above kMaxSquaredNorm (values near 3e19 used to give +inf
// distances) are refused by add, add_with_ids, train and search, naming the row and the bound;
// vectors just below it are stored and searched with finite distances, also between x and -x
// (the largest L2 distance two accepted vectors can have).
TEST(HostileValues, VectorsAboveTheNormBoundAreRefused) {
  const int d = 4;
  const float below = static_cast<float>(std::sqrt(kMaxSquaredNorm / d * 0.999));
  const float above = static_cast<float>(std::sqrt(kMaxSquaredNorm / d * 1.001));
  for (Metric metric : {Metric::L2, Metric::InnerProduct}) {
    for (const bool ivf : {false, true}) {
      SCOPED_TRACE(std::string(ivf ? "ivf " : "flat ") + to_string(metric));
      std::unique_ptr<Index> index;
      if (ivf) {
        index = std::make_unique<IndexIVFFlat>(d, 2, metric);
        std::vector<float> train(static_cast<std::size_t>(4 * d), 0.0f);
        for (int i = 0; i < 4; ++i) train[static_cast<std::size_t>(i * d)] = static_cast<float>(i);
        index->train(4, train.data());
        static_cast<IndexIVFFlat&>(*index).set_n_probe(2);
        std::vector<float> big = train;
        big[static_cast<std::size_t>(2 * d + 1)] = above;
        big[static_cast<std::size_t>(2 * d + 2)] = above;
        big[static_cast<std::size_t>(2 * d + 3)] = above;
        big[static_cast<std::size_t>(2 * d)] = above;
        IndexIVFFlat fresh(d, 2, metric);
        EXPECT_THROW(fresh.train(4, big.data()), InvalidArgument);
        EXPECT_FALSE(fresh.is_trained());
      } else {
        index = std::make_unique<IndexFlat>(d, metric);
      }
      // Rows: x, -x at the bound, and two small ones.
      std::vector<float> x(static_cast<std::size_t>(4 * d), below);
      for (int j = 0; j < d; ++j) x[static_cast<std::size_t>(d + j)] = -below;
      for (int j = 0; j < 2 * d; ++j) x[static_cast<std::size_t>(2 * d + j)] = 0.5f * (j % 3);
      index->add(4, x.data());
      const test::Results r = test::run_search(*index, 4, x, 4);
      for (std::size_t j = 0; j < r.distances.size(); ++j) {
        EXPECT_TRUE(std::isfinite(r.distances[j])) << "slot " << j << ": " << r.distances[j];
        EXPECT_NE(r.labels[j], kNoLabel) << "slot " << j;
      }
      if (metric == Metric::L2) {
        EXPECT_EQ(r.labels[0], 0);  // x is nearest to itself, -x the farthest from it
        EXPECT_EQ(r.labels[3], 1);
      }

      std::vector<float> bad(static_cast<std::size_t>(3 * d), 1.0f);
      for (int j = 0; j < d; ++j) bad[static_cast<std::size_t>(d + j)] = above;
      try {
        index->add(3, bad.data());
        ADD_FAILURE() << "no exception";
      } catch (const InvalidArgument& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("x row 1 has a squared L2 norm of"), std::string::npos) << what;
        EXPECT_NE(what.find("above the largest accepted, 4.254e+37"), std::string::npos) << what;
      }
      const std::vector<idx_t> ids = {10, 11, 12};
      EXPECT_THROW(index->add_with_ids(3, bad.data(), ids.data()), InvalidArgument);
      std::vector<float> d_out(3);
      std::vector<idx_t> labels(3);
      try {
        index->search(3, bad.data(), 1, d_out.data(), labels.data());
        ADD_FAILURE() << "no exception";
      } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("queries row 1"), std::string::npos) << e.what();
      }
      EXPECT_EQ(index->ntotal(), 4);
    }
  }
}

// Re-training a transform that a non-empty IndexPreTransform stores vectors through would
// silently change its search results: it is refused, and allowed again once the index is empty.
TEST(HostileTransforms, RetrainingAUsedTransformIsRefused) {
  const int d = 8;
  std::vector<float> x(static_cast<std::size_t>(64 * d));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 11);
  auto pca = std::make_shared<PCA>(d, 4);
  IndexPreTransform index(pca, std::make_unique<IndexFlat>(4));
  index.train(64, x.data());
  index.add(64, x.data());
  const std::vector<float> before = pca->matrix();
  try {
    pca->train(64, x.data());
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("holds 64 vectors"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pca->matrix(), before);
  // Two wrappers over one transform: either holding vectors blocks re-training.
  IndexPreTransform other(pca, std::make_unique<IndexFlat>(4));
  index.reset();
  other.add(1, x.data());
  EXPECT_THROW(pca->train(64, x.data()), InvalidArgument);
  other.reset();
  EXPECT_NO_THROW(pca->train(64, x.data()));
}

// Found by fuzz_index_file: a knnx magic with its first byte changed reads as a FAISS file of
// an index type knnx's FAISS reader does not know; the answer is NotSupported naming it.
TEST(HostileFiles, UnknownFaissTypeIsNotSupported) {
  const std::string path = std::string(KNNX_TEST_DATA_DIR) +
                           "/../fuzz/regressions/index_file/faiss_unknown_index_type.knnx";
  try {
    read_index(path);
    FAIL() << "no exception";
  } catch (const NotSupported& e) {
    EXPECT_NE(std::string(e.what()).find("FAISS index type 'IKNN'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace knnx
