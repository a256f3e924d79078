// Readers and writers for .fvecs / .ivecs / .bvecs and .npy files (see knnx/vector_io.hpp).
//
// Every size that decides an allocation is checked against the file's real size first, so a
// corrupt or hostile header can make a reader fail but never make it allocate or read garbage.
// Files are read at offsets through detail::InputFile and written through
// detail::AtomicFileWriter (core/binary_file.hpp): write + fsync + rename for atomic replacement.
#include "knnx/vector_io.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/binary_file.hpp"
#include "knnx/error.hpp"

namespace knnx {
namespace {

static_assert(std::endian::native == std::endian::little,
              "vector files are little-endian; a big-endian host would need byte swapping");

// Reads and writes move data in pieces of about this size, bounding scratch memory.
constexpr std::size_t kChunkBytes = std::size_t{4} << 20;
// From this record size on, checking record headers reads 4 bytes per record instead of whole
// chunks (reading the payload just to skip it would dominate).
constexpr std::uint64_t kSparseHeaderRecordBytes = 64 * 1024;
// .npy headers are a short Python dict literal; numpy itself refuses more than 10 000 bytes
// by default. Anything near this bound is not a file we could have written or can use.
constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t{1} << 20;
constexpr int kMaxLiteralDepth = 32;
constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr std::size_t kNpyMagicBytes = 6;

template <typename... Args>
[[noreturn]] void throw_format(const std::string& path, fmt::format_string<Args...> format,
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
bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t limit, std::uint64_t* out) {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

// ------------------------------------------------------------------------------------------
// Files

// Files are opened with InputFile (regular files only, sizes taken once) and written with
// AtomicFileWriter (a temporary file renamed over the target), both from core/binary_file.hpp.
using InFile = detail::InputFile;

// ------------------------------------------------------------------------------------------
// .fvecs / .ivecs / .bvecs

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

// Throws InvalidArgument unless m.data holds exactly m.rows * m.cols values.
template <typename T>
void check_matrix(const Matrix<T>& m, const char* fn) {
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

// ------------------------------------------------------------------------------------------
// .npy header: a Python dict literal

// The subset of Python literals that .npy headers use (and a little more, so that a header
// with an unexpected but well-formed value is reported by name rather than as a syntax error).
struct PyValue {
  enum class Kind { Str, Bool, None, Int, Tuple, List, Dict };
  Kind kind = Kind::None;
  std::string str;
  bool boolean = false;
  std::int64_t integer = 0;
  std::vector<std::string> keys;  // Dict
  std::vector<PyValue> items;     // Tuple, List; Dict values (parallel to keys)
};

std::string printable(std::string_view text) {
  constexpr std::size_t kMaxShown = 200;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

class LiteralParser {
 public:
  LiteralParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  PyValue parse_document() {
    PyValue v = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the dictionary");
    return v;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw_format(path_, "malformed .npy header at byte {}: {} (header: \"{}\")", pos_, what,
                 printable(text_));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r' ||
                         peek() == '\f' || peek() == '\v')) {
      ++pos_;
    }
  }

  void expect(char c) {
    skip_space();
    if (at_end() || peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxLiteralDepth) fail("values nested too deeply");
    skip_space();
    if (at_end()) fail("unexpected end of header");
    const char c = peek();
    if (c == '\'' || c == '"') return parse_string();
    if (c == '{') return parse_dict(depth);
    if (c == '(') return parse_sequence(depth, ')', PyValue::Kind::Tuple);
    if (c == '[') return parse_sequence(depth, ']', PyValue::Kind::List);
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) return parse_int();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return parse_name();
    fail(fmt::format("unexpected character '{}'", printable(std::string_view(&c, 1))));
  }

  PyValue parse_string() {
    const char quote = peek();
    ++pos_;
    PyValue v;
    v.kind = PyValue::Kind::Str;
    while (true) {
      if (at_end() || peek() == '\n') fail("unterminated string");
      char c = peek();
      ++pos_;
      if (c == quote) break;
      if (c == '\\') {
        if (at_end()) fail("unterminated string");
        c = peek();
        ++pos_;
      }
      v.str += c;
    }
    return v;
  }

  PyValue parse_int() {
    const std::size_t start = pos_;
    bool negative = false;
    if (peek() == '-' || peek() == '+') {
      negative = peek() == '-';
      ++pos_;
    }
    if (at_end() || !std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a digit");
    // Accumulate as a negative number so that INT64_MIN is representable.
    std::int64_t value = 0;
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      const int digit = peek() - '0';
      if (value < (kMin + digit) / 10) {
        while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
        fail(fmt::format("integer {} does not fit in 64 bits", text_.substr(start, pos_ - start)));
      }
      value = value * 10 - digit;
      ++pos_;
    }
    if (!at_end() && (peek() == 'L' || peek() == 'l')) ++pos_;  // Python 2 long suffix
    if (!negative) {
      if (value == kMin) {
        fail(fmt::format("integer {} does not fit in 64 bits", text_.substr(start, pos_ - start)));
      }
      value = -value;
    }
    PyValue v;
    v.kind = PyValue::Kind::Int;
    v.integer = value;
    return v;
  }

  PyValue parse_name() {
    const std::size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_')) {
      ++pos_;
    }
    const std::string_view name = text_.substr(start, pos_ - start);
    PyValue v;
    if (name == "True" || name == "False") {
      v.kind = PyValue::Kind::Bool;
      v.boolean = name == "True";
    } else if (name == "None") {
      v.kind = PyValue::Kind::None;
    } else {
      pos_ = start;
      fail(fmt::format("unknown name '{}'", printable(name)));
    }
    return v;
  }

