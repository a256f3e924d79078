// Tests for knnx/vector_io.hpp: round trips of every format and dtype, and every kind of
// corrupt file the readers must refuse with a typed error.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "knnx/error.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// ------------------------------------------------------------------------------------------
// Helpers

template <typename T>
void put(Bytes& b, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}

template <typename T>
Bytes bytes_of(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
void append(Bytes& b, const Bytes& tail) { b.insert(b.end(), tail.begin(), tail.end()); }

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  ASSERT_TRUE(out.good()) << path;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A .npy file with the given version, header text (used verbatim) and payload.
Bytes npy_file(int major, int minor, std::string_view header, const Bytes& payload) {
  Bytes b = {0x93,
             'N',
             'U',
             'M',
             'P',
             'Y',
             static_cast<std::uint8_t>(major),
             static_cast<std::uint8_t>(minor)};
  if (major == 1) {
    put(b, static_cast<std::uint16_t>(header.size()));
  } else {
    put(b, static_cast<std::uint32_t>(header.size()));
  }
  append(b, header);
  append(b, payload);
  return b;
}

std::string npy_dict(std::string_view descr, std::string_view shape, bool fortran = false) {
  return fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}\n", descr,
                     fortran ? "True" : "False", shape);
}

// A .fvecs-style record: int32 dimension then the values.
template <typename T>
void put_record(Bytes& b, std::int32_t dim, const std::vector<T>& values) {
  put(b, dim);
  append(b, bytes_of(values));
}

::testing::AssertionResult has_substr(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// The message of the E that f throws (a failure, and "", when it throws nothing).
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception was not thrown";
  return {};
}

template <typename T>
Matrix<T> random_matrix(idx_t rows, idx_t cols, std::mt19937_64& rng) {
  Matrix<T> m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<std::size_t>(rows * cols));
  if constexpr (std::is_floating_point_v<T>) {
    std::normal_distribution<T> dist(0, 100);
    for (auto& v : m.data) v = dist(rng);
  } else {
    std::uniform_int_distribution<std::int64_t> dist(std::numeric_limits<T>::min(),
                                                     std::numeric_limits<T>::max());
    for (auto& v : m.data) v = static_cast<T>(dist(rng));
  }
  return m;
}

template <typename T>
void expect_same(const Matrix<T>& a, const Matrix<T>& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.data, b.data);
}

// The first rows of m.
template <typename T>
Matrix<T> head(const Matrix<T>& m, idx_t rows) {
  Matrix<T> h;
  h.rows = rows;
  h.cols = m.cols;
  h.data.assign(m.data.begin(), m.data.begin() + rows * m.cols);
  return h;
}

class VectorIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device entropy;
    dir_ = fs::temp_directory_path() /
           fmt::format("knnx_test_vector_io_{}_{:08x}", ::getpid(), entropy());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(std::string_view name) const { return (dir_ / name).string(); }

  // Names of the files in the temporary directory, to show writers leave no temporaries.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
  std::mt19937_64 rng_{20240611};
};

// ------------------------------------------------------------------------------------------
// .fvecs / .ivecs / .bvecs round trips

TEST_F(VectorIoTest, FvecsRoundTripOddShapes) {
  for (auto [rows, cols] : {std::pair<idx_t, idx_t>{1, 1}, {37, 13}, {5, 1}, {3, 129}, {1, 300}}) {
    const auto m = random_matrix<float>(rows, cols, rng_);
    const std::string p = path(fmt::format("m_{}x{}.fvecs", rows, cols));
    write_fvecs(p, m);
    EXPECT_EQ(fs::file_size(p), static_cast<std::uintmax_t>(rows * (4 + 4 * cols)));
    expect_same(read_fvecs(p), m);
    expect_same(read_vectors(p), m);
  }
}

TEST_F(VectorIoTest, IvecsRoundTripIncludingExtremes) {
  auto m = random_matrix<std::int32_t>(23, 7, rng_);
  m.data[0] = std::numeric_limits<std::int32_t>::min();
  m.data[1] = std::numeric_limits<std::int32_t>::max();
  m.data[2] = -1;
  m.data[3] = 0;
  const std::string p = path("ids.ivecs");
  write_ivecs(p, m);
  expect_same(read_ivecs(p), m);

  const Matrix<std::int64_t> labels = read_labels(p);
  EXPECT_EQ(labels.rows, 23);
  EXPECT_EQ(labels.cols, 7);
  for (std::size_t i = 0; i < m.data.size(); ++i) EXPECT_EQ(labels.data[i], m.data[i]);
}

TEST_F(VectorIoTest, BvecsRoundTripEveryByteValue) {
  Matrix<std::uint8_t> m;
  m.rows = 3;
  m.cols = 257;
  for (int i = 0; i < 3 * 257; ++i) m.data.push_back(static_cast<std::uint8_t>(i * 7 + 3));
  const std::string p = path("b.bvecs");
  write_bvecs(p, m);
  EXPECT_EQ(fs::file_size(p), 3u * (4 + 257));
  expect_same(read_bvecs(p), m);

  const Matrix<float> f = read_vectors(p);
  ASSERT_EQ(f.data.size(), m.data.size());
  for (std::size_t i = 0; i < m.data.size(); ++i) EXPECT_EQ(f.data[i], m.data[i]);

  const auto one = random_matrix<std::uint8_t>(1, 1, rng_);
  write_bvecs(path("one.bvecs"), one);
  expect_same(read_bvecs(path("one.bvecs")), one);
}

TEST_F(VectorIoTest, VecsMaxRowsReadsAPrefix) {
  const auto m = random_matrix<float>(11, 9, rng_);
  const std::string p = path("m.fvecs");
  write_fvecs(p, m);
  for (idx_t max_rows : {0, 1, 4, 10, 11, 12, 1000}) {
    const Matrix<float> r = read_fvecs(p, max_rows);
    expect_same(r, head(m, std::min<idx_t>(max_rows, 11)));
    expect_same(read_vectors(p, max_rows), r);
  }
  expect_same(read_fvecs(p, -1), m);

  const auto b = random_matrix<std::uint8_t>(6, 2, rng_);
  write_bvecs(path("b.bvecs"), b);
  expect_same(read_bvecs(path("b.bvecs"), 4), head(b, 4));
  const auto i = random_matrix<std::int32_t>(6, 2, rng_);
  write_ivecs(path("i.ivecs"), i);
  expect_same(read_ivecs(path("i.ivecs"), 5), head(i, 5));
}

TEST_F(VectorIoTest, MaxRowsReadsFewerRowsThanOneChunk) {
  // Enough rows that the reader works in several chunks; a prefix must not read them all.
  const auto m = random_matrix<float>(9000, 128, rng_);
  const std::string p = path("big.fvecs");
  write_fvecs(p, m);
  expect_same(read_fvecs(p), m);
  expect_same(read_fvecs(p, 8500), head(m, 8500));
  expect_same(read_fvecs(p, 3), head(m, 3));
}

