// The bad-input matrix: one table of (input -> exception type, message substring), run against
// IndexFlat and IndexIVFFlat on the CPU and, where a GPU is present, on cuda:0 (skipped
// otherwise). After every refused call the index must be exactly as it was: the same ntotal,
// training state, ids and answer to a fixed search. File cases (directories, missing or
// unreadable files, empty files) follow, for the index and vector readers and writers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "index/gaussian_data.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kDim = 8;
constexpr idx_t kBase = 200;

using test::gaussian;

enum class Kind { Flat, IVF };
enum class Throws { None, InvalidArgument, IoError, FormatError };

const char* name_of(Throws t) {
  switch (t) {
    case Throws::None:
      return "nothing";
    case Throws::InvalidArgument:
      return "InvalidArgument";
    case Throws::IoError:
      return "IoError";
    case Throws::FormatError:
      return "FormatError";
  }
  return "?";
}

// Which documented type f throws (None when it returns), and the message.
std::pair<Throws, std::string> outcome(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return {Throws::InvalidArgument, e.what()};
  } catch (const IoError& e) {
    return {Throws::IoError, e.what()};
  } catch (const FormatError& e) {
    return {Throws::FormatError, e.what()};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception type: " << e.what();
  }
  return {Throws::None, ""};
}

struct Setup {
  Kind kind;
  Device device;
  std::string name;
};

std::unique_ptr<Index> make_index(const Setup& s, bool trained = true) {
  std::unique_ptr<Index> index;
  if (s.kind == Kind::Flat) {
    index = std::make_unique<IndexFlat>(kDim, Metric::L2, s.device);
  } else {
    auto ivf = std::make_unique<IndexIVFFlat>(kDim, 4, Metric::L2, s.device);
    ivf->set_n_probe(2);
    index = std::move(ivf);
  }
  if (!trained) return index;
  const std::vector<float> xb = gaussian(kBase, kDim, 1);
  index->train(kBase, xb.data());
  index->add(kBase, xb.data());
  return index;
}

// Everything a refused call must leave alone.
struct Snapshot {
  idx_t ntotal = 0;
  bool trained = false;
  std::vector<float> distances;
  std::vector<idx_t> labels;
  std::vector<idx_t> list_sizes;
  int n_probe = 0;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Index& index) {
  Snapshot s;
  s.ntotal = index.ntotal();
  s.trained = index.is_trained();
  if (const auto* ivf = dynamic_cast<const IndexIVFFlat*>(&index)) {
    s.list_sizes = ivf->list_sizes();
    s.n_probe = ivf->n_probe();
  }
  if (s.trained) {
    const std::vector<float> q = gaussian(3, kDim, 99);
    s.distances.resize(3 * 5);
    s.labels.resize(3 * 5);
    index.search(3, q.data(), 5, s.distances.data(), s.labels.data());
  }
  return s;
}

// One row of the matrix: what the call does, what it must throw, which substring the message
// holds, and whether the index starts untrained.
struct Case {
  std::string input;
  std::function<void(Index&)> call;
  Throws expected;
  std::string message;
  bool untrained = false;
  bool ivf_only = false;
};

