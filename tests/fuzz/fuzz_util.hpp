// fuzz_util.hpp — what the libFuzzer targets share: a scratch file that holds one input (the
// loaders take paths), and the rule for which exceptions a loader may throw on malformed input.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "knnx/error.hpp"

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

}  // namespace knnx::fuzz
