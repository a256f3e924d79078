// .npy files (see knnx/vector_io.hpp): format versions 1.0, 2.0 and 3.0, little-endian, 1-D or
// 2-D, C or Fortran order. The header's shape and dtype are checked against the file's size
// before anything is allocated.
#include "core/npy_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/npy_literal.hpp"
#include "core/vector_file_util.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {
namespace {

using detail::npy::printable;
using detail::npy::PyValue;
using detail::vector_file::allocate;
using detail::vector_file::check_matrix;
using detail::vector_file::checked_mul;
using detail::vector_file::InFile;
using detail::vector_file::kChunkBytes;
using detail::vector_file::throw_format;

// .npy headers are a short Python dict literal; numpy itself refuses more than 10 000 bytes
// by default. Anything near this bound is not a file we could have written or can use.
constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t{1} << 20;
constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr std::size_t kNpyMagicBytes = 6;

std::size_t itemsize(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 4;
    case DType::UInt8:
      return 1;
    case DType::Int32:
      return 4;
    case DType::Int64:
      return 8;
    case DType::Float64:
      return 8;
  }
  throw InvalidArgument(fmt::format("dtype has an unknown value {}", static_cast<int>(dtype)));
}

const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "<f4";
    case DType::UInt8:
      return "|u1";
    case DType::Int32:
      return "<i4";
    case DType::Int64:
      return "<i8";
    case DType::Float64:
      return "<f8";
  }
  throw InvalidArgument(fmt::format("dtype has an unknown value {}", static_cast<int>(dtype)));
}