TEST_F(VectorIoTest, LargeRecordsUseHeaderOnlyChecks) {
  // Records of 4 + 4 * 20000 bytes take the per-record header path.
  const auto m = random_matrix<float>(5, 20000, rng_);
  const std::string p = path("wide.fvecs");
  write_fvecs(p, m);
  expect_same(read_fvecs(p), m);

  Bytes b = read_file(p);
  const std::size_t rec = 4 + 4 * 20000;
  const std::int32_t other = 19999;
  std::memcpy(b.data() + 3 * rec, &other, 4);
  write_file(p, b);
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_fvecs(p); }),
                         "record 3 has dimension 19999, expected 20000"));
}

// ------------------------------------------------------------------------------------------
// Writers

TEST_F(VectorIoTest, WritersReplaceTheTargetAndLeaveNoTemporaries) {
  const std::string p = path("x.fvecs");
  write_fvecs(p, random_matrix<float>(10, 4, rng_));
  const auto second = random_matrix<float>(2, 3, rng_);
  write_fvecs(p, second);
  expect_same(read_fvecs(p), second);

  write_npy(path("x.npy"), random_matrix<float>(4, 4, rng_));
  write_ivecs(path("x.ivecs"), random_matrix<std::int32_t>(4, 4, rng_));
  write_bvecs(path("x.bvecs"), random_matrix<std::uint8_t>(4, 4, rng_));
  EXPECT_EQ(entries(), (std::vector<std::string>{"x.bvecs", "x.fvecs", "x.ivecs", "x.npy"}));
}

TEST_F(VectorIoTest, WriterOntoADirectoryFailsAndRemovesItsTemporary) {
  fs::create_directory(path("target.fvecs"));
  const auto m = random_matrix<float>(3, 3, rng_);
  const std::string msg = message_of<IoError>([&] { write_fvecs(path("target.fvecs"), m); });
  EXPECT_TRUE(has_substr(msg, path("target.fvecs")));
  EXPECT_TRUE(fs::is_directory(path("target.fvecs")));
  fs::create_directory(path("target.npy"));
  EXPECT_THROW(write_npy(path("target.npy"), m), IoError);
  EXPECT_EQ(entries(), (std::vector<std::string>{"target.fvecs", "target.npy"}));
}

TEST_F(VectorIoTest, WriterIntoAMissingDirectoryIsAnIoError) {
  const auto m = random_matrix<float>(3, 3, rng_);
  const std::string p = path("no/such/dir/x.fvecs");
  EXPECT_TRUE(has_substr(message_of<IoError>([&] { write_fvecs(p, m); }), p));
  EXPECT_THROW(write_npy(path("no/such/dir/x.npy"), m), IoError);
  EXPECT_TRUE(entries().empty());
}

TEST_F(VectorIoTest, WritersRejectInconsistentMatrices) {
  Matrix<float> bad;
  bad.rows = 3;
  bad.cols = 4;
  bad.data.resize(11);
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { write_fvecs(path("a.fvecs"), bad); }),
                         "3 x 4 but holds 11 values"));
  EXPECT_THROW(write_npy(path("a.npy"), bad), InvalidArgument);

  Matrix<float> no_cols;
  no_cols.rows = 2;
  EXPECT_TRUE(
      has_substr(message_of<InvalidArgument>([&] { write_fvecs(path("a.fvecs"), no_cols); }),
                 "m.cols must be in [1, 65536], got 0"));

  Matrix<std::uint8_t> too_wide;
  too_wide.rows = 1;
  too_wide.cols = kMaxDim + 1;
  too_wide.data.resize(kMaxDim + 1);
  EXPECT_THROW(write_bvecs(path("a.bvecs"), too_wide), InvalidArgument);

  Matrix<std::int32_t> no_rows;
  no_rows.cols = 5;
  EXPECT_TRUE(
      has_substr(message_of<InvalidArgument>([&] { write_ivecs(path("a.ivecs"), no_rows); }),
                 "m.rows must be >= 1, got 0"));

  Matrix<float> negative;
  negative.rows = -1;
  negative.cols = 2;
  EXPECT_THROW(write_npy(path("a.npy"), negative), InvalidArgument);
  EXPECT_TRUE(entries().empty());
}

// ------------------------------------------------------------------------------------------
// .fvecs / .ivecs / .bvecs corruption

TEST_F(VectorIoTest, EmptyVecsFileIsAFormatError) {
  const std::string p = path("empty.fvecs");
  write_file(p, {});
  const std::string msg = message_of<FormatError>([&] { read_fvecs(p); });
  EXPECT_TRUE(has_substr(msg, p));
  EXPECT_TRUE(has_substr(msg, "empty"));
  EXPECT_THROW(read_ivecs(p), FormatError);
  EXPECT_THROW(read_bvecs(p), FormatError);
}

TEST_F(VectorIoTest, TruncatedVecsFilesAreFormatErrors) {
  const std::string good = path("good.fvecs");
  write_fvecs(good, random_matrix<float>(4, 6, rng_));  // records of 28 bytes, 112 in all
  const Bytes full = read_file(good);
  ASSERT_EQ(full.size(), 112u);
  for (std::size_t size : {1u, 3u, 5u, 27u, 29u, 31u, 33u, 59u, 84u + 4u, 111u}) {
    const std::string p = path(fmt::format("cut_{}.fvecs", size));
    write_file(p, Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size)));
    const std::string msg = message_of<FormatError>([&] { read_fvecs(p); });
    EXPECT_TRUE(has_substr(msg, p)) << size;
    EXPECT_TRUE(has_substr(msg, "truncated")) << size;
    // A prefix that the file does hold is still refused: the size is checked first.
    EXPECT_THROW(read_fvecs(p, 1), FormatError) << size;
  }
  const std::string p = path("cut_33.fvecs");
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_fvecs(p); }),
                         "record 1 has 5 of its 28 bytes"));
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_fvecs(path("cut_31.fvecs")); }),
                         "3 stray byte(s) follow record 0"));
}

TEST_F(VectorIoTest, MixedDimensionsNameTheRecord) {
  const std::vector<float> v128(128, 1.5f);
  const std::vector<float> v64(64, 2.5f);
  Bytes b;
  for (int i = 0; i < 17; ++i) put_record(b, 128, v128);
  put_record(b, 64, v64);
  for (int i = 0; i < 5; ++i) put_record(b, 128, v128);
  const std::string p = path("mixed.fvecs");
  write_file(p, b);
  const std::string msg = message_of<FormatError>([&] { read_fvecs(p); });
  EXPECT_TRUE(has_substr(msg, p));
  EXPECT_TRUE(has_substr(msg, "record 17 has dimension 64, expected 128"));
}

TEST_F(VectorIoTest, MixedDimensionsAreFoundEvenWhenTheSizeIsAMultiple) {
  // Records of dimension 4 (20 bytes), then 1 (8 bytes) and 2 (12 bytes): 60 bytes in all.
  Bytes b;
  put_record<float>(b, 4, {1, 2, 3, 4});
  put_record<float>(b, 1, {5});
  put_record<float>(b, 2, {6, 7});
  const std::string p = path("mixed_multiple.fvecs");
  write_file(p, b);
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_fvecs(p); }),
                         "record 1 has dimension 1, expected 4"));
  EXPECT_THROW(read_vectors(p), FormatError);
  // Only the records returned are read: a one-row prefix is well formed.
  const Matrix<float> first = read_fvecs(p, 1);
  EXPECT_EQ(first.rows, 1);
  EXPECT_EQ(first.data, (std::vector<float>{1, 2, 3, 4}));

  Bytes ib;
  put_record<std::int32_t>(ib, 2, {1, 2});
  put_record<std::int32_t>(ib, 2, {3, 4});
  put_record<std::int32_t>(ib, 0, {});
  put_record<std::int32_t>(ib, 1, {5});
  write_file(path("mixed.ivecs"), ib);
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_ivecs(path("mixed.ivecs")); }),
                         "record 2 has dimension 0, expected 2"));
}

