// knnx/vector_io.hpp — reading and writing vector files: .fvecs, .ivecs, .bvecs and .npy.
//
// Readers validate the whole file against its headers before allocating: a truncated file,
// a record whose dimension differs from the first, a dimension outside 1..kMaxDim, or a size
// that does not match the file raises FormatError naming the file and what is wrong.
// A file that cannot be opened raises IoError. Writers write a temporary file and rename it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "knnx/types.hpp"

namespace knnx {

// A dense row-major matrix read from or written to a file.
template <typename T>
struct Matrix {
  idx_t rows = 0;
  idx_t cols = 0;
  std::vector<T> data;  // rows * cols values

  const T* row(idx_t i) const { return data.data() + i * cols; }
  T* row(idx_t i) { return data.data() + i * cols; }
};

// .fvecs / .ivecs / .bvecs: each record is an int32 dimension followed by that many values
// (float32 / int32 / uint8). max_rows < 0 reads all records; otherwise at most max_rows.
Matrix<float> read_fvecs(const std::string& path, idx_t max_rows = -1);
Matrix<std::int32_t> read_ivecs(const std::string& path, idx_t max_rows = -1);
Matrix<std::uint8_t> read_bvecs(const std::string& path, idx_t max_rows = -1);

void write_fvecs(const std::string& path, const Matrix<float>& m);
void write_ivecs(const std::string& path, const Matrix<std::int32_t>& m);
void write_bvecs(const std::string& path, const Matrix<std::uint8_t>& m);

// .npy (format versions 1.0, 2.0 and 3.0), little-endian, 1-D or 2-D.
enum class DType { Float32, UInt8, Int32, Int64, Float64 };
std::string to_string(DType dtype);

struct NpyArray {
  DType dtype = DType::Float32;
  std::vector<idx_t> shape;        // 1 or 2 entries
  std::vector<std::uint8_t> bytes;  // C-order payload (Fortran-order files are transposed)

  idx_t size() const;  // number of elements
};

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const NpyArray& array);

// Typed .npy helpers: write a 2-D C-order array; read one, converting any supported dtype to T
// (FormatError naming the element if a value cannot be represented: an integer beyond 2^24 or a
// float64 that is not a finite float32 for read_npy_as_float, a fraction or an out-of-range
// value for read_npy_as_int64). float64 values are rounded to the nearest float32.
void write_npy(const std::string& path, const Matrix<float>& m);
void write_npy(const std::string& path, const Matrix<std::int32_t>& m);
void write_npy(const std::string& path, const Matrix<std::int64_t>& m);
void write_npy(const std::string& path, const Matrix<std::uint8_t>& m);
Matrix<float> read_npy_as_float(const std::string& path);
Matrix<std::int64_t> read_npy_as_int64(const std::string& path);

// Any vector file by its extension (.fvecs, .bvecs, .npy), as float32 rows.
Matrix<float> read_vectors(const std::string& path, idx_t max_rows = -1);
// Any id/label file by its extension (.ivecs, .npy), as int64 rows.
Matrix<std::int64_t> read_labels(const std::string& path);

namespace detail::vector_file {
class RowSource;
}

// A vector file (.fvecs, .bvecs, .npy, by extension) read in row ranges, for data larger than
// memory: opening checks the header against the file's size as read_vectors does (FormatError,
// IoError; FormatError too for vectors of dimension 0 or above kMaxDim), and nothing of the
// file's size is allocated; read() converts to float32 as
// read_vectors converts. A record whose dimension differs from the first (.fvecs, .bvecs) is
// found when its range is read. Reads of one object are not synchronised: give each thread its
// own.
class VectorFileRows {
 public:
  explicit VectorFileRows(const std::string& path);
  ~VectorFileRows();
  VectorFileRows(VectorFileRows&&) noexcept;
  VectorFileRows& operator=(VectorFileRows&&) noexcept;

  const std::string& path() const { return path_; }
  idx_t rows() const;
  idx_t cols() const;
  // Rows [first, first + n) into out (n * cols() floats). InvalidArgument for a range outside
  // [0, rows()), FormatError for a bad record or value in it.
  void read(idx_t first, idx_t n, float* out) const;

 private:
  std::string path_;
  std::unique_ptr<detail::vector_file::RowSource> source_;
};

}  // namespace knnx