std::string shape_text(const std::vector<idx_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

struct NpyHeader {
  DType dtype = DType::Float32;
  std::size_t itemsize = 0;
  bool fortran_order = false;
  std::vector<idx_t> shape;
  std::uint64_t data_offset = 0;
  std::uint64_t nbytes = 0;  // payload size implied by shape and dtype

  idx_t rows() const { return shape[0]; }
  idx_t cols() const { return shape.size() == 2 ? shape[1] : 1; }
};

DType parse_descr(const PyValue& v, const std::string& path) {
  if (v.kind == PyValue::Kind::List) {
    throw_format(path, "structured dtypes (descr is a list) are not supported");
  }
  if (v.kind != PyValue::Kind::Str) throw_format(path, "descr in the .npy header is not a string");
  const std::string& d = v.str;
  const std::string shown = printable(d);  // a NUL or control byte must not cut the message
  const char order = d.empty() ? '\0' : d[0];
  const std::string_view code = d.empty() ? std::string_view() : std::string_view(d).substr(1);
  if (!code.empty() && code[0] == 'O') {
    throw_format(path, "object arrays (descr '{}') are not supported", shown);
  }
  if (code == "u1" && (order == '|' || order == '<' || order == '>' || order == '=')) {
    return DType::UInt8;  // byte order means nothing for one-byte values
  }
  if (order == '>' && (code == "f4" || code == "f8" || code == "i4" || code == "i8")) {
    throw_format(path,
                 "big-endian dtype '{}' is not supported; save the array as little-endian "
                 "(e.g. arr.astype('<{}'))",
                 shown, printable(code));
  }
  if (order == '<' || order == '=') {  // '=' is native, which is little-endian here
    if (code == "f4") return DType::Float32;
    if (code == "f8") return DType::Float64;
    if (code == "i4") return DType::Int32;
    if (code == "i8") return DType::Int64;
  }
  throw_format(path, "unsupported dtype '{}'; supported: '<f4', '<f8', '|u1', '<i4', '<i8'", shown);
}

NpyHeader read_npy_header(const InFile& f) {
  const std::string& path = f.path();
  const std::uint64_t size = f.size();
  if (size == 0) throw_format(path, "file is empty");

  std::uint8_t pre[12] = {};
  const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(size, sizeof pre));
  f.read_at(0, pre, have);
  if (std::memcmp(pre, kNpyMagic, std::min(have, kNpyMagicBytes)) != 0) {
    throw_format(path, "not a .npy file: it does not start with the magic \"\\x93NUMPY\"");
  }
  if (have < 8) {
    throw_format(path, "file is truncated: {} byte(s), shorter than the .npy preamble", size);
  }
  const int major = pre[6];
  const int minor = pre[7];
  if (major < 1 || major > 3 || minor != 0) {
    throw_format(path, "unsupported .npy format version {}.{}; supported: 1.0, 2.0, 3.0", major,
                 minor);
  }
  // Version 1.0 stores the header length in 2 bytes; 2.0 and 3.0 (UTF-8 header) in 4.
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (size < prefix) {
    throw_format(path, "file is truncated: {} bytes, shorter than the {}-byte .npy {}.0 preamble",
                 size, prefix, major);
  }
  std::uint64_t header_len = 0;
  for (std::size_t i = prefix; i-- > 8;) header_len = (header_len << 8) | pre[i];
  if (header_len > size - prefix) {
    throw_format(path, "header length {} extends past the end of the file ({} bytes)", header_len,
                 size);
  }
  if (header_len > kMaxNpyHeaderBytes) {
    throw_format(path, "header length {} exceeds the {}-byte limit", header_len,
                 kMaxNpyHeaderBytes);
  }
  std::string text(static_cast<std::size_t>(header_len), '\0');
  f.read_at(prefix, text.data(), text.size());

  const PyValue dict = detail::npy::parse_literal(text, path);
  if (dict.kind != PyValue::Kind::Dict) {
    throw_format(path, ".npy header is not a dictionary (header: \"{}\")", printable(text));
  }
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (std::size_t i = 0; i < dict.keys.size(); ++i) {
    const std::string& key = dict.keys[i];
    if (key == "descr") {
      descr = &dict.items[i];
    } else if (key == "fortran_order") {
      fortran = &dict.items[i];
    } else if (key == "shape") {
      shape = &dict.items[i];
    } else {
      throw_format(path, ".npy header has an unexpected key '{}' (header: \"{}\")", printable(key),
                   printable(text));
    }
  }
  for (auto [value, name] : {std::pair{descr, "descr"}, std::pair{fortran, "fortran_order"},
                             std::pair{shape, "shape"}}) {
    if (value == nullptr) {
      throw_format(path, ".npy header lacks the key '{}' (header: \"{}\")", name, printable(text));
    }
  }

  NpyHeader h;
  h.dtype = parse_descr(*descr, path);
  h.itemsize = itemsize(h.dtype);
  if (fortran->kind != PyValue::Kind::Bool) {
    throw_format(path, "fortran_order in the .npy header is not True or False");
  }
  h.fortran_order = fortran->boolean;
  if (shape->kind != PyValue::Kind::Tuple) {
    throw_format(path, "shape in the .npy header is not a tuple");
  }
  for (const PyValue& s : shape->items) {
    if (s.kind != PyValue::Kind::Int) {
      throw_format(path, "shape in the .npy header holds a value that is not an integer");
    }
    if (s.integer < 0) throw_format(path, "shape has a negative extent {}", s.integer);
    h.shape.push_back(s.integer);
  }
  if (h.shape.empty() || h.shape.size() > 2) {
    throw_format(path, "{}-d arrays are not supported (shape {}); expected 1 or 2 dimensions",
                 h.shape.size(), shape_text(h.shape));
  }
  std::uint64_t elements = 1;
  for (idx_t s : h.shape) {
    if (!checked_mul(elements, static_cast<std::uint64_t>(s),
                     static_cast<std::uint64_t>(std::numeric_limits<idx_t>::max()), &elements)) {
      throw_format(path, "shape {} has more elements than 64-bit sizes can count",
                   shape_text(h.shape));
    }
  }
  if (!checked_mul(elements, h.itemsize,
                   static_cast<std::uint64_t>(std::numeric_limits<idx_t>::max()), &h.nbytes)) {
    throw_format(path, "shape {} of '{}' needs more bytes than 64-bit sizes can count",
                 shape_text(h.shape), npy_descr(h.dtype));
  }
  h.data_offset = prefix + header_len;
  const std::uint64_t payload = size - h.data_offset;
  if (payload != h.nbytes) {
    throw_format(path, "payload is {} bytes but shape {} of '{}' needs {} bytes", payload,
                 shape_text(h.shape), npy_descr(h.dtype), h.nbytes);
  }
  return h;
}

// dst[i * dst_cols + j] = src[j * rows + i] for i < rows, j < cols; elements of Size bytes.
template <std::size_t Size>
void transpose_columns(const std::uint8_t* src, idx_t rows, idx_t cols, std::uint8_t* dst,
                       idx_t dst_cols) {
  constexpr idx_t kTile = 32;
  for (idx_t i0 = 0; i0 < rows; i0 += kTile) {
    const idx_t i1 = std::min(rows, i0 + kTile);
    for (idx_t j0 = 0; j0 < cols; j0 += kTile) {
      const idx_t j1 = std::min(cols, j0 + kTile);
      for (idx_t i = i0; i < i1; ++i) {
        for (idx_t j = j0; j < j1; ++j) {
          std::memcpy(dst + static_cast<std::size_t>(i * dst_cols + j) * Size,
                      src + static_cast<std::size_t>(j * rows + i) * Size, Size);
        }
      }
    }
  }
}

