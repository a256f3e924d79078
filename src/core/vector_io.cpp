// Vector files by extension (see knnx/vector_io.hpp): read_vectors and read_labels dispatch to
// the format readers (.fvecs/.ivecs/.bvecs in vecs_file.cpp, .npy in npy_file.cpp).
#include "knnx/vector_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "core/check.hpp"
#include "core/npy_file.hpp"
#include "core/vector_file_util.hpp"
#include "knnx/error.hpp"

namespace knnx {
namespace {

using detail::vector_file::allocate;

template <typename Dst, typename Src>
Matrix<Dst> widen(Matrix<Src>&& src, const std::string& path) {
  Matrix<Dst> m;
  m.rows = src.rows;
  m.cols = src.cols;
  m.data = allocate<Dst>(src.data.size(), path);
  std::copy(src.data.begin(), src.data.end(), m.data.begin());
  return m;
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace

Matrix<float> read_vectors(const std::string& path, idx_t max_rows) {
  const std::string ext = lower_extension(path);
  if (ext == ".fvecs") return read_fvecs(path, max_rows);
  if (ext == ".bvecs") return widen<float>(read_bvecs(path, max_rows), path);
  if (ext == ".npy") return detail::npy::read_rows_as_float(path, max_rows);
  throw InvalidArgument(fmt::format(
      "read_vectors: path '{}' has extension '{}'; expected .fvecs, .bvecs or .npy", path, ext));
}

Matrix<std::int64_t> read_labels(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".ivecs") return widen<std::int64_t>(read_ivecs(path), path);
  if (ext == ".npy") return detail::npy::read_rows_as_int64(path, -1);
  throw InvalidArgument(
      fmt::format("read_labels: path '{}' has extension '{}'; expected .ivecs or .npy", path, ext));
}

VectorFileRows::VectorFileRows(const std::string& path) : path_(path) {
  const std::string ext = lower_extension(path);
  if (ext == ".fvecs") {
    source_ = detail::vector_file::open_fvecs_rows(path);
  } else if (ext == ".bvecs") {
    source_ = detail::vector_file::open_bvecs_rows(path);
  } else if (ext == ".npy") {
    source_ = detail::npy::open_rows(path);
  } else {
    throw InvalidArgument(
        fmt::format("VectorFileRows: path '{}' has extension '{}'; expected .fvecs, .bvecs or .npy",
                    path, ext));
  }
  if (source_->cols() < 1 || source_->cols() > kMaxDim) {
    throw FormatError(fmt::format("'{}': its vectors have dimension {}, expected [1, {}]", path,
                                  source_->cols(), kMaxDim));
  }
}

VectorFileRows::~VectorFileRows() = default;
VectorFileRows::VectorFileRows(VectorFileRows&&) noexcept = default;
VectorFileRows& VectorFileRows::operator=(VectorFileRows&&) noexcept = default;

idx_t VectorFileRows::rows() const { return source_->rows(); }
idx_t VectorFileRows::cols() const { return source_->cols(); }

void VectorFileRows::read(idx_t first, idx_t n, float* out) const {
  if (first < 0 || n < 0 || first > rows() || n > rows() - first) {
    throw InvalidArgument(
        fmt::format("VectorFileRows::read: rows [{}, {} + {}) of '{}' are "
                    "outside its {} rows",
                    first, first, n, path_, rows()));
  }
  if (n == 0) return;
  detail::check_not_null(out, "out");
  source_->read(first, n, out);
}

}  // namespace knnx
