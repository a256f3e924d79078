// fuzz_util.hpp — what the libFuzzer targets share: a scratch file that holds one input (the
// loaders take paths), and the rule for which exceptions a loader may throw on malformed input.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/index.hpp"
#include "knnx/index_flat.hpp"

namespace knnx::fuzz {

// A file named after the process in $TMPDIR (or /tmp), rewritten for every input and removed at
// exit. Several fuzzers (or -jobs=N workers) can run at once: each process has its own file.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& suffix) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/knnx-fuzz-" +
            std::to_string(::getpid()) + suffix;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& path() const { return path_; }

  // Replaces the file's contents with data[0..size).
  void write(const std::uint8_t* data, std::size_t size) const {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    if (std::fclose(f) != 0) std::abort();
  }

 private:
  std::string path_;
};

// Runs f(); a FormatError (malformed file) or OutOfMemory (a file that asks for more memory
// than there is) is the documented answer to bad bytes. Anything else that escapes — another
// knnx error, a standard exception — means a check is missing: report it as a crash.
template <typename F>
bool loads(F&& f) {
  try {
    f();
    return true;
  } catch (const FormatError&) {
  } catch (const OutOfMemory&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception on malformed input: %s\n", e.what());
    std::abort();
  }
  return false;
}

// Searches a loaded index with one query and reads back one stored vector; checks the results
// are what the Index contract promises.
inline void exercise(const knnx::Index& index) {
  const int d = index.dim();
  std::vector<float> query(static_cast<std::size_t>(d), 0.5f);
  const int k = 4;
  std::vector<float> distances(k);
  std::vector<knnx::idx_t> labels(k);
  index.search(1, query.data(), k, distances.data(), labels.data());
  // Results come first, then -1 padding; an exact index finds min(k, ntotal) of them, an IVF
  // index at most that (the probed lists may hold fewer).
  const auto first_pad = std::find(labels.begin(), labels.end(), knnx::idx_t{-1});
  if (std::any_of(first_pad, labels.end(), [](knnx::idx_t l) { return l != -1; })) std::abort();
  const knnx::idx_t found = first_pad - labels.begin();
  const knnx::idx_t most = std::min<knnx::idx_t>(k, index.ntotal());
  const bool exact = dynamic_cast<const knnx::IndexFlat*>(&index) != nullptr;
  if (found > most || (exact && found != most)) std::abort();
  if (labels[0] >= 0) {
    std::vector<float> v(static_cast<std::size_t>(d));
    index.reconstruct(labels[0], v.data());
  }
}

}  // namespace knnx::fuzz
