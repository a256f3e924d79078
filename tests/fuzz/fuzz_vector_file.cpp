// libFuzzer target for the vector-file readers: the same bytes are read as .fvecs, .ivecs,
// .bvecs and .npy (raw, as float32 and as int64; every row and only the first rows), through
// read_vectors / read_labels by extension, and in row ranges (VectorFileRows). A file that is
// read is checked for shape and size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "fuzz_util.hpp"
#include "knnx/vector_io.hpp"

namespace {

template <typename T>
void check(const knnx::Matrix<T>& m) {
  if (m.rows < 0 || m.cols < 0) std::abort();
  if (m.data.size() != static_cast<std::size_t>(m.rows) * static_cast<std::size_t>(m.cols)) {
    std::abort();
  }
}

template <typename Read>
void read_both_ways(Read read) {
  knnx::fuzz::loads([&] { check(read(-1)); });
  knnx::fuzz::loads([&] {
    const auto m = read(2);
    check(m);
    if (m.rows > 2) std::abort();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace knnx;
  static const fuzz::ScratchFile fvecs(".fvecs"), ivecs(".ivecs"), bvecs(".bvecs"), npy(".npy");
  for (const fuzz::ScratchFile* f : {&fvecs, &ivecs, &bvecs, &npy}) f->write(data, size);

  read_both_ways([&](idx_t rows) { return read_fvecs(fvecs.path(), rows); });
  read_both_ways([&](idx_t rows) { return read_ivecs(ivecs.path(), rows); });
  read_both_ways([&](idx_t rows) { return read_bvecs(bvecs.path(), rows); });
  read_both_ways([&](idx_t rows) { return read_vectors(bvecs.path(), rows); });
  read_both_ways([&](idx_t rows) { return read_vectors(npy.path(), rows); });
  fuzz::loads([&] { check(read_labels(ivecs.path())); });
  fuzz::loads([&] { check(read_npy_as_float(npy.path())); });
  fuzz::loads([&] { check(read_npy_as_int64(npy.path())); });
  fuzz::loads([&] {
    const NpyArray a = read_npy(npy.path());
    if (a.shape.empty() || a.shape.size() > 2) std::abort();
    std::size_t item = 0;
    switch (a.dtype) {
      case DType::UInt8:
        item = 1;
        break;
      case DType::Float32:
      case DType::Int32:
        item = 4;
        break;
      case DType::Int64:
      case DType::Float64:
        item = 8;
        break;
    }
    if (a.bytes.size() != static_cast<std::size_t>(a.size()) * item) std::abort();
  });
  // Row ranges: the last row alone, then every row in two reads; a file small enough for the
  // fuzzer holds few rows, so the buffers stay small.
  for (const fuzz::ScratchFile* f : {&fvecs, &bvecs, &npy}) {
    fuzz::loads([&] {
      const VectorFileRows rows(f->path());
      if (rows.rows() < 0 || rows.cols() < 1) std::abort();
      if (rows.rows() == 0) return;
      std::vector<float> out(static_cast<std::size_t>(rows.rows() * rows.cols()));
      rows.read(rows.rows() - 1, 1, out.data());
      const idx_t half = rows.rows() / 2;
      rows.read(0, half, out.data());
      rows.read(half, rows.rows() - half, out.data() + half * rows.cols());
    });
  }
  return 0;
}
