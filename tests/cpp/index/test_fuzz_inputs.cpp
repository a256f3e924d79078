// The fuzzers' seed corpora, replayed in the normal suite: every seed in tests/fuzz/corpus/ is a
// valid file and loads with each reader its fuzzer drives. (Inputs that once crashed a loader go
// to tests/fuzz/regressions/, which scripts/fuzz.sh replays, with a named case in the loader's
// own test file.)
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"

namespace knnx {
namespace {

const std::filesystem::path kFuzzDir = std::filesystem::path(KNNX_TEST_DATA_DIR) / ".." / "fuzz";

std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  }
  return out;
}

// Loads path with every reader the fuzzer of `target` drives; true when all of them accept it.
// Any exception but FormatError fails the test.
bool loads_cleanly(const std::string& target, const std::filesystem::path& path) {
  const std::string p = path.string();
  std::vector<std::function<void()>> readers;
  if (target == "index_file") {
    readers = {[&] { read_index_info(p); }, [&] { read_index(p); }};
  } else if (target == "faiss_index") {
    readers = {[&] { read_faiss_index(p); }};
  } else {
    const std::string ext = path.extension().string();
    if (ext == ".fvecs") readers = {[&] { read_fvecs(p); }};
    if (ext == ".ivecs") readers = {[&] { read_ivecs(p); }};
    if (ext == ".bvecs") readers = {[&] { read_bvecs(p); }};
    if (ext == ".npy") readers = {[&] { read_npy(p); }};
    if (readers.empty()) readers = {[&] { read_fvecs(p); }, [&] { read_npy(p); }};
  }
  bool all = true;
  for (const auto& read : readers) {
    try {
      read();
    } catch (const FormatError&) {
      all = false;
    } catch (const NotSupported& e) {
      // A FAISS seed of a type knnx does not read, named so: the reader names its type.
      if (path.filename().string().find("unsupported") == std::string::npos)
        ADD_FAILURE() << p << ": unexpected exception: " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << p << ": unexpected exception: " << e.what();
      all = false;
    }
  }
  return all;
}

TEST(FuzzInputs, SeedCorporaLoad) {
  for (const std::string target : {"index_file", "vector_file", "faiss_index"}) {
    const auto seeds = files_in(kFuzzDir / "corpus" / target);
    EXPECT_GE(seeds.size(), 5u) << target;
    for (const auto& f : seeds) EXPECT_TRUE(loads_cleanly(target, f)) << f;
  }
}

}  // namespace
}  // namespace knnx