std::vector<Case> cases() {
  static const std::vector<float> good = gaussian(4, kDim, 2);
  static const std::vector<float> nan_row = [] {
    std::vector<float> v = gaussian(4, kDim, 3);
    v[2 * kDim + 5] = kNaN;
    return v;
  }();
  static const std::vector<float> inf_row = [] {
    std::vector<float> v = gaussian(4, kDim, 4);
    v[1 * kDim + 0] = -kInf;
    return v;
  }();
  static std::vector<float> dist(4 * (kMaxK + 1));
  static std::vector<idx_t> lab(4 * (kMaxK + 1));
  const idx_t huge = std::numeric_limits<idx_t>::max() / 2;
  auto search = [](idx_t nq, const float* q, int k) {
    return [=](Index& ix) { ix.search(nq, q, k, dist.data(), lab.data()); };
  };
  auto add_ids = [](std::vector<idx_t> ids) {
    return [ids](Index& ix) {
      ix.add_with_ids(static_cast<idx_t>(ids.size()), good.data(), ids.data());
    };
  };
  return {
      {"add n = 0 (zero vectors)", [](Index& ix) { ix.add(0, good.data()); },
       Throws::InvalidArgument, "n must be >= 1, got 0"},
      {"add n = -3", [](Index& ix) { ix.add(-3, good.data()); }, Throws::InvalidArgument,
       "n must be >= 1, got -3"},
      {"add x = null", [](Index& ix) { ix.add(2, nullptr); }, Throws::InvalidArgument,
       "x must not be null"},
      {"add x with NaN at [2, 5]", [](Index& ix) { ix.add(4, nan_row.data()); },
       Throws::InvalidArgument, "x contains a non-finite value (nan) at row 2, column 5"},
      {"add x with -Inf at [1, 0]", [](Index& ix) { ix.add(4, inf_row.data()); },
       Throws::InvalidArgument, "x contains a non-finite value (-inf) at row 1, column 0"},
      {"add n x d overflows", [=](Index& ix) { ix.add(huge, good.data()); },
       Throws::InvalidArgument, "overflows"},
      {"add before train", [](Index& ix) { ix.add(4, good.data()); }, Throws::InvalidArgument,
       "the index must be trained before add", true, true},
      {"add_with_ids negative id", add_ids({1000, -1, 1001, 1002}), Throws::InvalidArgument,
       "ids[1] = -1 is negative"},
      {"add_with_ids duplicated id", add_ids({1000, 1001, 1000, 1002}), Throws::InvalidArgument,
       "ids[2] = 1000 appears more than once"},
      {"add_with_ids id already stored", add_ids({1000, 1001, 7, 1002}), Throws::InvalidArgument,
       "ids[2] = 7 is already stored in the index"},
      {"add_with_ids ids = null", [](Index& ix) { ix.add_with_ids(4, good.data(), nullptr); },
       Throws::InvalidArgument, "ids must not be null"},
      {"add_with_ids with NaN",
       [](Index& ix) {
         const std::vector<idx_t> ids = {1000, 1001, 1002, 1003};
         ix.add_with_ids(4, nan_row.data(), ids.data());
       },
       Throws::InvalidArgument, "non-finite value (nan) at row 2, column 5"},
      {"train with NaN", [](Index& ix) { ix.train(4, nan_row.data()); }, Throws::InvalidArgument,
       "x contains a non-finite value (nan) at row 2, column 5"},
      {"train n = 0", [](Index& ix) { ix.train(0, good.data()); }, Throws::InvalidArgument,
       "n must be >= 1, got 0"},
      {"train with fewer vectors than lists", [](Index& ix) { ix.train(3, good.data()); },
       Throws::InvalidArgument, "3 training vectors cannot make 4 lists", true, true},
      {"train while holding vectors", [](Index& ix) { ix.train(4, good.data()); },
       Throws::InvalidArgument, "train needs an empty index, but it holds 200 vectors", false,
       true},
      {"search k = 0", search(1, good.data(), 0), Throws::InvalidArgument,
       "k must be in [1, " + std::to_string(kMaxK) + "], got 0"},
      {"search k = -1", search(1, good.data(), -1), Throws::InvalidArgument,
       "k must be in [1, " + std::to_string(kMaxK) + "], got -1"},
      {"search k = kMaxK + 1", search(1, good.data(), kMaxK + 1), Throws::InvalidArgument,
       "k must be in [1, " + std::to_string(kMaxK) + "], got " + std::to_string(kMaxK + 1)},
      {"search nq = 0", search(0, good.data(), 3), Throws::InvalidArgument,
       "nq must be >= 1, got 0"},
      {"search queries with NaN", search(4, nan_row.data(), 3), Throws::InvalidArgument,
       "queries contains a non-finite value (nan) at row 2, column 5"},
      {"search queries with -Inf", search(4, inf_row.data(), 3), Throws::InvalidArgument,
       "queries contains a non-finite value (-inf) at row 1, column 0"},
      {"search nq x d overflows", search(huge, good.data(), 3), Throws::InvalidArgument,
       "overflows"},
      {"search before train", search(1, good.data(), 3), Throws::InvalidArgument,
       "the index must be trained before search", true, true},
      {"set_n_probe(0)", [](Index& ix) { dynamic_cast<IndexIVFFlat&>(ix).set_n_probe(0); },
       Throws::InvalidArgument, "n_probe must be >= 1, got 0", false, true},
      {"set_n_probe(-2)", [](Index& ix) { dynamic_cast<IndexIVFFlat&>(ix).set_n_probe(-2); },
       Throws::InvalidArgument, "n_probe must be >= 1, got -2", false, true},
      {"remove_ids of absent ids (returns 0)",
       [](Index& ix) {
         const std::vector<idx_t> ids = {5000, -4, 1 << 30};
         if (ix.remove_ids(3, ids.data()) != 0) throw Error("removed an absent id");
       },
       Throws::None, ""},
      {"remove_ids n = -1", [](Index& ix) { ix.remove_ids(-1, nullptr); }, Throws::InvalidArgument,
       "n must be >= 0, got -1"},
      {"reconstruct of an absent id",
       [](Index& ix) {
         std::vector<float> out(kDim);
         ix.reconstruct(kBase + 7, out.data());
       },
       Throws::InvalidArgument, "id 207 is not stored in the index"},
  };
}