  // "(a, b)", "(a,)", "()" are tuples; "(a)" is just a; "[...]" is a list.
  PyValue parse_sequence(int depth, char close, PyValue::Kind kind) {
    ++pos_;
    PyValue v;
    v.kind = kind;
    bool comma = false;
    skip_space();
    while (true) {
      skip_space();
      if (!at_end() && peek() == close) {
        ++pos_;
        break;
      }
      v.items.push_back(parse_value(depth + 1));
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        comma = true;
        continue;
      }
      if (!at_end() && peek() == close) {
        ++pos_;
        break;
      }
      fail(fmt::format("expected ',' or '{}'", close));
    }
    if (kind == PyValue::Kind::Tuple && v.items.size() == 1 && !comma) {
      return std::move(v.items.front());
    }
    return v;
  }

  PyValue parse_dict(int depth) {
    ++pos_;
    PyValue v;
    v.kind = PyValue::Kind::Dict;
    while (true) {
      skip_space();
      if (!at_end() && peek() == '}') {
        ++pos_;
        break;
      }
      const std::size_t key_pos = pos_;
      PyValue key = parse_value(depth + 1);
      if (key.kind != PyValue::Kind::Str) {
        pos_ = key_pos;
        fail("dictionary keys must be strings");
      }
      if (std::find(v.keys.begin(), v.keys.end(), key.str) != v.keys.end()) {
        pos_ = key_pos;
        fail(fmt::format("key '{}' appears more than once", printable(key.str)));
      }
      expect(':');
      v.keys.push_back(std::move(key.str));
      v.items.push_back(parse_value(depth + 1));
      skip_space();
      if (!at_end() && peek() == ',') {
        ++pos_;
        continue;
      }
      if (!at_end() && peek() == '}') {
        ++pos_;
        break;
      }
      fail("expected ',' or '}'");
    }
    return v;
  }

  std::string_view text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

// ------------------------------------------------------------------------------------------
// .npy files

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

