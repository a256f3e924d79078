// read_faiss_index / read_index on files written by faiss-cpu's write_index (the fuzzer's seed
// corpus, tests/fuzz/corpus/faiss_index/, made with faiss-cpu 1.15): what they hold comes back,
// other FAISS types are named, damaged files are refused. Search parity with FAISS itself is
// checked in tests/python/test_faiss_parity.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"
#include "knnx/transform.hpp"

namespace knnx {
namespace {

const std::filesystem::path kSeeds =
    std::filesystem::path(KNNX_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "faiss_index";

std::string seed(const char* name) { return (kSeeds / name).string(); }

std::vector<char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FaissReader, FlatIndexesKeepVectorsAndMetric) {
  for (const char* name : {"flat_l2.faiss", "flat_ip.faiss"}) {
    const auto index = read_index(seed(name));
    EXPECT_EQ(index->dim(), 4);
    EXPECT_EQ(index->ntotal(), 3);
    EXPECT_EQ(index->metric(),
              std::string(name) == "flat_l2.faiss" ? Metric::L2 : Metric::InnerProduct);
    // The stored vectors come back and each is its own nearest neighbour under L2.
    std::vector<float> v(4);
    index->reconstruct(1, v.data());
    if (index->metric() == Metric::L2) {
      std::vector<float> d(1);
      std::vector<idx_t> l(1);
      index->search(1, v.data(), 1, d.data(), l.data());
      EXPECT_EQ(l[0], 1);
      EXPECT_EQ(d[0], 0.0f);
    }
  }
}

TEST(FaissReader, IdMapIdsBecomeTheIndexIds) {
  const auto flat = read_faiss_index(seed("idmap_flat.faiss"));
  std::vector<float> v(4);
  for (idx_t id : {5, 9, 2}) EXPECT_NO_THROW(flat->reconstruct(id, v.data()));
  EXPECT_THROW(flat->reconstruct(0, v.data()), InvalidArgument);
  const auto ivf = read_faiss_index(seed("idmap2_ivf.faiss"));
  ASSERT_NE(dynamic_cast<const IndexIVFFlat*>(ivf.get()), nullptr);
  for (idx_t id : {3, 1, 8, 6}) EXPECT_NO_THROW(ivf->reconstruct(id, v.data()));
}

TEST(FaissReader, IvfAndTransformChains) {
  const auto ivf = read_faiss_index(seed("ivf_sprs.faiss"));
  const auto& i = dynamic_cast<const IndexIVFFlat&>(*ivf);
  EXPECT_EQ(i.n_lists(), 2);
  EXPECT_EQ(i.n_probe(), 2);
  EXPECT_EQ(i.ntotal(), 5);
  EXPECT_FALSE(read_faiss_index(seed("ivf_untrained.faiss"))->is_trained());
  for (const char* name :
       {"pca.faiss", "pcaw.faiss", "rr.faiss", "l2norm.faiss", "chain_ivf.faiss"}) {
    const auto index = read_faiss_index(seed(name));
    EXPECT_NE(dynamic_cast<const IndexPreTransform*>(index.get()), nullptr) << name;
    EXPECT_EQ(index->ntotal(), 3) << name;
  }
}

TEST(FaissReader, OtherTypesAreNamed) {
  try {
    read_index(seed("hnsw_unsupported.faiss"));
    FAIL() << "read an HNSW index";
  } catch (const NotSupported& e) {
    EXPECT_NE(std::string(e.what()).find("'IHNf'"), std::string::npos) << e.what();
  }
}

// Writes data[0..n) to a scratch file of this process and returns its path.
std::string scratch(const std::vector<char>& data, std::size_t n) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("knnx_faiss_reader_" + std::to_string(::getpid()) + ".faiss"))
                               .string();
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(n));
  return path;
}

TEST(FaissReader, DamagedFilesAreRefused) {
  std::vector<char> bytes = bytes_of(seed("chain_ivf.faiss"));
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_THROW(read_faiss_index(scratch(bytes, cut)), FormatError) << "cut at " << cut;
  }
  bytes.push_back(0);
  const std::string path = scratch(bytes, bytes.size());
  EXPECT_THROW(read_faiss_index(path), FormatError);
  std::filesystem::remove(path);
}