TEST_F(VectorIoTest, BadFirstDimensionsAreFormatErrors) {
  for (std::int32_t dim : {0, -1, -5, kMaxDim + 1, std::numeric_limits<std::int32_t>::max(),
                           std::numeric_limits<std::int32_t>::min()}) {
    Bytes b;
    put(b, dim);
    append(b, Bytes(64, 0));
    const std::string p = path(fmt::format("dim_{}.bvecs", dim));
    write_file(p, b);
    const std::string msg = message_of<FormatError>([&] { read_bvecs(p); });
    EXPECT_TRUE(has_substr(msg, p));
    EXPECT_TRUE(has_substr(msg, fmt::format("record 0 has dimension {}, expected a value in "
                                            "[1, 65536]",
                                            dim)));
    EXPECT_THROW(read_fvecs(p), FormatError);
    EXPECT_THROW(read_ivecs(p), FormatError);
  }
}

TEST_F(VectorIoTest, MaximalDimensionIsAccepted) {
  Matrix<std::uint8_t> m;
  m.rows = 2;
  m.cols = kMaxDim;
  m.data.assign(2 * kMaxDim, 7);
  write_bvecs(path("max.bvecs"), m);
  expect_same(read_bvecs(path("max.bvecs")), m);
}

TEST_F(VectorIoTest, MissingFilesAndDirectoriesAreIoErrors) {
  const std::string missing = path("missing.fvecs");
  const std::string msg = message_of<IoError>([&] { read_fvecs(missing); });
  EXPECT_TRUE(has_substr(msg, missing));
  EXPECT_TRUE(has_substr(msg, "No such file"));
  EXPECT_THROW(read_ivecs(path("missing.ivecs")), IoError);
  EXPECT_THROW(read_bvecs(path("missing.bvecs")), IoError);
  EXPECT_THROW(read_npy(path("missing.npy")), IoError);
  EXPECT_THROW(read_npy_as_float(path("missing.npy")), IoError);
  EXPECT_THROW(read_npy_as_int64(path("missing.npy")), IoError);
  EXPECT_THROW(read_vectors(path("missing.npy")), IoError);
  EXPECT_THROW(read_labels(path("missing.ivecs")), IoError);

  for (const char* name : {"d.fvecs", "d.ivecs", "d.bvecs", "d.npy"}) {
    fs::create_directory(path(name));
  }
  EXPECT_TRUE(
      has_substr(message_of<IoError>([&] { read_fvecs(path("d.fvecs")); }), "is a directory"));
  EXPECT_THROW(read_ivecs(path("d.ivecs")), IoError);
  EXPECT_THROW(read_bvecs(path("d.bvecs")), IoError);
  EXPECT_THROW(read_npy(path("d.npy")), IoError);
  EXPECT_THROW(read_vectors(path("d.fvecs")), IoError);
  EXPECT_THROW(read_labels(path("d.npy")), IoError);
}

// ------------------------------------------------------------------------------------------
// .npy round trips

template <typename T>
void check_npy_round_trip(const std::string& p, const Matrix<T>& m, DType dtype) {
  write_npy(p, m);
  const NpyArray a = read_npy(p);
  EXPECT_EQ(a.dtype, dtype);
  EXPECT_EQ(a.shape, (std::vector<idx_t>{m.rows, m.cols}));
  EXPECT_EQ(a.size(), m.rows * m.cols);
  EXPECT_EQ(a.bytes, bytes_of(m.data));
}

TEST_F(VectorIoTest, NpyRoundTripEveryDtype) {
  for (auto [rows, cols] : {std::pair<idx_t, idx_t>{1, 1}, {17, 5}, {3, 1}, {1, 31}}) {
    const auto f = random_matrix<float>(rows, cols, rng_);
    check_npy_round_trip(path("f.npy"), f, DType::Float32);
    expect_same(read_npy_as_float(path("f.npy")), f);
    expect_same(read_vectors(path("f.npy")), f);

    auto i32 = random_matrix<std::int32_t>(rows, cols, rng_);
    check_npy_round_trip(path("i32.npy"), i32, DType::Int32);
    const Matrix<std::int64_t> widened = read_npy_as_int64(path("i32.npy"));
    ASSERT_EQ(widened.data.size(), i32.data.size());
    for (std::size_t k = 0; k < i32.data.size(); ++k) EXPECT_EQ(widened.data[k], i32.data[k]);

    auto i64 = random_matrix<std::int64_t>(rows, cols, rng_);
    i64.data[0] = std::numeric_limits<std::int64_t>::min();
    check_npy_round_trip(path("i64.npy"), i64, DType::Int64);
    expect_same(read_npy_as_int64(path("i64.npy")), i64);
    expect_same(read_labels(path("i64.npy")), i64);

    const auto u8 = random_matrix<std::uint8_t>(rows, cols, rng_);
    check_npy_round_trip(path("u8.npy"), u8, DType::UInt8);
    const Matrix<float> as_float = read_npy_as_float(path("u8.npy"));
    const Matrix<std::int64_t> as_int = read_npy_as_int64(path("u8.npy"));
    for (std::size_t k = 0; k < u8.data.size(); ++k) {
      EXPECT_EQ(as_float.data[k], u8.data[k]);
      EXPECT_EQ(as_int.data[k], u8.data[k]);
    }
  }
  EXPECT_EQ(entries(), (std::vector<std::string>{"f.npy", "i32.npy", "i64.npy", "u8.npy"}));
}

TEST_F(VectorIoTest, NpyHeaderIsVersion1AlignedAndParsable) {
  write_npy(path("h.npy"), random_matrix<float>(17, 5, rng_));
  const Bytes b = read_file(path("h.npy"));
  ASSERT_GE(b.size(), 10u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 6), "\x93NUMPY");
  EXPECT_EQ(b[6], 1);
  EXPECT_EQ(b[7], 0);
  const std::size_t header_len = b[8] | (b[9] << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(b[10 + header_len - 1], '\n');
  const std::string header(b.begin() + 10,
                           b.begin() + 10 + static_cast<std::ptrdiff_t>(header_len));
  EXPECT_TRUE(has_substr(header, "'descr': '<f4'"));
  EXPECT_TRUE(has_substr(header, "'fortran_order': False"));
  EXPECT_TRUE(has_substr(header, "'shape': (17, 5)"));
  EXPECT_EQ(b.size(), 10 + header_len + 17 * 5 * 4);

  write_npy(path("u.npy"), random_matrix<std::uint8_t>(2, 2, rng_));
  const Bytes u = read_file(path("u.npy"));
  EXPECT_TRUE(has_substr(std::string(u.begin(), u.end()), "'descr': '|u1'"));
}