  const PyValue dict = LiteralParser(text, path).parse_document();
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

// Copies the first `rows` rows of the array, in C order, to dst (rows * cols * itemsize bytes).
void read_npy_rows(const InFile& f, const NpyHeader& h, idx_t rows, std::uint8_t* dst) {
  const idx_t cols = h.cols();
  const std::size_t isz = h.itemsize;
  if (rows == 0 || cols == 0) return;
  // A Fortran-order array with one row or one column is laid out as in C order.
  if (!h.fortran_order || h.shape.size() == 1 || h.rows() == 1 || cols == 1) {
    f.read_at(h.data_offset, dst, static_cast<std::size_t>(rows * cols) * isz);
    return;
  }
  // Fortran order: read blocks of columns (their first `rows` values) and transpose them.
  const std::uint64_t col_bytes = static_cast<std::uint64_t>(rows) * isz;
  const idx_t block = static_cast<idx_t>(std::min<std::uint64_t>(
      static_cast<std::uint64_t>(cols), std::max<std::uint64_t>(1, kChunkBytes / col_bytes)));
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(block * col_bytes));
  const std::uint64_t stored_col_bytes = static_cast<std::uint64_t>(h.rows()) * isz;
  for (idx_t j0 = 0; j0 < cols; j0 += block) {
    const idx_t nb = std::min(block, cols - j0);
    if (rows == h.rows()) {
      f.read_at(h.data_offset + static_cast<std::uint64_t>(j0) * stored_col_bytes, buf.data(),
                static_cast<std::size_t>(nb * col_bytes));
    } else {
      for (idx_t j = 0; j < nb; ++j) {
        f.read_at(h.data_offset + static_cast<std::uint64_t>(j0 + j) * stored_col_bytes,
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
void convert_values(const std::uint8_t* src, std::size_t count, idx_t cols, Dst* dst,
                    const std::string& path, DType src_dtype) {
  for (std::size_t i = 0; i < count; ++i) {
    Src v;
    std::memcpy(&v, src + i * sizeof(Src), sizeof(Src));
    if (!representable<Dst>(v)) {
      const idx_t c = cols > 0 ? cols : 1;
      if constexpr (std::is_same_v<Src, double> && std::is_same_v<Dst, float>) {
        throw_format(path, "element [{}, {}] = {} ({}) is not a finite {} value",
                     static_cast<idx_t>(i) / c, static_cast<idx_t>(i) % c, v, to_string(src_dtype),
                     to_string(kDTypeOf<Dst>));
      } else {
        throw_format(path, "element [{}, {}] = {} ({}) cannot be represented exactly as {}",
                     static_cast<idx_t>(i) / c, static_cast<idx_t>(i) % c, v, to_string(src_dtype),
                     to_string(kDTypeOf<Dst>));
      }
    }
    dst[i] = static_cast<Dst>(v);
  }
}

template <typename Dst>
void convert_from(DType src_dtype, const std::uint8_t* src, std::size_t count, idx_t cols, Dst* dst,
                  const std::string& path) {
  switch (src_dtype) {
    case DType::Float32:
      return convert_values<float>(src, count, cols, dst, path, src_dtype);
    case DType::UInt8:
      return convert_values<std::uint8_t>(src, count, cols, dst, path, src_dtype);
    case DType::Int32:
      return convert_values<std::int32_t>(src, count, cols, dst, path, src_dtype);
    case DType::Int64:
      return convert_values<std::int64_t>(src, count, cols, dst, path, src_dtype);
    case DType::Float64:
      return convert_values<double>(src, count, cols, dst, path, src_dtype);
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
    read_npy_rows(f, h, rows, reinterpret_cast<std::uint8_t*>(m.data.data()));
  } else {
    std::vector<std::uint8_t> raw = allocate<std::uint8_t>(count * h.itemsize, path);
    read_npy_rows(f, h, rows, raw.data());
    m.data = allocate<T>(count, path);
    convert_from(h.dtype, raw.data(), count, m.cols, m.data.data(), path);
  }
  return m;
}

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
  read_npy_rows(f, h, h.rows(), a.bytes.data());
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

Matrix<float> read_vectors(const std::string& path, idx_t max_rows) {
  const std::string ext = lower_extension(path);
  if (ext == ".fvecs") return read_fvecs(path, max_rows);
  if (ext == ".bvecs") return widen<float>(read_bvecs(path, max_rows), path);
  if (ext == ".npy") return read_npy_as<float>(path, max_rows);
  throw InvalidArgument(fmt::format(
      "read_vectors: path '{}' has extension '{}'; expected .fvecs, .bvecs or .npy", path, ext));
}

Matrix<std::int64_t> read_labels(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".ivecs") return widen<std::int64_t>(read_ivecs(path), path);
  if (ext == ".npy") return read_npy_as<std::int64_t>(path, -1);
  throw InvalidArgument(
      fmt::format("read_labels: path '{}' has extension '{}'; expected .ivecs or .npy", path, ext));
}

}  // namespace knnx