// Copies rows [first, first + rows) of the array, in C order, to dst (rows * cols * itemsize
// bytes).
void read_npy_rows(const InFile& f, const NpyHeader& h, idx_t first, idx_t rows,
                   std::uint8_t* dst) {
  const idx_t cols = h.cols();
  const std::size_t isz = h.itemsize;
  if (rows == 0 || cols == 0) return;
  // A Fortran-order array with one row or one column is laid out as in C order.
  if (!h.fortran_order || h.shape.size() == 1 || h.rows() == 1 || cols == 1) {
    f.read_at(h.data_offset + static_cast<std::uint64_t>(first * cols) * isz, dst,
              static_cast<std::size_t>(rows * cols) * isz);
    return;
  }
  // Fortran order: read blocks of columns (their values of the wanted rows) and transpose them.
  const std::uint64_t col_bytes = static_cast<std::uint64_t>(rows) * isz;
  const idx_t block = static_cast<idx_t>(std::min<std::uint64_t>(
      static_cast<std::uint64_t>(cols), std::max<std::uint64_t>(1, kChunkBytes / col_bytes)));
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(block * col_bytes));
  const std::uint64_t stored_col_bytes = static_cast<std::uint64_t>(h.rows()) * isz;
  const std::uint64_t skip = static_cast<std::uint64_t>(first) * isz;
  for (idx_t j0 = 0; j0 < cols; j0 += block) {
    const idx_t nb = std::min(block, cols - j0);
    if (rows == h.rows()) {
      f.read_at(h.data_offset + static_cast<std::uint64_t>(j0) * stored_col_bytes, buf.data(),
                static_cast<std::size_t>(nb * col_bytes));
    } else {
      for (idx_t j = 0; j < nb; ++j) {
        f.read_at(h.data_offset + static_cast<std::uint64_t>(j0 + j) * stored_col_bytes + skip,
                  buf.data() + j * col_bytes, static_cast<std::size_t>(col_bytes));
      }
    }
    std::uint8_t* out = dst + static_cast<std::size_t>(j0) * isz;
    switch (isz) {
      case 1:
        transpose_columns<1>(buf.data(), rows, nb, out, cols);
        break;
      case 4:
        transpose_columns<4>(buf.data(), rows, nb, out, cols);
        break;
      case 8:
        transpose_columns<8>(buf.data(), rows, nb, out, cols);
        break;
      default:
        throw FormatError(fmt::format("'{}': unexpected item size {}", f.path(), isz));
    }
  }
}

std::vector<std::uint8_t> npy_header_bytes(DType dtype, const std::vector<idx_t>& shape) {
  const std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                       npy_descr(dtype), shape_text(shape));
  // As numpy does: pad with spaces and end with '\n' so the data starts 64-byte aligned; use
  // version 2.0 only when the header does not fit version 1.0's 16-bit length.
  for (int major : {1, 2}) {
    const std::size_t prefix = major == 1 ? 10 : 12;
    const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
    const std::size_t header_len = total - prefix;
    if (major == 1 && header_len > 0xffff) continue;
    std::vector<std::uint8_t> out(total, ' ');
    std::memcpy(out.data(), kNpyMagic, kNpyMagicBytes);
    out[6] = static_cast<std::uint8_t>(major);
    out[7] = 0;
    for (std::size_t i = 8; i < prefix; ++i) {
      out[i] = static_cast<std::uint8_t>(header_len >> (8 * (i - 8)));
    }
    std::memcpy(out.data() + prefix, dict.data(), dict.size());
    out[total - 1] = '\n';
    return out;
  }
  throw InvalidArgument("write_npy: header too long");  // unreachable: 2.0 takes 32-bit lengths
}

void write_npy_payload(const std::string& path, DType dtype, const std::vector<idx_t>& shape,
                       const void* data, std::size_t nbytes) {
  const std::vector<std::uint8_t> header = npy_header_bytes(dtype, shape);
  detail::AtomicFileWriter out(path);
  out.write(header.data(), header.size());
  out.write(data, nbytes);
  out.commit();
}

template <typename T>
constexpr DType kDTypeOf = DType::Float32;
template <>
constexpr DType kDTypeOf<std::uint8_t> = DType::UInt8;
template <>
constexpr DType kDTypeOf<std::int32_t> = DType::Int32;
template <>
constexpr DType kDTypeOf<std::int64_t> = DType::Int64;