TEST_F(VectorIoTest, NpyOneDimensionalArraysBecomeColumns) {
  NpyArray a;
  a.dtype = DType::Int64;
  a.shape = {7};
  const std::vector<std::int64_t> values = {5, -1, 0, 1LL << 40, 9, 8, 7};
  a.bytes = bytes_of(values);
  write_npy(path("v.npy"), a);
  const Bytes b = read_file(path("v.npy"));
  EXPECT_TRUE(has_substr(std::string(b.begin(), b.end()), "'shape': (7,)"));

  const NpyArray back = read_npy(path("v.npy"));
  EXPECT_EQ(back.dtype, DType::Int64);
  EXPECT_EQ(back.shape, std::vector<idx_t>{7});
  EXPECT_EQ(back.bytes, a.bytes);

  const Matrix<std::int64_t> m = read_npy_as_int64(path("v.npy"));
  EXPECT_EQ(m.rows, 7);
  EXPECT_EQ(m.cols, 1);
  EXPECT_EQ(m.data, values);

  NpyArray f;
  f.dtype = DType::Float32;
  f.shape = {3};
  f.bytes = bytes_of(std::vector<float>{0.5f, -2.0f, 3.25f});
  write_npy(path("f.npy"), f);
  const Matrix<float> col = read_npy_as_float(path("f.npy"));
  EXPECT_EQ(col.rows, 3);
  EXPECT_EQ(col.cols, 1);
  EXPECT_EQ(col.data, (std::vector<float>{0.5f, -2.0f, 3.25f}));
  expect_same(read_vectors(path("f.npy"), 2), head(col, 2));
}

TEST_F(VectorIoTest, NpyEmptyArraysRoundTrip) {
  for (const std::vector<idx_t>& shape : {std::vector<idx_t>{0}, {0, 4}, {3, 0}}) {
    NpyArray a;
    a.dtype = DType::Float32;
    a.shape = shape;
    write_npy(path("e.npy"), a);
    const NpyArray back = read_npy(path("e.npy"));
    EXPECT_EQ(back.shape, shape);
    EXPECT_TRUE(back.bytes.empty());
    EXPECT_EQ(back.size(), 0);
  }
  const Matrix<float> m = read_npy_as_float(path("e.npy"));
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 0);
}

TEST_F(VectorIoTest, WriteNpyRejectsInconsistentArrays) {
  NpyArray a;
  a.dtype = DType::Int32;
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { write_npy(path("a.npy"), a); }),
                         "array.shape must have 1 or 2 entries, got 0"));
  a.shape = {2, 2, 2};
  a.bytes.resize(32);
  EXPECT_THROW(write_npy(path("a.npy"), a), InvalidArgument);
  a.shape = {2, 3};
  a.bytes.resize(23);
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { write_npy(path("a.npy"), a); }),
                         "array.bytes holds 23 bytes"));
  a.shape = {-2, 3};
  EXPECT_THROW(write_npy(path("a.npy"), a), InvalidArgument);
  a.shape = {std::numeric_limits<idx_t>::max(), 3};
  EXPECT_THROW(write_npy(path("a.npy"), a), InvalidArgument);
  EXPECT_TRUE(entries().empty());
}

TEST_F(VectorIoTest, DTypeNames) {
  EXPECT_EQ(to_string(DType::Float32), "float32");
  EXPECT_EQ(to_string(DType::UInt8), "uint8");
  EXPECT_EQ(to_string(DType::Int32), "int32");
  EXPECT_EQ(to_string(DType::Int64), "int64");
  EXPECT_EQ(to_string(DType::Float64), "float64");
}

// ------------------------------------------------------------------------------------------
// .npy files written by hand: Fortran order, versions 2.0 / 3.0, header spellings

