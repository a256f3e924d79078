// .fvecs / .ivecs / .bvecs files (see knnx/vector_io.hpp): each record is an int32 dimension and
// that many values. Every record's dimension is checked against the file's size and the first
// record before anything is allocated.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
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

// A .fvecs / .ivecs / .bvecs file opened and checked against its first record: its dimension
// is in range and the size is a whole number of records (else FormatError naming the first
// record that explains it). Records are read in ranges; each record's dimension is checked as
// it is read.
template <typename T>
class VecsFile {
 public:
  explicit VecsFile(const std::string& path) : f_(path) {
    const std::uint64_t size = f_.size();
    if (size == 0) throw_format(path, "file is empty");
    if (size < sizeof(std::int32_t)) {
      throw_format(path,
                   "file is truncated: {} byte(s), shorter than the 4-byte dimension of "
                   "record 0",
                   size);
    }
    f_.read_at(0, &dim_, sizeof dim_);
    if (dim_ < 1 || dim_ > kMaxDim) {
      throw_format(path, "record 0 has dimension {}, expected a value in [1, {}]", dim_, kMaxDim);
    }
    payload_ = static_cast<std::uint64_t>(dim_) * sizeof(T);
    rec_ = sizeof(std::int32_t) + payload_;
    if (size % rec_ != 0) explain_bad_vecs_size(f_, dim_, rec_);
    rows_ = size / rec_;
  }

  const InFile& file() const { return f_; }
  std::uint64_t rows() const { return rows_; }
  std::int32_t dim() const { return dim_; }
  std::uint64_t record_bytes() const { return rec_; }

  // The values of records [first, first + count) into out (count * dim values).
  void read(std::uint64_t first, std::uint64_t count, T* out) const {
    const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kChunkBytes / rec_);
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(count, per_chunk) * rec_));
    auto* dst = reinterpret_cast<std::uint8_t*>(out);
    for (std::uint64_t i = 0; i < count; i += per_chunk) {
      const std::uint64_t c = std::min(per_chunk, count - i);
      f_.read_at((first + i) * rec_, buf.data(), static_cast<std::size_t>(c * rec_));
      for (std::uint64_t j = 0; j < c; ++j) {
        const std::uint8_t* record = buf.data() + j * rec_;
        std::int32_t h = 0;
        std::memcpy(&h, record, sizeof h);
        if (h != dim_) throw_record_dim(f_.path(), first + i + j, h, dim_);
        std::memcpy(dst + (i + j) * payload_, record + sizeof h,
                    static_cast<std::size_t>(payload_));
      }
    }
  }

 private:
  InFile f_;
  std::int32_t dim_ = 0;
  std::uint64_t payload_ = 0;
  std::uint64_t rec_ = 0;
  std::uint64_t rows_ = 0;
};

template <typename T>
Matrix<T> read_vecs(const std::string& path, idx_t max_rows) {
  const VecsFile<T> v(path);
  const std::uint64_t rows =
      max_rows < 0 ? v.rows() : std::min<std::uint64_t>(v.rows(), static_cast<std::uint64_t>(max_rows));
  // Every record that will be returned must have the same dimension before anything is
  // allocated for the result.
  check_record_dims(v.file(), 0, rows, v.record_bytes(), v.dim());

  Matrix<T> m;
  m.rows = static_cast<idx_t>(rows);
  m.cols = v.dim();
  m.data = allocate<T>(static_cast<std::size_t>(rows * static_cast<std::uint64_t>(v.dim())), path);
  v.read(0, rows, m.data.data());  // headers are checked again in case the file changed
  return m;
}

// A .fvecs (T = float) or .bvecs (T = uint8_t, widened) file read in row ranges as float32.
template <typename T>
class VecsRows final : public detail::vector_file::RowSource {
 public:
  explicit VecsRows(const std::string& path) : v_(path) {}
  idx_t rows() const override { return static_cast<idx_t>(v_.rows()); }
  idx_t cols() const override { return v_.dim(); }
  void read(idx_t first, idx_t n, float* out) const override {
    if constexpr (std::is_same_v<T, float>) {
      v_.read(static_cast<std::uint64_t>(first), static_cast<std::uint64_t>(n), out);
    } else {
      const idx_t per_chunk =
          std::max<idx_t>(1, static_cast<idx_t>(kChunkBytes / v_.record_bytes()));
      std::vector<T> raw(static_cast<std::size_t>(std::min(n, per_chunk) * cols()));
      for (idx_t i = 0; i < n; i += per_chunk) {
        const idx_t m = std::min(per_chunk, n - i);
        v_.read(static_cast<std::uint64_t>(first + i), static_cast<std::uint64_t>(m), raw.data());
        std::copy_n(raw.data(), m * cols(), out + i * cols());
      }
    }
  }

 private:
  VecsFile<T> v_;
};

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

namespace detail::vector_file {

std::unique_ptr<RowSource> open_fvecs_rows(const std::string& path) {
  return std::make_unique<VecsRows<float>>(path);
}
std::unique_ptr<RowSource> open_bvecs_rows(const std::string& path) {
  return std::make_unique<VecsRows<std::uint8_t>>(path);
}

}  // namespace detail::vector_file

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
