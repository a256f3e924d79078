// .fvecs / .ivecs / .bvecs files (see knnx/vector_io.hpp): each record is an int32 dimension and
// that many values. Every record's dimension is checked against the file's size and the first
// record before anything is allocated.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/vector_file_util.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {
namespace {

using detail::vector_file::allocate;
using detail::vector_file::check_matrix;
using detail::vector_file::checked_mul;
using detail::vector_file::InFile;
using detail::vector_file::kChunkBytes;
using detail::vector_file::throw_format;

// From this record size on, checking record headers reads 4 bytes per record instead of whole
// chunks (reading the payload just to skip it would dominate).
constexpr std::uint64_t kSparseHeaderRecordBytes = 64 * 1024;

[[noreturn]] void throw_record_dim(const std::string& path, std::uint64_t record, std::int32_t dim,
                                   std::int32_t expected) {
  throw_format(path, "record {} has dimension {}, expected {}", record, dim, expected);
}

// Throws FormatError naming the first record in [first, first + count) whose dimension is not
// dim. Records are rec bytes apart, so the walk stops being meaningful after a mismatch.
void check_record_dims(const InFile& f, std::uint64_t first, std::uint64_t count, std::uint64_t rec,
                       std::int32_t dim) {
  if (count == 0) return;
  if (rec >= kSparseHeaderRecordBytes) {
    for (std::uint64_t i = first; i < first + count; ++i) {
      std::int32_t h = 0;
      f.read_at(i * rec, &h, sizeof h);
      if (h != dim) throw_record_dim(f.path(), i, h, dim);
    }
    return;
  }
  const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kChunkBytes / rec);
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(count, per_chunk) * rec));
  for (std::uint64_t i = first; i < first + count; i += per_chunk) {
    const std::uint64_t m = std::min(per_chunk, first + count - i);
    f.read_at(i * rec, buf.data(), static_cast<std::size_t>(m * rec));
    for (std::uint64_t j = 0; j < m; ++j) {
      std::int32_t h = 0;
      std::memcpy(&h, buf.data() + j * rec, sizeof h);
      if (h != dim) throw_record_dim(f.path(), i + j, h, dim);
    }
  }
}

// The file size is not a whole number of records: find the first record that explains why.
[[noreturn]] void explain_bad_vecs_size(const InFile& f, std::int32_t dim, std::uint64_t rec) {
  const std::uint64_t size = f.size();
  const std::uint64_t full = size / rec;
  check_record_dims(f, 0, full, rec, dim);
  const std::uint64_t tail = size - full * rec;
  if (tail >= sizeof(std::int32_t)) {
    std::int32_t h = 0;
    f.read_at(full * rec, &h, sizeof h);
    if (h != dim) throw_record_dim(f.path(), full, h, dim);
    throw_format(f.path(),
                 "file is truncated: record {} has {} of its {} bytes (file size {} is not a "
                 "multiple of the record size {} for dimension {})",
                 full, tail, rec, size, rec, dim);
  }
  throw_format(f.path(),
               "file is truncated: {} stray byte(s) follow record {} (file size {} is not a "
               "multiple of the record size {} for dimension {})",
               tail, full - 1, size, rec, dim);
}

template <typename T>
Matrix<T> read_vecs(const std::string& path, idx_t max_rows) {
  InFile f(path);
  const std::uint64_t size = f.size();
  if (size == 0) throw_format(path, "file is empty");
  if (size < sizeof(std::int32_t)) {
    throw_format(path,
                 "file is truncated: {} byte(s), shorter than the 4-byte dimension of "
                 "record 0",
                 size);
  }
  std::int32_t dim = 0;
  f.read_at(0, &dim, sizeof dim);
  if (dim < 1 || dim > kMaxDim) {
    throw_format(path, "record 0 has dimension {}, expected a value in [1, {}]", dim, kMaxDim);
  }
  const std::uint64_t payload = static_cast<std::uint64_t>(dim) * sizeof(T);
  const std::uint64_t rec = sizeof(std::int32_t) + payload;
  if (size % rec != 0) explain_bad_vecs_size(f, dim, rec);
  const std::uint64_t n = size / rec;
  const std::uint64_t rows =
      max_rows < 0 ? n : std::min<std::uint64_t>(n, static_cast<std::uint64_t>(max_rows));

  // Every record that will be returned must have the same dimension before anything is
  // allocated for the result.
  check_record_dims(f, 0, rows, rec, dim);

  Matrix<T> m;
  m.rows = static_cast<idx_t>(rows);
  m.cols = dim;
  m.data = allocate<T>(static_cast<std::size_t>(rows * static_cast<std::uint64_t>(dim)), path);

  // Second pass copies the payloads; headers are checked again in case the file changed.
  const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kChunkBytes / rec);
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(rows, per_chunk) * rec));
  auto* out = reinterpret_cast<std::uint8_t*>(m.data.data());
  for (std::uint64_t i = 0; i < rows; i += per_chunk) {
    const std::uint64_t c = std::min(per_chunk, rows - i);
    f.read_at(i * rec, buf.data(), static_cast<std::size_t>(c * rec));
    for (std::uint64_t j = 0; j < c; ++j) {
      const std::uint8_t* record = buf.data() + j * rec;
      std::int32_t h = 0;
      std::memcpy(&h, record, sizeof h);
      if (h != dim) throw_record_dim(path, i + j, h, dim);
      std::memcpy(out + (i + j) * payload, record + sizeof h, static_cast<std::size_t>(payload));
    }
  }
  return m;
}

template <typename T>
void write_vecs(const std::string& path, const Matrix<T>& m, const char* fn) {
  check_matrix(m, fn);
  if (m.cols < 1 || m.cols > kMaxDim) {
    throw InvalidArgument(
        fmt::format("{}: m.cols must be in [1, {}], got {}", fn, kMaxDim, m.cols));
  }
  // A file of no records cannot carry the dimension, and readers reject empty files.
  if (m.rows < 1) {
    throw InvalidArgument(fmt::format("{}: m.rows must be >= 1, got {}", fn, m.rows));
  }
  detail::AtomicFileWriter out(path);
  const auto dim = static_cast<std::int32_t>(m.cols);
  for (idx_t i = 0; i < m.rows; ++i) {
    out.write(&dim, sizeof dim);
    out.write(m.row(i), static_cast<std::size_t>(m.cols) * sizeof(T));
  }
  out.commit();
}

}  // namespace

Matrix<float> read_fvecs(const std::string& path, idx_t max_rows) {
  return read_vecs<float>(path, max_rows);
}
Matrix<std::int32_t> read_ivecs(const std::string& path, idx_t max_rows) {
  return read_vecs<std::int32_t>(path, max_rows);
}
Matrix<std::uint8_t> read_bvecs(const std::string& path, idx_t max_rows) {
  return read_vecs<std::uint8_t>(path, max_rows);
}

void write_fvecs(const std::string& path, const Matrix<float>& m) {
  write_vecs(path, m, "write_fvecs");
}
void write_ivecs(const std::string& path, const Matrix<std::int32_t>& m) {
  write_vecs(path, m, "write_ivecs");
}
void write_bvecs(const std::string& path, const Matrix<std::uint8_t>& m) {
  write_vecs(path, m, "write_bvecs");
}

}  // namespace knnx