TEST_F(VectorIoTest, NpyFortranOrderIsTransposed) {
  constexpr idx_t kRows = 3, kCols = 5;
  std::vector<float> column_major;
  std::vector<float> row_major(kRows * kCols);
  for (idx_t j = 0; j < kCols; ++j) {
    for (idx_t i = 0; i < kRows; ++i) {
      const float v = static_cast<float>(10 * i + j);
      column_major.push_back(v);
      row_major[static_cast<std::size_t>(i * kCols + j)] = v;
    }
  }
  const std::string p = path("fortran.npy");
  write_file(p, npy_file(1, 0, npy_dict("<f4", "(3, 5)", true), bytes_of(column_major)));
  const NpyArray a = read_npy(p);
  EXPECT_EQ(a.shape, (std::vector<idx_t>{3, 5}));
  EXPECT_EQ(a.bytes, bytes_of(row_major));
  const Matrix<float> m = read_npy_as_float(p);
  EXPECT_EQ(m.data, row_major);
  // A prefix of rows comes from the head of every column.
  const Matrix<float> two = read_vectors(p, 2);
  EXPECT_EQ(two.rows, 2);
  EXPECT_EQ(two.data, std::vector<float>(row_major.begin(), row_major.begin() + 2 * kCols));

  // Other item sizes, and conversion after the transpose.
  std::vector<std::int64_t> c64;
  std::vector<std::int32_t> c32;
  std::vector<std::uint8_t> c8;
  std::vector<std::int64_t> expected(kRows * kCols);
  for (idx_t j = 0; j < kCols; ++j) {
    for (idx_t i = 0; i < kRows; ++i) {
      c64.push_back(100 * i + j);
      c32.push_back(static_cast<std::int32_t>(100 * i + j));
      c8.push_back(static_cast<std::uint8_t>(100 * i + j));
      expected[static_cast<std::size_t>(i * kCols + j)] = 100 * i + j;
    }
  }
  write_file(path("f64.npy"), npy_file(1, 0, npy_dict("<i8", "(3, 5)", true), bytes_of(c64)));
  write_file(path("f32.npy"), npy_file(1, 0, npy_dict("<i4", "(3, 5)", true), bytes_of(c32)));
  write_file(path("f8.npy"), npy_file(1, 0, npy_dict("|u1", "(3, 5)", true), bytes_of(c8)));
  EXPECT_EQ(read_npy_as_int64(path("f64.npy")).data, expected);
  EXPECT_EQ(read_npy_as_int64(path("f32.npy")).data, expected);
  EXPECT_EQ(read_labels(path("f8.npy")).data, expected);

  // One row, one column and 1-D Fortran arrays are laid out as in C order.
  write_file(path("row.npy"), npy_file(1, 0, npy_dict("<i4", "(1, 3)", true),
                                       bytes_of(std::vector<std::int32_t>{1, 2, 3})));
  EXPECT_EQ(read_npy_as_int64(path("row.npy")).data, (std::vector<std::int64_t>{1, 2, 3}));
  write_file(path("col.npy"), npy_file(1, 0, npy_dict("<i4", "(3, 1)", true),
                                       bytes_of(std::vector<std::int32_t>{1, 2, 3})));
  EXPECT_EQ(read_npy_as_int64(path("col.npy")).data, (std::vector<std::int64_t>{1, 2, 3}));
  write_file(path("vec.npy"), npy_file(1, 0, npy_dict("<i4", "(3,)", true),
                                       bytes_of(std::vector<std::int32_t>{1, 2, 3})));
  EXPECT_EQ(read_npy_as_int64(path("vec.npy")).data, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(VectorIoTest, NpyLargeFortranArrayIsTransposedInBlocks) {
  // Columns of 2.8 MB: the reader transposes one column at a time.
  constexpr idx_t kRows = 700000, kCols = 3;
  std::vector<float> column_major(static_cast<std::size_t>(kRows * kCols));
  for (idx_t j = 0; j < kCols; ++j) {
    for (idx_t i = 0; i < kRows; ++i) {
      column_major[static_cast<std::size_t>(j * kRows + i)] = static_cast<float>(i * 4 + j);
    }
  }
  const std::string p = path("tall.npy");
  write_file(p, npy_file(1, 0, npy_dict("<f4", "(700000, 3)", true), bytes_of(column_major)));
  const Matrix<float> m = read_npy_as_float(p);
  ASSERT_EQ(m.rows, kRows);
  ASSERT_EQ(m.cols, kCols);
  bool all_equal = true;
  for (idx_t i = 0; i < kRows && all_equal; ++i) {
    for (idx_t j = 0; j < kCols; ++j) {
      all_equal = all_equal &&
                  m.data[static_cast<std::size_t>(i * kCols + j)] == static_cast<float>(i * 4 + j);
    }
  }
  EXPECT_TRUE(all_equal);
  const Matrix<float> part = read_vectors(p, 1000);
  EXPECT_EQ(part.rows, 1000);
  EXPECT_EQ(part.data, std::vector<float>(m.data.begin(), m.data.begin() + 1000 * kCols));

  // Many short columns: several columns per block, tiles with ragged edges.
  constexpr idx_t kR2 = 45, kC2 = 1000;
  std::vector<std::int32_t> cm(static_cast<std::size_t>(kR2 * kC2));
  for (idx_t j = 0; j < kC2; ++j) {
    for (idx_t i = 0; i < kR2; ++i) {
      cm[static_cast<std::size_t>(j * kR2 + i)] = static_cast<std::int32_t>(i * kC2 + j);
    }
  }
  write_file(path("wide.npy"), npy_file(1, 0, npy_dict("<i4", "(45, 1000)", true), bytes_of(cm)));
  const Matrix<std::int64_t> w = read_npy_as_int64(path("wide.npy"));
  for (std::size_t k = 0; k < w.data.size(); ++k) {
    ASSERT_EQ(w.data[k], static_cast<std::int64_t>(k));
  }
}

// VectorFileRows reads any range of rows of every format as read_vectors reads the whole file:
// C and Fortran order, converted dtypes, ranges across chunk boundaries, bvecs widened.
TEST_F(VectorIoTest, FileRowsReadRangesAsReadVectorsReadsTheWhole) {
  const idx_t rows = 70000, cols = 17;  // 4.8 MB of float32: more than one read chunk
  Matrix<float> m{rows, cols, std::vector<float>(static_cast<std::size_t>(rows * cols))};
  Matrix<std::uint8_t> b{rows, cols, std::vector<std::uint8_t>(m.data.size())};
  std::vector<double> f64(m.data.size());
  std::vector<double> f64_fortran(m.data.size());
  for (idx_t i = 0; i < rows; ++i) {
    for (idx_t j = 0; j < cols; ++j) {
      const auto k = static_cast<std::size_t>(i * cols + j);
      m.data[k] = static_cast<float>(i) + 0.25f * static_cast<float>(j);
      b.data[k] = static_cast<std::uint8_t>((i * 7 + j) % 256);
      f64[k] = m.data[k];
      f64_fortran[static_cast<std::size_t>(j * rows + i)] = m.data[k];
    }
  }
  write_fvecs(path("r.fvecs"), m);
  write_bvecs(path("r.bvecs"), b);
  write_npy(path("r.npy"), m);
  const std::string shape = fmt::format("({}, {})", rows, cols);
  write_file(path("r64.npy"), npy_file(1, 0, npy_dict("<f8", shape), bytes_of(f64)));
  write_file(path("rf.npy"), npy_file(1, 0, npy_dict("<f8", shape, true), bytes_of(f64_fortran)));
  for (const char* name : {"r.fvecs", "r.bvecs", "r.npy", "r64.npy", "rf.npy"}) {
    const Matrix<float> whole = read_vectors(path(name));
    const VectorFileRows file(path(name));
    ASSERT_EQ(file.rows(), rows) << name;
    ASSERT_EQ(file.cols(), cols) << name;
    for (const auto& [first, n] : std::vector<std::pair<idx_t, idx_t>>{
             {0, 1}, {0, rows}, {123, 40000}, {rows - 1, 1}, {rows, 0}, {61680, 1000}}) {
      std::vector<float> got(static_cast<std::size_t>(n * cols), -1.0f);
      file.read(first, n, got.data());
      EXPECT_TRUE(std::equal(got.begin(), got.end(), whole.data.begin() + first * cols))
          << name << " rows [" << first << ", " << first + n << ")";
    }
    std::vector<float> out(static_cast<std::size_t>(2 * cols));
    EXPECT_THROW(file.read(rows - 1, 2, out.data()), InvalidArgument) << name;
    EXPECT_THROW(file.read(-1, 1, out.data()), InvalidArgument) << name;
  }
  EXPECT_THROW(VectorFileRows(path("r.txt")), InvalidArgument);
  EXPECT_THROW(VectorFileRows(path("missing.fvecs")), IoError);
}

// Opening checks the header against the bytes present, before anything of the declared size is
// allocated: truncated files and headers declaring more than the file holds are FormatErrors.
TEST_F(VectorIoTest, FileRowsRefuseTruncatedAndOversizedFiles) {
  Matrix<float> m{4, 3, std::vector<float>(12, 1.0f)};
  write_fvecs(path("t.fvecs"), m);
  Bytes b = read_file(path("t.fvecs"));
  b.resize(b.size() - 5);  // the last record cut short
  write_file(path("t.fvecs"), b);
  EXPECT_THROW(VectorFileRows(path("t.fvecs")), FormatError);
  write_file(path("e.fvecs"), {});
  EXPECT_THROW(VectorFileRows(path("e.fvecs")), FormatError);
  // A header declaring 2^40 rows over 8 bytes of payload.
  write_file(path("big.npy"),
             npy_file(1, 0, npy_dict("<f4", "(1099511627776, 2)"), bytes_of(std::vector<float>{1, 2})));
  EXPECT_THROW(VectorFileRows(path("big.npy")), FormatError);
  write_npy(path("t.npy"), m);
  Bytes n = read_file(path("t.npy"));
  n.resize(n.size() - 4);
  write_file(path("t.npy"), n);
  EXPECT_THROW(VectorFileRows(path("t.npy")), FormatError);
}

// A bad record or value is found when its range is read, and named by its row in the file.
TEST_F(VectorIoTest, FileRowsNameBadRowsWhenRead) {
  Matrix<float> m{4, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
  write_fvecs(path("bad.fvecs"), m);
  Bytes bytes = read_file(path("bad.fvecs"));
  const std::int32_t three = 3;
  std::memcpy(bytes.data() + 2 * (4 + 8), &three, sizeof three);  // record 2 claims dimension 3
  write_file(path("bad.fvecs"), bytes);
  const VectorFileRows file(path("bad.fvecs"));
  std::vector<float> out(8);
  EXPECT_NO_THROW(file.read(0, 2, out.data()));
  try {
    file.read(1, 3, out.data());
    FAIL() << "read a record of the wrong dimension";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("record 2"), std::string::npos) << e.what();
  }
  const std::vector<double> big = {1.0, 2.0, 3.0, 1e300};
  write_file(path("big.npy"), npy_file(1, 0, npy_dict("<f8", "(2, 2)"), bytes_of(big)));
  const VectorFileRows npy(path("big.npy"));
  EXPECT_NO_THROW(npy.read(0, 1, out.data()));
  try {
    npy.read(1, 1, out.data());
    FAIL() << "read 1e300 as float32";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 1]"), std::string::npos) << e.what();
  }
}

TEST_F(VectorIoTest, NpyVersions2And3AreRead) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  for (int major : {2, 3}) {
    const std::string p = path(fmt::format("v{}.npy", major));
    write_file(p, npy_file(major, 0, npy_dict("<f4", "(2, 3)"), bytes_of(values)));
    const NpyArray a = read_npy(p);
    EXPECT_EQ(a.dtype, DType::Float32);
    EXPECT_EQ(a.shape, (std::vector<idx_t>{2, 3}));
    EXPECT_EQ(read_npy_as_float(p).data, values);
  }
  // Version 3.0 headers are UTF-8; non-ASCII text inside a string value is carried through.
  const std::string p = path("utf8.npy");
  write_file(p, npy_file(3, 0,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
                         "'note\xc3\xa9': 1}",
                         bytes_of(values)));
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_npy(p); }), "unexpected key"));
}

