// libFuzzer target for the reader of FAISS index files (read_faiss_index) on arbitrary bytes. A
// trained index that loads is searched and a stored vector read back. The seed corpus holds small
// files written by faiss-cpu's write_index (tests/fuzz/corpus/faiss_index/).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "fuzz_util.hpp"
#include "knnx/error.hpp"
#include "knnx/index_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const knnx::fuzz::ScratchFile file(".faiss");
  file.write(data, size);
  // FormatError, OutOfMemory and NotSupported (a FAISS type knnx does not read) are the
  // documented answers to bad bytes; anything else escaping is a missing check.
  try {
    const std::unique_ptr<knnx::Index> index = knnx::read_faiss_index(file.path());
    if (index->is_trained()) knnx::fuzz::exercise(*index);  // an untrained index has no search
  } catch (const knnx::FormatError&) {
  } catch (const knnx::OutOfMemory&) {
  } catch (const knnx::NotSupported&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception on malformed input: %s\n", e.what());
    std::abort();
  }
  return 0;
}