template <typename T>
void write_npy_matrix(const std::string& path, const Matrix<T>& m) {
  check_matrix(m, "write_npy");
  write_npy_payload(path, kDTypeOf<T>, {m.rows, m.cols}, m.data.data(), m.data.size() * sizeof(T));
}

// Whether a stored value converts to Dst without change; float64 to float32 only has to land
// on a finite float32 (it is rounded to the nearest one).
template <typename Dst, typename Src>
bool representable(Src v) {
  if constexpr (std::is_same_v<Dst, float>) {
    if constexpr (std::is_same_v<Src, double>) {
      // Values below 2^128 - 2^103 (FLT_MAX plus half an ulp) round to a finite float32;
      // the comparison is also false for NaN and Inf.
      constexpr double kFiniteLimit = 0x1p128 - 0x1p103;
      return std::fabs(v) < kFiniteLimit;
    } else if constexpr (std::is_integral_v<Src> && sizeof(Src) >= 4) {
      constexpr Src kExact = Src{1} << 24;  // float32 holds every integer up to 2^24
      return v >= -kExact && v <= kExact;
    } else {
      return true;
    }
  } else if constexpr (std::is_floating_point_v<Src>) {
    return std::isfinite(v) && v == std::trunc(v) && v >= -0x1p63f && v < 0x1p63f;
  } else {
    return true;
  }
}

template <typename Src, typename Dst>
void convert_values(const std::uint8_t* src, std::size_t count, idx_t cols, idx_t first_row,
                    Dst* dst, const std::string& path, DType src_dtype) {
  for (std::size_t i = 0; i < count; ++i) {
    Src v;
    std::memcpy(&v, src + i * sizeof(Src), sizeof(Src));
    if (!representable<Dst>(v)) {
      const idx_t c = cols > 0 ? cols : 1;
      if constexpr (std::is_same_v<Src, double> && std::is_same_v<Dst, float>) {
        throw_format(path, "element [{}, {}] = {} ({}) is not a finite {} value",
                     first_row + static_cast<idx_t>(i) / c, static_cast<idx_t>(i) % c, v,
                     to_string(src_dtype), to_string(kDTypeOf<Dst>));
      } else {
        throw_format(path, "element [{}, {}] = {} ({}) cannot be represented exactly as {}",
                     first_row + static_cast<idx_t>(i) / c, static_cast<idx_t>(i) % c, v,
                     to_string(src_dtype), to_string(kDTypeOf<Dst>));
      }
    }
    dst[i] = static_cast<Dst>(v);
  }
}

template <typename Dst>
void convert_from(DType src_dtype, const std::uint8_t* src, std::size_t count, idx_t cols,
                  idx_t first_row, Dst* dst, const std::string& path) {
  switch (src_dtype) {
    case DType::Float32:
      return convert_values<float>(src, count, cols, first_row, dst, path, src_dtype);
    case DType::UInt8:
      return convert_values<std::uint8_t>(src, count, cols, first_row, dst, path, src_dtype);
    case DType::Int32:
      return convert_values<std::int32_t>(src, count, cols, first_row, dst, path, src_dtype);
    case DType::Int64:
      return convert_values<std::int64_t>(src, count, cols, first_row, dst, path, src_dtype);
    case DType::Float64:
      return convert_values<double>(src, count, cols, first_row, dst, path, src_dtype);
  }
}

// Reads up to max_rows rows (all when negative) as T; 1-D arrays become n x 1.
template <typename T>
Matrix<T> read_npy_as(const std::string& path, idx_t max_rows) {
  InFile f(path);
  const NpyHeader h = read_npy_header(f);
  const idx_t rows = max_rows < 0 ? h.rows() : std::min(h.rows(), max_rows);
  Matrix<T> m;
  m.rows = rows;
  m.cols = h.cols();
  const auto count = static_cast<std::size_t>(rows * m.cols);  // <= the checked element count
  if (h.dtype == kDTypeOf<T>) {
    m.data = allocate<T>(count, path);
    read_npy_rows(f, h, 0, rows, reinterpret_cast<std::uint8_t*>(m.data.data()));
  } else {
    std::vector<std::uint8_t> raw = allocate<std::uint8_t>(count * h.itemsize, path);
    read_npy_rows(f, h, 0, rows, raw.data());
    m.data = allocate<T>(count, path);
    convert_from(h.dtype, raw.data(), count, m.cols, 0, m.data.data(), path);
  }
  return m;
}