TEST_F(VectorIoTest, NpyHeaderSpellingsAreAccepted) {
  const std::vector<std::int32_t> values = {1, 2, 3, 4, 5, 6};
  const Bytes payload = bytes_of(values);
  const std::vector<std::string> headers = {
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}",
      "{'fortran_order':False,'descr':'<i4','shape':(2,3)}",
      "{ 'descr' : '<i4' ,\t'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) , }   \n",
      "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2, 3)}",
      "{'descr': '=i4', 'fortran_order': False, 'shape': (2L, 3L)}",
      "{'descr': '<i4', 'fortran_order': False, 'shape': (+2, 3)}" + std::string(40, ' '),
  };
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const std::string p = path(fmt::format("s{}.npy", i));
    write_file(p, npy_file(1, 0, headers[i], payload));
    const NpyArray a = read_npy(p);
    EXPECT_EQ(a.dtype, DType::Int32) << headers[i];
    EXPECT_EQ(a.shape, (std::vector<idx_t>{2, 3})) << headers[i];
    EXPECT_EQ(a.bytes, payload) << headers[i];
  }
  // Every spelling of uint8.
  for (const char* descr : {"|u1", "<u1", "=u1", ">u1"}) {
    const std::string p = path("u8.npy");
    write_file(p, npy_file(1, 0, npy_dict(descr, "(2,)"), Bytes{7, 250}));
    EXPECT_EQ(read_npy(p).dtype, DType::UInt8) << descr;
    EXPECT_EQ(read_npy_as_float(p).data, (std::vector<float>{7, 250})) << descr;
  }
}

// ------------------------------------------------------------------------------------------
// .npy corruption

class NpyCorruptionTest : public VectorIoTest {
 protected:
  // Writes the bytes and returns the FormatError message read_npy raises (also checks that
  // every other .npy reader refuses the file, and that the message names it).
  std::string refuse(const Bytes& b, std::string_view name = "bad.npy") {
    const std::string p = path(name);
    write_file(p, b);
    const std::string msg = message_of<FormatError>([&] { read_npy(p); });
    EXPECT_TRUE(has_substr(msg, p));
    EXPECT_THROW(read_npy_as_float(p), FormatError);
    EXPECT_THROW(read_npy_as_int64(p), FormatError);
    EXPECT_THROW(read_vectors(p, 1), FormatError);
    return msg;
  }
  std::string refuse_header(std::string_view header, const Bytes& payload = Bytes(24, 0)) {
    return refuse(npy_file(1, 0, header, payload));
  }
};

TEST_F(NpyCorruptionTest, WrongMagic) {
  Bytes b = npy_file(1, 0, npy_dict("<f4", "(2,)"), Bytes(8, 0));
  b[5] = 'X';
  EXPECT_TRUE(has_substr(refuse(b), "not a .npy file"));
  b[0] = 0x92;
  EXPECT_TRUE(has_substr(refuse(b), "not a .npy file"));
  // An .fvecs file under a .npy name.
  Bytes f;
  put_record<float>(f, 2, {1, 2});
  EXPECT_TRUE(has_substr(refuse(f), "not a .npy file"));
  EXPECT_TRUE(has_substr(refuse(Bytes{0x93, 'N', 'U'}), "truncated"));
  EXPECT_TRUE(has_substr(refuse(Bytes{}), "empty"));
}

TEST_F(NpyCorruptionTest, UnsupportedVersions) {
  for (auto [major, minor] : {std::pair{0, 0}, {4, 0}, {1, 1}, {2, 5}, {255, 0}}) {
    Bytes b = npy_file(1, 0, npy_dict("<f4", "(2,)"), Bytes(8, 0));
    b[6] = static_cast<std::uint8_t>(major);
    b[7] = static_cast<std::uint8_t>(minor);
    EXPECT_TRUE(
        has_substr(refuse(b), fmt::format("unsupported .npy format version {}.{}", major, minor)));
  }
}

TEST_F(NpyCorruptionTest, TruncationAtManyOffsets) {
  write_npy(path("good.npy"), random_matrix<float>(3, 4, rng_));
  const Bytes full = read_file(path("good.npy"));
  const std::size_t data_offset = full.size() - 48;
  for (std::size_t size :
       {std::size_t{3}, std::size_t{7}, std::size_t{9}, std::size_t{11}, std::size_t{40},
        data_offset - 1, data_offset, data_offset + 1, full.size() - 4, full.size() - 1}) {
    const std::string msg =
        refuse(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(size)),
               fmt::format("cut_{}.npy", size));
    EXPECT_FALSE(msg.empty()) << size;
  }
  EXPECT_TRUE(has_substr(refuse(Bytes(full.begin(), full.begin() + 9)), "truncated"));
  EXPECT_TRUE(has_substr(refuse(Bytes(full.begin(), full.begin() + 40)), "extends past the end"));
  EXPECT_TRUE(has_substr(refuse(Bytes(full.begin(), full.end() - 1)),
                         "payload is 47 bytes but shape (3, 4) of '<f4' needs 48 bytes"));
  Bytes longer = full;
  longer.push_back(0);
  EXPECT_TRUE(has_substr(refuse(longer), "payload is 49 bytes"));
}