// Sizes in the header far beyond the bytes present (a crafted file of 93 bytes declaring 2^40
// vectors) are refused before anything of that size is allocated (under ASan an allocation of
// that size would itself fail the test).
TEST(FaissReader, OversizedCountsAreRefusedBeforeAllocating) {
  const std::vector<char> bytes = bytes_of(seed("flat_l2.faiss"));
  // IxF2: fourcc, d (int32 at 4), ntotal (int64 at 8), two int64, is_trained (uint8), metric
  // (int32), then the float count (uint64 at 37).
  ASSERT_EQ(bytes.size(), 93u);
  ASSERT_EQ(std::string(bytes.data(), 4), "IxF2");
  const std::int64_t ntotal = std::int64_t{1} << 40;
  const std::uint64_t floats = static_cast<std::uint64_t>(ntotal) * 4;  // d = 4
  for (const bool consistent : {true, false}) {
    std::vector<char> crafted = bytes;
    std::memcpy(crafted.data() + 37, &floats, sizeof(floats));
    if (consistent) std::memcpy(crafted.data() + 8, &ntotal, sizeof(ntotal));
    const std::string path = scratch(crafted, crafted.size());
    EXPECT_THROW(read_faiss_index(path), FormatError) << (consistent ? "consistent" : "count only");
    std::filesystem::remove(path);
  }
}

// Stored vectors above the norm bound (kMaxSquaredNorm), which add refuses, are refused on load
// too, naming the row; just below it they load.
TEST(FaissReader, VectorsAboveTheNormBoundAreRefused) {
  const std::vector<char> bytes = bytes_of(seed("flat_l2.faiss"));
  ASSERT_EQ(bytes.size(), 93u);  // 3 vectors of d = 4 from byte 45 on (see above)
  for (const double scale : {1.001, 0.999}) {
    std::vector<char> crafted = bytes;
    const float v = static_cast<float>(std::sqrt(kMaxSquaredNorm / 4 * scale));
    for (int j = 0; j < 4; ++j) std::memcpy(crafted.data() + 45 + 16 + 4 * j, &v, sizeof(v));
    const std::string path = scratch(crafted, crafted.size());
    if (scale < 1) {
      EXPECT_EQ(read_faiss_index(path)->ntotal(), 3);
    } else {
      try {
        read_faiss_index(path);
        ADD_FAILURE() << "loaded a vector above the norm bound";
      } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("the stored vectors hold row 1 of squared L2 norm"),
                  std::string::npos)
            << e.what();
      }
    }
    std::filesystem::remove(path);
  }
}

// A transform chain that maps inputs in [-1, 1] to vectors past the squared-norm bound is refused
// on load: every ordinary query would overflow float32 through it. From the fuzzer (a PCA mean of
// huge values: tests/fuzz/regressions/faiss_index/) and crafted: a rotation matrix scaled by 1e30
// (still orthogonal, so only its scale is wrong).
TEST(FaissReader, TransformsThatOverflowAreRefused) {
  const std::filesystem::path found = std::filesystem::path(KNNX_TEST_DATA_DIR) / ".." / "fuzz" /
                                      "regressions" / "faiss_index" /
                                      "pca_mean_overflows_queries.faiss";
  EXPECT_THROW(read_faiss_index(found.string()), FormatError);

  std::vector<char> bytes = bytes_of(seed("rr.faiss"));
  // rrot: fourcc, have_bias (uint8), the matrix's float count (uint64), then its floats.
  const std::size_t at = std::string(bytes.data(), bytes.size()).find("rrot");
  ASSERT_NE(at, std::string::npos);
  std::uint64_t count = 0;
  std::memcpy(&count, bytes.data() + at + 4 + 1, sizeof(count));
  ASSERT_EQ(count, 16u);  // d = 4
  for (std::size_t i = 0; i < count; ++i) {
    char* value = bytes.data() + at + 4 + 1 + 8 + i * sizeof(float);
    float v = 0;
    std::memcpy(&v, value, sizeof(v));
    v *= 1e30f;
    std::memcpy(value, &v, sizeof(v));
  }
  const std::string path = scratch(bytes, bytes.size());
  try {
    read_faiss_index(path);
    ADD_FAILURE() << "loaded a rotation scaled by 1e30";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("squared norm"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace knnx