class BadInputMatrix : public ::testing::TestWithParam<Setup> {
 protected:
  void SetUp() override {
    if (GetParam().device.is_cuda() && cuda_device_count() == 0) {
      GTEST_SKIP() << "no CUDA device";
    }
  }
};

TEST_P(BadInputMatrix, EachCaseThrowsAsTabulatedAndLeavesTheIndexUnchanged) {
  for (const Case& c : cases()) {
    if (c.ivf_only && GetParam().kind != Kind::IVF) continue;
    SCOPED_TRACE(c.input);
    std::unique_ptr<Index> index = make_index(GetParam(), !c.untrained);
    const Snapshot before = snapshot(*index);
    const auto [got, message] = outcome([&] { c.call(*index); });
    EXPECT_EQ(got, c.expected) << "threw " << name_of(got) << " (" << message << "), expected "
                               << name_of(c.expected);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "message \"" << message << "\" lacks \"" << c.message << "\"";
    EXPECT_TRUE(snapshot(*index) == before) << "the index changed";
  }
}

TEST_P(BadInputMatrix, ConstructionWithBadSizes) {
  const Device dev = GetParam().device;
  const std::vector<std::pair<std::function<void()>, std::string>> rows = {
      {[&] { IndexFlat(0, Metric::L2, dev); }, "dim must be in [1, 65536], got 0"},
      {[&] { IndexFlat(-4, Metric::L2, dev); }, "dim must be in [1, 65536], got -4"},
      {[&] { IndexFlat(kMaxDim + 1, Metric::L2, dev); }, "dim must be in [1, 65536], got 65537"},
      {[&] { IndexIVFFlat(0, 4, Metric::L2, dev); }, "dim must be in [1, 65536], got 0"},
      {[&] { IndexIVFFlat(kDim, 0, Metric::L2, dev); }, "n_lists must be >= 1, got 0"},
      {[&] { IndexIVFFlat(kDim, -8, Metric::L2, dev); }, "n_lists must be >= 1, got -8"},
  };
  for (const auto& [make, needle] : rows) {
    const auto [got, message] = outcome(make);
    EXPECT_EQ(got, Throws::InvalidArgument) << needle;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

std::string setup_name(const ::testing::TestParamInfo<Setup>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Indexes, BadInputMatrix,
                         ::testing::Values(Setup{Kind::Flat, Device::cpu(), "FlatCpu"},
                                           Setup{Kind::IVF, Device::cpu(), "IvfCpu"},
                                           Setup{Kind::Flat, Device::cuda(0), "FlatCuda"},
                                           Setup{Kind::IVF, Device::cuda(0), "IvfCuda"}),
                         setup_name);

// ---------------------------------------------------------------------------------------------
// Files: path -> exception type and message substring, for every reader and writer.

class BadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("knnx-bad-files-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "a_directory.knnx");
    std::filesystem::create_directories(dir_ / "a_directory.fvecs");
    std::FILE* f = std::fopen((dir_ / "empty.knnx").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    f = std::fopen((dir_ / "empty.fvecs").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  std::string at(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

struct FileCase {
  std::string input;
  std::function<void()> call;
  Throws expected;
  std::string message;
};

void expect_file_cases(const std::vector<FileCase>& rows) {
  for (const FileCase& c : rows) {
    SCOPED_TRACE(c.input);
    const auto [got, message] = outcome(c.call);
    EXPECT_EQ(got, c.expected) << "threw " << name_of(got) << " (" << message << "), expected "
                               << name_of(c.expected);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "message \"" << message << "\" lacks \"" << c.message << "\"";
  }
}

TEST_F(BadFiles, DirectoriesMissingAndEmptyFiles) {
  IndexFlat index(kDim);
  const std::vector<float> xb = gaussian(10, kDim, 5);
  index.add(10, xb.data());
  Matrix<float> m;
  m.rows = 10;
  m.cols = kDim;
  m.data = xb;
  expect_file_cases({
      {"read_index(directory)", [&] { read_index(at("a_directory.knnx")); }, Throws::IoError,
       "it is a directory"},
      {"read_index_info(directory)", [&] { read_index_info(at("a_directory.knnx")); },
       Throws::IoError, "it is a directory"},
      {"read_index(missing file)", [&] { read_index(at("missing.knnx")); }, Throws::IoError,
       "No such file or directory"},
      {"read_index(empty file)", [&] { read_index(at("empty.knnx")); }, Throws::FormatError,
       "file is empty"},
      {"write_index(directory)", [&] { write_index(index, at("a_directory.knnx")); },
       Throws::IoError, "it is a directory"},
      {"write_index(missing parent)", [&] { write_index(index, at("no/such/dir/x.knnx")); },
       Throws::IoError, "cannot create temporary file"},
      {"read_fvecs(directory)", [&] { read_fvecs(at("a_directory.fvecs")); }, Throws::IoError,
       "it is a directory"},
      {"read_vectors(missing file)", [&] { read_vectors(at("missing.npy")); }, Throws::IoError,
       "No such file or directory"},
      {"read_fvecs(empty file)", [&] { read_fvecs(at("empty.fvecs")); }, Throws::FormatError,
       "file is empty"},
      {"write_fvecs(missing parent)", [&] { write_fvecs(at("no/such/dir/x.fvecs"), m); },
       Throws::IoError, "cannot create temporary file"},
  });
  // The directory that stood in for the index file is still a directory.
  EXPECT_TRUE(std::filesystem::is_directory(at("a_directory.knnx")));
}

TEST_F(BadFiles, UnreadableAndUnwritable) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: file permissions are not enforced";
  IndexFlat index(kDim);
  const std::vector<float> xb = gaussian(10, kDim, 6);
  index.add(10, xb.data());
  write_index(index, at("locked.knnx"));
  ASSERT_EQ(::chmod(at("locked.knnx").c_str(), 0), 0);
  std::filesystem::create_directories(dir_ / "readonly");
  ASSERT_EQ(::chmod((dir_ / "readonly").c_str(), 0500), 0);
  expect_file_cases({
      {"read_index(mode 000)", [&] { read_index(at("locked.knnx")); }, Throws::IoError,
       "Permission denied"},
      {"read_fvecs(mode 000)", [&] { read_fvecs(at("locked.knnx")); }, Throws::IoError,
       "Permission denied"},
      {"write_index(read-only directory)", [&] { write_index(index, at("readonly/x.knnx")); },
       Throws::IoError, "Permission denied"},
  });
}

}  // namespace
}  // namespace knnx