TEST_F(NpyCorruptionTest, HeaderLengthPastEndOfFile) {
  Bytes v1 = npy_file(1, 0, npy_dict("<f4", "(2,)"), Bytes(8, 0));
  v1[8] = 0xff;
  v1[9] = 0xff;
  EXPECT_TRUE(has_substr(refuse(v1), "header length 65535 extends past the end of the file"));

  Bytes v2 = npy_file(2, 0, npy_dict("<f4", "(2,)"), Bytes(8, 0));
  for (int i = 8; i < 12; ++i) v2[static_cast<std::size_t>(i)] = 0xff;
  EXPECT_TRUE(has_substr(refuse(v2), "header length 4294967295 extends past the end"));

  // A header length within the file but beyond any sane header is refused before reading it.
  Bytes big = npy_file(2, 0, "", Bytes((1u << 20) + 64, ' '));
  const std::uint32_t len = (1u << 20) + 1;
  std::memcpy(big.data() + 8, &len, 4);
  EXPECT_TRUE(has_substr(refuse(big), "exceeds"));
}

TEST_F(NpyCorruptionTest, ShapeAndPayloadMismatch) {
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(2, 3)"), Bytes(23, 0)),
                         "payload is 23 bytes but shape (2, 3) of '<f4' needs 24 bytes"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<i8", "(2, 3)"), Bytes(24, 0)), "needs 48 bytes"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("|u1", "(5,)"), Bytes(6, 0)), "needs 5 bytes"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(0, 3)"), Bytes(4, 0)), "needs 0 bytes"));
}

TEST_F(NpyCorruptionTest, OverflowingShapes) {
  EXPECT_TRUE(
      has_substr(refuse_header(npy_dict("<f4", "(4611686018427387904, 4611686018427387904)")),
                 "more elements than 64-bit sizes can count"));
  EXPECT_TRUE(
      has_substr(refuse_header(npy_dict("<f4", "(9223372036854775807, 2)")), "more elements"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(2305843009213693952, 2)")),
                         "needs more bytes than 64-bit sizes can count"));
  EXPECT_TRUE(
      has_substr(refuse_header(npy_dict("<i8", "(1152921504606846976,)")), "needs more bytes"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(99999999999999999999, 2)")),
                         "integer 99999999999999999999 does not fit in 64 bits"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(9223372036854775808, 2)")),
                         "does not fit in 64 bits"));
  // Large but countable: the payload check catches it.
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(1099511627776, 1048576)")),
                         "payload is 24 bytes"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(-1, 6)")), "negative extent -1"));
  EXPECT_TRUE(
      has_substr(refuse_header(npy_dict("<f4", "(-9223372036854775808, 6)")), "negative extent"));
}

TEST_F(NpyCorruptionTest, UnsupportedDtypes) {
  for (const char* descr : {"<f2", "|b1", "<U4", "<c8", "f4", "f8", "|i1", "<u2", "|f8", ""}) {
    EXPECT_TRUE(has_substr(refuse_header(npy_dict(descr, "(3,)")),
                           fmt::format("unsupported dtype '{}'", descr)));
  }
  for (const char* descr : {">f4", ">f8", ">i4", ">i8"}) {
    EXPECT_TRUE(has_substr(refuse_header(npy_dict(descr, "(3,)")),
                           fmt::format("big-endian dtype '{}' is not supported", descr)));
  }
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("|O", "(3,)")), "object arrays"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<O8", "(3,)")), "object arrays"));
  EXPECT_TRUE(
      has_substr(refuse_header("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, "
                               "'shape': (3,)}"),
                 "structured dtypes"));
  EXPECT_TRUE(has_substr(refuse_header("{'descr': 4, 'fortran_order': False, 'shape': (3,)}"),
                         "descr in the .npy header is not a string"));
}

TEST_F(NpyCorruptionTest, UnsupportedRanks) {
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "()"), Bytes(4, 0)),
                         "0-d arrays are not supported"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(1, 2, 3)")),
                         "3-d arrays are not supported (shape (1, 2, 3))"));
  EXPECT_TRUE(has_substr(refuse_header(npy_dict("<f4", "(1, 1, 2, 3)")), "4-d arrays"));
}

TEST_F(NpyCorruptionTest, MalformedHeaderDictionaries) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",
       "shape in the .npy header is "
       "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ('6',)}", "not an integer"},
      {"{'descr': '<f4', 'fortran_order': False}", "lacks the key 'shape'"},
      {"{'descr': '<f4', 'shape': (6,)}", "lacks the key 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (6,)}", "lacks the key 'descr'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
       "key 'descr' appears more than once"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "not True or False"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}", "unknown name 'false'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", "malformed .npy header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", "expected ',' or '}'"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "expected ',' or '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (6,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", "unexpected text after"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6 7)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 3: 4}",
       "dictionary keys must be strings"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6.5,)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-,)}", "expected a digit"},
      {"[6]", ".npy header is not a dictionary"},
      {"", "unexpected end of header"},
      {"   \n", "unexpected end of header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(100, '(') + "6," +
           std::string(100, ')') + "}",
       "nested too deeply"},
      {"{'descr': '<f4\n', 'fortran_order': False, 'shape': (6,)}", "unterminated string"},
      {std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\0", 56),
       "unexpected text after"},
  };
  for (const auto& [header, expected] : cases) {
    EXPECT_TRUE(has_substr(refuse_header(header), expected)) << header;
  }
}

// ------------------------------------------------------------------------------------------
// Conversions and dispatch

TEST_F(VectorIoTest, ConversionsRefuseValuesThatDoNotSurvive) {
  auto npy = [&](std::string_view name, std::string_view descr, std::string_view shape,
                 const Bytes& payload) {
    const std::string p = path(name);
    write_file(p, npy_file(1, 0, npy_dict(descr, shape), payload));
    return p;
  };
  const std::string frac = npy("frac.npy", "<f4", "(1, 2)", bytes_of(std::vector<float>{1, 2.5f}));
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_npy_as_int64(frac); }),
                         "element [0, 1] = 2.5 (float32) cannot be represented exactly as int64"));
  EXPECT_THROW(read_labels(frac), FormatError);
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), -1e19f, 9.3e18f}) {
    const std::string p = npy("bad.npy", "<f4", "(1,)", bytes_of(std::vector<float>{bad}));
    EXPECT_THROW(read_npy_as_int64(p), FormatError) << bad;
  }
  const std::vector<float> integral = {-3, 0, 7, 1099511627776.0f, -9.2e18f};
  const std::string ok = npy("ok.npy", "<f4", "(5,)", bytes_of(integral));
  const Matrix<std::int64_t> ids = read_npy_as_int64(ok);
  for (std::size_t i = 0; i < integral.size(); ++i) {
    EXPECT_EQ(ids.data[i], static_cast<std::int64_t>(integral[i]));
  }

  const std::string big =
      npy("big.npy", "<i8", "(2, 2)", bytes_of(std::vector<std::int64_t>{1, 2, 3, (1 << 24) + 1}));
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_npy_as_float(big); }),
                         "element [1, 1] = 16777217 (int64) cannot be represented exactly as "
                         "float32"));
  EXPECT_THROW(read_vectors(big), FormatError);
  const std::string neg =
      npy("neg.npy", "<i4", "(2,)", bytes_of(std::vector<std::int32_t>{-(1 << 24), 1 << 24}));
  EXPECT_EQ(read_npy_as_float(neg).data, (std::vector<float>{-16777216.0f, 16777216.0f}));
  const std::string over =
      npy("over.npy", "<i4", "(1,)", bytes_of(std::vector<std::int32_t>{-(1 << 24) - 1}));
  EXPECT_THROW(read_npy_as_float(over), FormatError);
}

