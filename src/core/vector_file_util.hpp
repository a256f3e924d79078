// core/vector_file_util.hpp — what the vector-file readers and writers share (knnx/vector_io.hpp):
// the chunk size that bounds their scratch memory, FormatError naming the file, allocation that
// fails as OutOfMemory, and overflow-checked products for sizes read from headers.
#pragma once

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/binary_file.hpp"
#include "knnx/error.hpp"
#include "knnx/vector_io.hpp"

namespace knnx::detail::vector_file {

static_assert(std::endian::native == std::endian::little,
              "vector files are little-endian; a big-endian host would need byte swapping");

// Reads and writes move data in pieces of about this size, bounding scratch memory.
inline constexpr std::size_t kChunkBytes = std::size_t{4} << 20;

template <typename... Args>
[[noreturn]] inline void throw_format(const std::string& path, fmt::format_string<Args...> format,
                                      Args&&... args) {
  throw FormatError(
      fmt::format("'{}': {}", path, fmt::format(format, std::forward<Args>(args)...)));
}

template <typename T>
std::vector<T> allocate(std::size_t count, const std::string& path) {
  try {
    return std::vector<T>(count);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("reading '{}': cannot allocate {} bytes", path,
                                  static_cast<std::uint64_t>(count) * sizeof(T)));
  } catch (const std::length_error&) {
    throw OutOfMemory(fmt::format("reading '{}': cannot allocate {} elements", path, count));
  }
}

// Stores a * b in *out and returns true, or returns false when the product exceeds limit.
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t limit, std::uint64_t* out) {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

// Throws InvalidArgument unless m.data holds exactly m.rows * m.cols values.
template <typename T>
inline void check_matrix(const Matrix<T>& m, const char* fn) {
  if (m.rows < 0 || m.cols < 0) {
    throw InvalidArgument(
        fmt::format("{}: matrix shape must be non-negative, got {} x {}", fn, m.rows, m.cols));
  }
  std::uint64_t count = 0;
  if (!checked_mul(static_cast<std::uint64_t>(m.rows), static_cast<std::uint64_t>(m.cols),
                   std::numeric_limits<idx_t>::max() / sizeof(T), &count) ||
      count != m.data.size()) {
    throw InvalidArgument(fmt::format("{}: matrix is {} x {} but holds {} values", fn, m.rows,
                                      m.cols, m.data.size()));
  }
}

// A vector file opened and checked against its header, read in row ranges as float32 (the
// implementation behind knnx::VectorFileRows, one per format).
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual idx_t rows() const = 0;
  virtual idx_t cols() const = 0;
  // Rows [first, first + n) into out (n * cols() floats); the caller checked the range.
  virtual void read(idx_t first, idx_t n, float* out) const = 0;
};

// .fvecs and .bvecs files as row sources (vecs_file.cpp).
std::unique_ptr<RowSource> open_fvecs_rows(const std::string& path);
std::unique_ptr<RowSource> open_bvecs_rows(const std::string& path);

// Files are opened with InputFile (regular files only, sizes taken once) and written with
// AtomicFileWriter (a temporary file renamed over the target), both from core/binary_file.hpp.
using InFile = InputFile;

}  // namespace knnx::detail::vector_file