// An .npy file read in row ranges as float32 (converted as read_npy_as_float converts).
class NpyRows final : public detail::vector_file::RowSource {
 public:
  explicit NpyRows(const std::string& path) : f_(path), h_(read_npy_header(f_)) {}
  idx_t rows() const override { return h_.rows(); }
  idx_t cols() const override { return h_.cols(); }
  void read(idx_t first, idx_t n, float* out) const override {
    if (h_.dtype == DType::Float32) {
      read_npy_rows(f_, h_, first, n, reinterpret_cast<std::uint8_t*>(out));
      return;
    }
    // Other types pass through a scratch buffer of about kChunkBytes.
    const idx_t per_chunk = std::max<idx_t>(
        1, static_cast<idx_t>(kChunkBytes / (h_.itemsize * static_cast<std::size_t>(cols()))));
    std::vector<std::uint8_t> raw(static_cast<std::size_t>(std::min(n, per_chunk) * cols()) *
                                  h_.itemsize);
    for (idx_t i = 0; i < n; i += per_chunk) {
      const idx_t m = std::min(per_chunk, n - i);
      read_npy_rows(f_, h_, first + i, m, raw.data());
      convert_from(h_.dtype, raw.data(), static_cast<std::size_t>(m * cols()), cols(), first + i,
                   out + i * cols(), f_.path());
    }
  }

 private:
  InFile f_;
  NpyHeader h_;
};

}  // namespace

namespace detail::npy {

std::unique_ptr<vector_file::RowSource> open_rows(const std::string& path) {
  return std::make_unique<NpyRows>(path);
}

Matrix<float> read_rows_as_float(const std::string& path, idx_t max_rows) {
  return read_npy_as<float>(path, max_rows);
}

Matrix<std::int64_t> read_rows_as_int64(const std::string& path, idx_t max_rows) {
  return read_npy_as<std::int64_t>(path, max_rows);
}

}  // namespace detail::npy

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "float32";
    case DType::UInt8:
      return "uint8";
    case DType::Int32:
      return "int32";
    case DType::Int64:
      return "int64";
    case DType::Float64:
      return "float64";
  }
  return fmt::format("DType({})", static_cast<int>(dtype));
}

idx_t NpyArray::size() const {
  if (shape.empty()) return 0;  // no shape: no array, nothing stored
  std::uint64_t n = 1;
  for (idx_t s : shape) {
    if (s < 0 || !checked_mul(n, static_cast<std::uint64_t>(s),
                              static_cast<std::uint64_t>(std::numeric_limits<idx_t>::max()), &n)) {
      throw InvalidArgument(
          fmt::format("NpyArray shape {} is negative or overflows", fmt::join(shape, " x ")));
    }
  }
  return static_cast<idx_t>(n);
}

NpyArray read_npy(const std::string& path) {
  InFile f(path);
  const NpyHeader h = read_npy_header(f);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  a.bytes = allocate<std::uint8_t>(static_cast<std::size_t>(h.nbytes), path);
  read_npy_rows(f, h, 0, h.rows(), a.bytes.data());
  return a;
}

void write_npy(const std::string& path, const NpyArray& array) {
  if (array.shape.empty() || array.shape.size() > 2) {
    throw InvalidArgument(
        fmt::format("write_npy: array.shape must have 1 or 2 entries, got {}", array.shape.size()));
  }
  const std::size_t isz = itemsize(array.dtype);
  const idx_t n = array.size();
  std::uint64_t nbytes = 0;
  if (!checked_mul(static_cast<std::uint64_t>(n), isz,
                   static_cast<std::uint64_t>(std::numeric_limits<idx_t>::max()), &nbytes) ||
      nbytes != array.bytes.size()) {
    throw InvalidArgument(
        fmt::format("write_npy: array.bytes holds {} bytes but shape {} of {} needs {} x {} bytes",
                    array.bytes.size(), shape_text(array.shape), to_string(array.dtype), n, isz));
  }
  write_npy_payload(path, array.dtype, array.shape, array.bytes.data(), array.bytes.size());
}

void write_npy(const std::string& path, const Matrix<float>& m) { write_npy_matrix(path, m); }
void write_npy(const std::string& path, const Matrix<std::int32_t>& m) {
  write_npy_matrix(path, m);
}
void write_npy(const std::string& path, const Matrix<std::int64_t>& m) {
  write_npy_matrix(path, m);
}
void write_npy(const std::string& path, const Matrix<std::uint8_t>& m) {
  write_npy_matrix(path, m);
}

Matrix<float> read_npy_as_float(const std::string& path) { return read_npy_as<float>(path, -1); }
Matrix<std::int64_t> read_npy_as_int64(const std::string& path) {
  return read_npy_as<std::int64_t>(path, -1);
}

}  // namespace knnx