TEST_F(VectorIoTest, NpyFloat64IsReadAsFloat32) {
  // float64 files (numpy's default dtype) round trip as NpyArray and read as float32, rounded to
  // nearest, through every float reader.
  const std::vector<double> values = {0.1, -2.5, 1e-30, 3.141592653589793, -7e20, 1e-50, 0.0, -0.0};
  const std::string p = path("f8.npy");
  NpyArray a;
  a.dtype = DType::Float64;
  a.shape = {4, 2};
  a.bytes = bytes_of(values);
  write_npy(p, a);
  const Bytes file = read_file(p);
  EXPECT_TRUE(has_substr(std::string(file.begin(), file.end()), "'descr': '<f8'"));
  const NpyArray back = read_npy(p);
  EXPECT_EQ(back.dtype, DType::Float64);
  EXPECT_EQ(back.shape, a.shape);
  EXPECT_EQ(back.bytes, a.bytes);

  std::vector<float> rounded;
  for (double v : values) rounded.push_back(static_cast<float>(v));
  const Matrix<float> m = read_npy_as_float(p);
  EXPECT_EQ(m.rows, 4);
  EXPECT_EQ(m.cols, 2);
  EXPECT_EQ(m.data, rounded);
  EXPECT_TRUE(std::signbit(m.data[7]));  // -0.0 keeps its sign
  EXPECT_EQ(read_vectors(p).data, rounded);
  EXPECT_EQ(read_vectors(p, 1).data, std::vector<float>(rounded.begin(), rounded.begin() + 2));

  // Fortran order is transposed like the other item sizes; 1-D arrays become one column.
  const std::vector<double> column_major = {1.5, 2.5, 3.5, 4.5, 5.5, 6.5};  // 2 x 3
  write_file(path("ff8.npy"),
             npy_file(1, 0, npy_dict("<f8", "(2, 3)", true), bytes_of(column_major)));
  EXPECT_EQ(read_npy_as_float(path("ff8.npy")).data,
            (std::vector<float>{1.5f, 3.5f, 5.5f, 2.5f, 4.5f, 6.5f}));
  write_file(path("v8.npy"),
             npy_file(1, 0, npy_dict("<f8", "(3,)"), bytes_of(std::vector<double>{1, 2, 3})));
  const Matrix<float> column = read_npy_as_float(path("v8.npy"));
  EXPECT_EQ(column.rows, 3);
  EXPECT_EQ(column.cols, 1);

  // Integral float64 values are ids too; fractions are not.
  write_file(path("ids8.npy"), npy_file(1, 0, npy_dict("<f8", "(3,)"),
                                        bytes_of(std::vector<double>{0, 9007199254740992.0, -4})));
  EXPECT_EQ(read_labels(path("ids8.npy")).data,
            (std::vector<std::int64_t>{0, 9007199254740992, -4}));
  write_file(path("frac8.npy"),
             npy_file(1, 0, npy_dict("<f8", "(1, 2)"), bytes_of(std::vector<double>{1, 0.5})));
  EXPECT_TRUE(has_substr(message_of<FormatError>([&] { read_npy_as_int64(path("frac8.npy")); }),
                         "element [0, 1] = 0.5 (float64) cannot be represented exactly as int64"));
}

TEST_F(VectorIoTest, NpyFloat64OutsideTheFloat32RangeIsAFormatError) {
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  auto npy = [&](std::string_view name, std::vector<double> values) {
    const std::string p = path(name);
    write_file(p, npy_file(1, 0, npy_dict("<f8", fmt::format("({}, 2)", values.size() / 2)),
                           bytes_of(values)));
    return p;
  };
  // The extremes that still round to a finite float32.
  const double just_below_overflow = 0x1p128 - 0x1p103 - 0x1p75;  // rounds down to FLT_MAX
  const std::string edge = npy("edge.npy", {kFloatMax, -kFloatMax, just_below_overflow, 1e-320});
  EXPECT_EQ(
      read_npy_as_float(edge).data,
      (std::vector<float>{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::max(), 0.0f}));

  const std::string big = npy("big.npy", {1, 2, 3, 4, 1e39, 5});
  const std::string msg = message_of<FormatError>([&] { read_npy_as_float(big); });
  EXPECT_TRUE(has_substr(msg, "element [2, 0] = 1e+39 (float64) is not a finite float32 value"));
  EXPECT_TRUE(has_substr(msg, big));
  EXPECT_THROW(read_vectors(big), FormatError);
  EXPECT_NO_THROW(read_vectors(big, 2));           // the bad row is not read
  EXPECT_EQ(read_npy(big).dtype, DType::Float64);  // the raw reader converts nothing

  // Halfway between FLT_MAX and 2^128 rounds (to even) to infinity.
  const double halfway = 0x1p128 - 0x1p103;
  for (double bad : {halfway, -halfway, std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN(), -1e300}) {
    const std::string p = npy("bad.npy", {0, bad});
    EXPECT_TRUE(
        has_substr(message_of<FormatError>([&] { read_npy_as_float(p); }), "element [0, 1] = "))
        << bad;
    EXPECT_THROW(read_npy_as_int64(p), FormatError) << bad;
  }
}

TEST_F(VectorIoTest, DispatchByExtension) {
  const auto f = random_matrix<float>(6, 3, rng_);
  write_fvecs(path("UPPER.FVECS"), f);
  expect_same(read_vectors(path("UPPER.FVECS")), f);

  for (const char* name : {"x.txt", "x", "x.fvecs.bak", "x.ivecs", "x.npz"}) {
    const std::string p = path(name);
    EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { read_vectors(p); }), p)) << name;
  }
  for (const char* name : {"x.txt", "x.fvecs", "x.bvecs", "x"}) {
    const std::string p = path(name);
    EXPECT_TRUE(
        has_substr(message_of<InvalidArgument>([&] { read_labels(p); }), "expected .ivecs or .npy"))
        << name;
  }
}

// ------------------------------------------------------------------------------------------
// Real data

TEST_F(VectorIoTest, ReadsSift5kBase) {
  const std::string p = std::string(KNNX_SHARED_DATA_DIR) + "/sift5k_base.fvecs";
  if (!fs::exists(p)) GTEST_SKIP() << p << " is not present";
  const Matrix<float> m = read_fvecs(p);
  ASSERT_EQ(m.rows, 5000);
  ASSERT_EQ(m.cols, 128);
  // SIFT descriptors are small non-negative integers stored as float32.
  for (float v : m.data) {
    ASSERT_TRUE(v >= 0.0f && v <= 255.0f && v == std::floor(v)) << v;
  }
  expect_same(read_vectors(p, 100), head(m, 100));
}

}  // namespace
}  // namespace knnx
