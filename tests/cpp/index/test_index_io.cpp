// write_index / read_index / read_index_info: round trips of IndexFlat and IndexIVFFlat (search
// results, ids, lists and settings identical after loading), the committed version-1 files in
// tests/data, and every way a file can be wrong: truncation, flipped bytes, bad header fields,
// sizes that do not fit, contents that pass the checksums but break the index's rules, paths
// that cannot be read or written, and failed saves over an existing file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <new>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "core/crc32c.hpp"
#include "core/index_file.hpp"
#include "index/gaussian_data.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/transform.hpp"
#include "temp_dir.hpp"

// ------------------------------------------------------------------------------------------
// The largest single allocation, to show that hostile headers never make a loader allocate
// more than the file could hold. Replacing the global operator new is allowed by the standard;
// this one only records the size and then allocates as the default one does.
namespace {
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

void* operator new(std::size_t size) {
  std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): otherwise they come
// from the runtime's allocator while the replaced delete above frees with std::free, a
// mismatch AddressSanitizer reports (alloc-dealloc-mismatch).
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace knnx {
namespace {

namespace fmtv = detail::index_file;
namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------
// Helpers

::testing::AssertionResult has_substr(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// The message of the E that f throws ("" and a test failure when it throws something else or
// nothing).
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << typeid(E).name() << ", got " << typeid(e).name() << ": "
                  << e.what();
    return {};
  }
  ADD_FAILURE() << "expected exception was not thrown";
  return {};
}

// Each test's files live in a directory of their own.
class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("knnx_index_io") {}
};

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

using test::gaussian;

struct SearchResult {
  std::vector<float> distances;
  std::vector<idx_t> labels;
};

SearchResult run_search(const Index& index, const std::vector<float>& queries, int k) {
  const idx_t nq = static_cast<idx_t>(queries.size()) / index.dim();
  SearchResult r{std::vector<float>(static_cast<std::size_t>(nq * k)),
                 std::vector<idx_t>(static_cast<std::size_t>(nq * k))};
  index.search(nq, queries.data(), k, r.distances.data(), r.labels.data());
  return r;
}

// Same labels and bit-identical distances.
void expect_same_results(const Index& a, const Index& b, const std::vector<float>& queries, int k) {
  const SearchResult ra = run_search(a, queries, k);
  const SearchResult rb = run_search(b, queries, k);
  EXPECT_EQ(ra.labels, rb.labels);
  ASSERT_EQ(ra.distances.size(), rb.distances.size());
  EXPECT_EQ(0, std::memcmp(ra.distances.data(), rb.distances.data(),
                           ra.distances.size() * sizeof(float)));
}

void expect_same_ivf(const IndexIVFFlat& a, const IndexIVFFlat& b) {
  EXPECT_EQ(a.dim(), b.dim());
  EXPECT_EQ(a.metric(), b.metric());
  EXPECT_EQ(a.ntotal(), b.ntotal());
  EXPECT_EQ(a.n_lists(), b.n_lists());
  EXPECT_EQ(a.n_probe(), b.n_probe());
  EXPECT_EQ(a.is_trained(), b.is_trained());
  EXPECT_EQ(a.centroids(), b.centroids());
  EXPECT_EQ(a.list_sizes(), b.list_sizes());
  for (int l = 0; l < a.n_lists(); ++l) {
    EXPECT_EQ(a.list_ids(l), b.list_ids(l)) << "list " << l;
    EXPECT_EQ(a.list_vectors(l), b.list_vectors(l)) << "list " << l;
  }
  const KMeansParams& pa = a.kmeans_params();
  const KMeansParams& pb = b.kmeans_params();
  EXPECT_EQ(pa.n_iter, pb.n_iter);
  EXPECT_EQ(pa.init, pb.init);
  EXPECT_EQ(pa.max_points_per_centroid, pb.max_points_per_centroid);
  EXPECT_EQ(pa.min_points_per_centroid, pb.min_points_per_centroid);
  EXPECT_EQ(pa.init_points_per_centroid, pb.init_points_per_centroid);
  EXPECT_EQ(pa.seed, pb.seed);
  EXPECT_EQ(pa.spherical, pb.spherical);
}

// Every id the index holds.
std::vector<idx_t> all_ids(const Index& index) {
  if (const auto* flat = dynamic_cast<const IndexFlat*>(&index)) return flat->ids();
  if (const auto* pq = dynamic_cast<const IndexPQ*>(&index)) return pq->ids();
  std::vector<idx_t> out;
  const auto append_lists = [&](const auto& ivf) {
    for (int l = 0; l < ivf.n_lists(); ++l) {
      const std::vector<idx_t> ids = ivf.list_ids(l);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  };
  if (const auto* ivf_pq = dynamic_cast<const IndexIVFPQ*>(&index)) {
    append_lists(*ivf_pq);
  } else {
    append_lists(dynamic_cast<const IndexIVFFlat&>(index));
  }
  return out;
}

// The id add() hands out next, found by adding one vector to a copy (made by saving and
// loading, so the index under test is unchanged): add() numbers past every id ever held, so
// the new id is the largest one the copy holds.
idx_t next_added_id(const Index& index, const TempDir& dir) {
  const std::string path = dir.file("next_id_probe.knnx");
  write_index(index, path);
  std::unique_ptr<Index> copy = read_index(path);
  const std::vector<float> v(static_cast<std::size_t>(index.dim()), 0.5f);
  copy->add(1, v.data());
  const std::vector<idx_t> ids = all_ids(*copy);
  return *std::max_element(ids.begin(), ids.end());
}

template <typename T>
T& as(std::unique_ptr<Index>& index) {
  auto* p = dynamic_cast<T*>(index.get());
  if (p == nullptr) throw std::runtime_error("loaded index has the wrong type");
  return *p;
}

// --- Editing files: the layout of a saved file, and rewrites that keep every checksum valid.

struct FileView {
  fmtv::Header header;
  std::vector<fmtv::SectionEntry> sections;
};

FileView view(const std::vector<std::uint8_t>& bytes) {
  FileView v;
  v.header = fmtv::decode_header(bytes.data());
  for (std::uint32_t i = 0; i < v.header.section_count; ++i) {
    v.sections.push_back(fmtv::decode_section_entry(bytes.data() + fmtv::kHeaderBytes +
                                                    i * fmtv::kSectionEntryBytes));
  }
  return v;
}

const fmtv::SectionEntry& section_of(const FileView& v, fmtv::SectionKind kind) {
  for (const auto& s : v.sections) {
    if (s.kind == static_cast<std::uint32_t>(kind)) return s;
  }
  throw std::runtime_error("no such section");
}

// Recomputes every checksum of bytes (section, table, header) from their contents.
void reseal(std::vector<std::uint8_t>& bytes) {
  FileView v = view(bytes);
  for (auto& s : v.sections) {
    if (s.offset + s.size <= bytes.size()) s.crc = detail::crc32c(bytes.data() + s.offset, s.size);
  }
  const std::vector<std::uint8_t> table = fmtv::encode_table(v.sections);
  std::copy(table.begin(), table.end(), bytes.begin() + fmtv::kHeaderBytes);
  v.header.table_crc = detail::crc32c(table.data(), table.size());
  const auto header = fmtv::encode_header(v.header);
  std::copy(header.begin(), header.end(), bytes.begin());
}

// Rewrites header fields, keeping the checksums valid.
template <typename Edit>
std::vector<std::uint8_t> with_header(std::vector<std::uint8_t> bytes, Edit edit) {
  FileView v = view(bytes);
  edit(v.header);
  const auto header = fmtv::encode_header(v.header);
  std::copy(header.begin(), header.end(), bytes.begin());
  return bytes;
}

// Rewrites section table entries, keeping the checksums valid.
template <typename Edit>
std::vector<std::uint8_t> with_table(std::vector<std::uint8_t> bytes, Edit edit) {
  FileView v = view(bytes);
  edit(v.sections);
  const std::vector<std::uint8_t> table = fmtv::encode_table(v.sections);
  std::copy(table.begin(), table.end(), bytes.begin() + fmtv::kHeaderBytes);
  v.header.table_crc = detail::crc32c(table.data(), table.size());
  const auto header = fmtv::encode_header(v.header);
  std::copy(header.begin(), header.end(), bytes.begin());
  return bytes;
}

// Overwrites values of type T in one section (at element offset `at`), keeping checksums valid.
template <typename T>
std::vector<std::uint8_t> with_section_values(std::vector<std::uint8_t> bytes,
                                              fmtv::SectionKind kind, std::size_t at,
                                              const std::vector<T>& values) {
  const FileView v = view(bytes);
  const fmtv::SectionEntry& s = section_of(v, kind);
  std::memcpy(bytes.data() + s.offset + at * sizeof(T), values.data(), values.size() * sizeof(T));
  reseal(bytes);
  return bytes;
}

template <typename T>
std::vector<T> section_values(const std::vector<std::uint8_t>& bytes, fmtv::SectionKind kind) {
  const fmtv::SectionEntry& s = section_of(view(bytes), kind);
  std::vector<T> out(s.size / sizeof(T));
  std::memcpy(out.data(), bytes.data() + s.offset, s.size);
  return out;
}

// read_index refuses the file with FormatError; returns its message. So does read_index_info,
// unless only_structure is false: it checks the header, the table, sizes and checksums, but not
// the rules of the contents (unique ids, finite values) that read_index enforces. Also checks
// that no loader allocated more than the file's size plus a little, so a header cannot make
// one allocate what the file does not hold.
std::string load_error(const std::string& path, bool only_structure = true) {
  const std::size_t file_size = static_cast<std::size_t>(fs::file_size(path));
  g_largest_allocation = 0;
  const std::string msg = message_of<FormatError>([&] { read_index(path); });
  if (only_structure) {
    message_of<FormatError>([&] { read_index_info(path); });
  } else {
    EXPECT_NO_THROW(read_index_info(path));
  }
  EXPECT_LE(g_largest_allocation.load(), file_size + (std::size_t{1} << 16))
      << "a loader allocated more than the file holds";
  return msg;
}

std::string load_error(const TempDir& dir, const std::vector<std::uint8_t>& bytes) {
  const std::string path = dir.file("edited.knnx");
  write_bytes(path, bytes);
  return load_error(path);
}

// The same for files whose structure is sound but whose contents break the index's rules.
std::string content_error(const TempDir& dir, const std::vector<std::uint8_t>& bytes) {
  const std::string path = dir.file("edited.knnx");
  write_bytes(path, bytes);
  return load_error(path, false);
}

// --- Indexes under test.

constexpr int kDim = 16;

std::unique_ptr<IndexFlat> make_flat(Metric metric, idx_t n = 300, std::uint32_t seed = 1) {
  auto index = std::make_unique<IndexFlat>(kDim, metric);
  const std::vector<float> x = gaussian(n, kDim, seed);
  index->add(n, x.data());
  return index;
}

std::unique_ptr<IndexIVFFlat> make_ivf(Metric metric, int n_lists = 8, idx_t n = 600) {
  auto index = std::make_unique<IndexIVFFlat>(kDim, n_lists, metric);
  KMeansParams p = index->kmeans_params();
  p.n_iter = 6;
  p.seed = 99;
  p.init = KMeansParams::Init::Random;
  p.min_points_per_centroid = 5;
  index->set_kmeans_params(p);
  const std::vector<float> x = gaussian(n, kDim, 7);
  index->train(n, x.data());
  index->add(n, x.data());
  index->set_n_probe(3);
  return index;
}

// ------------------------------------------------------------------------------------------
// Round trips

class IndexIoMetric : public ::testing::TestWithParam<Metric> {};

TEST_P(IndexIoMetric, FlatRoundTripGivesIdenticalResults) {
  TempDir dir;
  const auto index = make_flat(GetParam());
  const std::string path = dir.file("flat.knnx");
  write_index(*index, path);
  std::unique_ptr<Index> loaded = read_index(path);
  auto& flat = as<IndexFlat>(loaded);
  EXPECT_EQ(flat.dim(), kDim);
  EXPECT_EQ(flat.metric(), GetParam());
  EXPECT_TRUE(flat.device().is_cpu());
  EXPECT_EQ(flat.ntotal(), index->ntotal());
  EXPECT_EQ(flat.vectors(), index->vectors());
  EXPECT_EQ(flat.ids(), index->ids());
  expect_same_results(*index, flat, gaussian(25, kDim, 3), 10);
  EXPECT_EQ(next_added_id(flat, dir), 300);
}

TEST_P(IndexIoMetric, FlatWithCustomIdsAndRemovals) {
  TempDir dir;
  IndexFlat index(kDim, GetParam());
  const std::vector<float> x = gaussian(200, kDim, 4);
  std::vector<idx_t> ids(200);
  std::mt19937_64 rng(5);
  std::set<idx_t> used;
  for (idx_t& id : ids) {
    do {
      id = static_cast<idx_t>(rng() % 1'000'000'000'000);
    } while (!used.insert(id).second);
  }
  index.add_with_ids(200, x.data(), ids.data());
  // Remove the largest id and a few others: add() must still number past the largest ever held.
  const idx_t largest = *used.rbegin();
  std::vector<idx_t> gone = {largest, ids[3], ids[50], ids[199]};
  ASSERT_EQ(index.remove_ids(static_cast<idx_t>(gone.size()), gone.data()), 4);

  const std::string path = dir.file("flat_ids.knnx");
  write_index(index, path);
  std::unique_ptr<Index> loaded = read_index(path);
  auto& flat = as<IndexFlat>(loaded);
  EXPECT_EQ(flat.ids(), index.ids());
  EXPECT_EQ(flat.vectors(), index.vectors());
  expect_same_results(index, flat, gaussian(17, kDim, 6), 12);
  EXPECT_EQ(next_added_id(flat, dir), largest + 1);
  EXPECT_EQ(next_added_id(index, dir), largest + 1);
  std::vector<float> v(kDim);
  EXPECT_THROW(flat.reconstruct(largest, v.data()), InvalidArgument);
  flat.reconstruct(ids[10], v.data());
  EXPECT_EQ(std::vector<float>(x.begin() + 10 * kDim, x.begin() + 11 * kDim), v);
}

TEST_P(IndexIoMetric, FlatEmptyAndEmptiedIndexes) {
  TempDir dir;
  IndexFlat empty(5, GetParam());
  write_index(empty, dir.file("empty.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("empty.knnx"));
  EXPECT_EQ(loaded->ntotal(), 0);
  EXPECT_EQ(loaded->dim(), 5);
  EXPECT_EQ(next_added_id(*loaded, dir), 0);

  // Every vector removed: nothing is stored, but ids 0..9 are not handed out again.
  IndexFlat emptied(5, GetParam());
  const std::vector<float> x = gaussian(10, 5, 8);
  emptied.add(10, x.data());
  std::vector<idx_t> all(10);
  for (idx_t i = 0; i < 10; ++i) all[i] = i;
  emptied.remove_ids(10, all.data());
  write_index(emptied, dir.file("emptied.knnx"));
  loaded = read_index(dir.file("emptied.knnx"));
  EXPECT_EQ(loaded->ntotal(), 0);
  EXPECT_EQ(next_added_id(*loaded, dir), 10);
  const SearchResult r = run_search(*loaded, std::vector<float>(5, 0.0f), 3);
  EXPECT_EQ(r.labels, std::vector<idx_t>(3, kNoLabel));
}

TEST_P(IndexIoMetric, IvfRoundTripKeepsListsSettingsAndResults) {
  TempDir dir;
  const auto index = make_ivf(GetParam());
  const std::string path = dir.file("ivf.knnx");
  write_index(*index, path);
  std::unique_ptr<Index> loaded = read_index(path);
  auto& ivf = as<IndexIVFFlat>(loaded);
  expect_same_ivf(*index, ivf);
  EXPECT_EQ(ivf.n_probe(), 3);
  EXPECT_EQ(ivf.kmeans_params().n_iter, 6);
  EXPECT_EQ(ivf.kmeans_params().seed, 99u);
  const std::vector<float> queries = gaussian(30, kDim, 9);
  expect_same_results(*index, ivf, queries, 10);
  index->set_n_probe(8);
  ivf.set_n_probe(8);
  expect_same_results(*index, ivf, queries, 10);
  EXPECT_EQ(next_added_id(ivf, dir), 600);

  // Both go on the same way: the same new vectors land in the same lists with the same ids.
  const std::vector<float> more = gaussian(50, kDim, 10);
  index->add(50, more.data());
  ivf.add(50, more.data());
  expect_same_ivf(*index, ivf);
}

TEST_P(IndexIoMetric, IvfWithCustomIdsAndRemovals) {
  TempDir dir;
  auto index = std::make_unique<IndexIVFFlat>(kDim, 6, GetParam());
  const std::vector<float> x = gaussian(400, kDim, 11);
  index->train(400, x.data());
  std::vector<idx_t> ids(400);
  for (idx_t i = 0; i < 400; ++i) ids[i] = 5000 + 7 * (399 - i);  // descending, sparse
  index->add_with_ids(400, x.data(), ids.data());
  std::vector<idx_t> gone;
  for (idx_t i = 0; i < 400; i += 9) gone.push_back(ids[i]);  // includes the largest id
  index->remove_ids(static_cast<idx_t>(gone.size()), gone.data());
  index->set_n_probe(2);

  write_index(*index, dir.file("ivf_ids.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("ivf_ids.knnx"));
  auto& ivf = as<IndexIVFFlat>(loaded);
  expect_same_ivf(*index, ivf);
  expect_same_results(*index, ivf, gaussian(20, kDim, 12), 7);
  EXPECT_EQ(next_added_id(ivf, dir), 5000 + 7 * 399 + 1);
  std::vector<float> v(kDim);
  ivf.reconstruct(ids[5], v.data());
  EXPECT_EQ(std::vector<float>(x.begin() + 5 * kDim, x.begin() + 6 * kDim), v);
  EXPECT_THROW(ivf.reconstruct(ids[0], v.data()), InvalidArgument);
}

TEST_P(IndexIoMetric, IvfUntrainedIndex) {
  TempDir dir;
  IndexIVFFlat index(kDim, 5, GetParam());
  index.set_n_probe(4);
  KMeansParams p;
  p.n_iter = 3;
  p.spherical = true;
  p.init = KMeansParams::Init::Random;
  p.max_points_per_centroid = 50;
  p.init_points_per_centroid = 0;
  index.set_kmeans_params(p);
  write_index(index, dir.file("untrained.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("untrained.knnx"));
  auto& ivf = as<IndexIVFFlat>(loaded);
  EXPECT_FALSE(ivf.is_trained());
  expect_same_ivf(index, ivf);
  // It trains like the saved one would have.
  const std::vector<float> x = gaussian(200, kDim, 13);
  index.train(200, x.data());
  ivf.train(200, x.data());
  EXPECT_EQ(index.centroids(), ivf.centroids());
}

INSTANTIATE_TEST_SUITE_P(Metrics, IndexIoMetric,
                         ::testing::Values(Metric::L2, Metric::InnerProduct),
                         [](const auto& info) { return info.param == Metric::L2 ? "L2" : "IP"; });

TEST(IndexIo, LoadingKeepsListMembershipWhereAssignmentWouldDiffer) {
  // Swap the two centroids in a saved file: every stored vector is now in the list whose
  // centroid is farther away. Loading must keep the lists as the file says, not re-assign.
  TempDir dir;
  IndexIVFFlat index(2, 2, Metric::L2);
  const std::vector<float> centroids = {0.0f, 0.0f, 10.0f, 0.0f};
  index.set_centroids(centroids.data());
  const std::vector<float> x = {0.5f, 0.0f, 9.5f, 0.0f, 1.0f, 1.0f, 11.0f, -1.0f};
  index.add(4, x.data());
  ASSERT_EQ(index.list_ids(0), (std::vector<idx_t>{0, 2}));
  write_index(index, dir.file("a.knnx"));
  const std::vector<float> swapped = {10.0f, 0.0f, 0.0f, 0.0f};
  write_bytes(dir.file("b.knnx"), with_section_values(read_bytes(dir.file("a.knnx")),
                                                      fmtv::SectionKind::Centroids, 0, swapped));
  std::unique_ptr<Index> loaded = read_index(dir.file("b.knnx"));
  auto& ivf = as<IndexIVFFlat>(loaded);
  EXPECT_EQ(ivf.centroids(), swapped);
  EXPECT_EQ(ivf.list_ids(0), (std::vector<idx_t>{0, 2}));
  EXPECT_EQ(ivf.list_ids(1), (std::vector<idx_t>{1, 3}));
}

TEST(IndexIo, InfoDescribesTheFile) {
  TempDir dir;
  const auto index = make_ivf(Metric::InnerProduct, 4, 100);
  write_index(*index, dir.file("ivf.knnx"));
  const IndexFileInfo info = read_index_info(dir.file("ivf.knnx"));
  EXPECT_EQ(info.format_version, 2u);
  EXPECT_EQ(info.index_type, "IVFFlat");
  EXPECT_EQ(info.dim, kDim);
  EXPECT_EQ(info.stored_dim, kDim);
  EXPECT_TRUE(info.transforms.empty());
  EXPECT_EQ(info.metric, Metric::InnerProduct);
  EXPECT_EQ(info.ntotal, 100);
  EXPECT_TRUE(info.trained);
  EXPECT_EQ(info.next_id, 100);
  EXPECT_EQ(info.n_lists, 4);
  EXPECT_EQ(info.n_probe, 3);
  EXPECT_EQ(info.kmeans.n_iter, 6);
  EXPECT_EQ(info.list_sizes, index->list_sizes());
  EXPECT_EQ(info.file_size, fs::file_size(dir.file("ivf.knnx")));
  std::vector<std::string> names;
  for (const auto& s : info.sections) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"kmeans_params", "centroids", "list_sizes", "list_ids",
                                             "list_vectors"}));
  EXPECT_EQ(info.sections.back().size, 100u * kDim * sizeof(float));
  EXPECT_EQ(info.sections.back().offset % 64, 0u);

  const auto flat = make_flat(Metric::L2, 10);
  write_index(*flat, dir.file("flat.knnx"));
  const IndexFileInfo flat_info = read_index_info(dir.file("flat.knnx"));
  EXPECT_EQ(flat_info.index_type, "Flat");
  EXPECT_EQ(flat_info.n_lists, 0);
  EXPECT_TRUE(flat_info.list_sizes.empty());
  ASSERT_EQ(flat_info.sections.size(), 2u);
  EXPECT_EQ(flat_info.sections[0].name, "vectors");
  EXPECT_EQ(flat_info.sections[1].name, "ids");
}

TEST(IndexIo, SavingTwiceReplacesTheFileAndLeavesNoTemporaryFiles) {
  TempDir dir;
  const std::string path = dir.file("index.knnx");
  write_index(*make_flat(Metric::L2, 50), path);
  write_index(*make_flat(Metric::L2, 70, 2), path);
  EXPECT_EQ(read_index(path)->ntotal(), 70);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"index.knnx"});
}

TEST(IndexIo, OtherIndexTypesAreNotSupported) {
  class Custom : public Index {
   public:
    Custom() : Index(4, Metric::L2) {}
    Device device() const override { return Device::cpu(); }
    idx_t ntotal() const override { return 0; }
    bool is_trained() const override { return true; }

   protected:
    void do_train(idx_t, const float*) override {}
    void do_add(idx_t, const float*, const idx_t*) override {}
    void do_search(idx_t, const float*, int, float*, idx_t*, const SearchParams*) const override {}
    idx_t do_remove_ids(idx_t, const idx_t*) override { return 0; }
    void do_reconstruct(idx_t, float*) const override {}
    void do_reset() override {}
    void check_new_ids(idx_t, const idx_t*) const override {}
    idx_t next_sequential_id() const override { return 0; }
  };
  TempDir dir;
  const Custom custom;
  EXPECT_THROW(write_index(custom, dir.file("x.knnx")), NotSupported);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(IndexIo, LoadingOntoAMissingDeviceFails) {
  TempDir dir;
  write_index(*make_flat(Metric::L2, 10), dir.file("flat.knnx"));
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  if (cuda_backend_compiled()) {
    EXPECT_THROW(read_index(dir.file("flat.knnx"), Device::cuda(0)), InvalidArgument);
  } else {
    EXPECT_THROW(read_index(dir.file("flat.knnx"), Device::cuda(0)), NotSupported);
  }
}

// A GPU-built index loads onto the CPU (and back) with the same contents.
TEST(IndexIo, GpuIndexesLoadOntoTheCpuAndBack) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  TempDir dir;
  const std::vector<float> x = gaussian(500, kDim, 21);
  IndexFlat gpu_flat(kDim, Metric::L2, Device::cuda(0));
  gpu_flat.add(500, x.data());
  write_index(gpu_flat, dir.file("gpu_flat.knnx"));
  std::unique_ptr<Index> cpu_flat = read_index(dir.file("gpu_flat.knnx"));
  EXPECT_TRUE(cpu_flat->device().is_cpu());
  EXPECT_EQ(as<IndexFlat>(cpu_flat).vectors(), gpu_flat.vectors());
  std::unique_ptr<Index> back = read_index(dir.file("gpu_flat.knnx"), Device::cuda(0));
  EXPECT_TRUE(back->device().is_cuda());
  const std::vector<float> queries = gaussian(10, kDim, 22);
  EXPECT_EQ(run_search(*back, queries, 5).labels, run_search(gpu_flat, queries, 5).labels);

  IndexIVFFlat gpu_ivf(kDim, 8, Metric::L2, Device::cuda(0));
  gpu_ivf.train(500, x.data());
  gpu_ivf.add(500, x.data());
  gpu_ivf.set_n_probe(8);
  write_index(gpu_ivf, dir.file("gpu_ivf.knnx"));
  std::unique_ptr<Index> cpu_ivf = read_index(dir.file("gpu_ivf.knnx"));
  expect_same_ivf(gpu_ivf, as<IndexIVFFlat>(cpu_ivf));
  std::unique_ptr<Index> gpu_again = read_index(dir.file("gpu_ivf.knnx"), Device::cuda(0));
  expect_same_ivf(gpu_ivf, as<IndexIVFFlat>(gpu_again));
  EXPECT_EQ(run_search(*gpu_again, queries, 5).labels, run_search(gpu_ivf, queries, 5).labels);
}

// ------------------------------------------------------------------------------------------
// Paths that cannot be read or written

TEST(IndexIoPaths, MissingFileAndDirectoryAreIoErrors) {
  TempDir dir;
  EXPECT_TRUE(
      has_substr(message_of<IoError>([&] { read_index(dir.file("absent.knnx")); }), "absent.knnx"));
  EXPECT_TRUE(
      has_substr(message_of<IoError>([&] { read_index(dir.path().string()); }), "directory"));
  EXPECT_THROW(read_index_info(dir.path().string()), IoError);
  const auto flat = make_flat(Metric::L2, 10);
  EXPECT_TRUE(has_substr(message_of<IoError>([&] { write_index(*flat, dir.path().string()); }),
                         "directory"));
  EXPECT_THROW(write_index(*flat, dir.file("no/such/dir/index.knnx")), IoError);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(IndexIoPaths, UnreadableFileIsAnIoError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their permissions";
  TempDir dir;
  const std::string path = dir.file("index.knnx");
  write_index(*make_flat(Metric::L2, 10), path);
  fs::permissions(path, fs::perms::none);
  EXPECT_THROW(read_index(path), IoError);
}

TEST(IndexIoPaths, ReadOnlyDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  TempDir dir;
  const std::string path = dir.file("index.knnx");
  write_index(*make_flat(Metric::L2, 10), path);
  const std::vector<std::uint8_t> before = read_bytes(path);
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(write_index(*make_flat(Metric::L2, 20), path), IoError);
  fs::permissions(dir.path(), fs::perms::owner_all);
  EXPECT_EQ(read_bytes(path), before);
}

// The file system refuses the new file part-way (a file size limit, as a full disk would):
// the old index stays in place, whole, and no temporary file is left behind.
TEST(IndexIoPaths, FailedSaveKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("index.knnx");
  write_index(*make_flat(Metric::L2, 10), path);
  const std::vector<std::uint8_t> before = read_bytes(path);
  const auto big = make_flat(Metric::L2, 5000);  // 320 kB of vectors

  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // make write() fail with EFBIG
  rlimit small = old_limit;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    write_index(*big, path);
  } catch (const IoError& e) {
    msg = e.what();
  } catch (...) {
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_TRUE(has_substr(msg, "index.knnx.tmp.")) << msg;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(read_index(path)->ntotal(), 10);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"index.knnx"});
}

// ------------------------------------------------------------------------------------------
// Damaged files

class IndexIoDamage : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = dir_.file("good.knnx");
    if (std::string(GetParam()) == "Flat") {
      IndexFlat index(3, Metric::L2);
      const std::vector<float> x = gaussian(7, 3, 31);
      index.add(7, x.data());
      write_index(index, path_);
    } else if (std::string(GetParam()) == "PCA,Flat") {
      IndexPreTransform index(std::make_shared<PCA>(3, 2), std::make_unique<IndexFlat>(2));
      const std::vector<float> x = gaussian(7, 3, 33);
      index.train(7, x.data());
      index.add(7, x.data());
      write_index(index, path_);
    } else if (std::string(GetParam()) == "OPQ,L2norm,RR,IVFFlat") {
      OpqParams p;
      p.n_iter = 2;
      p.ksub = 4;
      p.kmeans_iter = 2;
      p.max_train_points = 100;
      auto ivf = std::make_unique<IndexIVFFlat>(2, 3, Metric::L2);
      auto rr = std::make_unique<IndexPreTransform>(std::make_shared<RandomRotation>(3, 2, 5),
                                                    std::move(ivf));
      auto l2 =
          std::make_unique<IndexPreTransform>(std::make_shared<L2Normalize>(3), std::move(rr));
      IndexPreTransform index(std::make_shared<OPQ>(3, 3, 1, p), std::move(l2));
      const std::vector<float> x = gaussian(9, 3, 34);
      index.train(9, x.data());
      index.add(9, x.data());
      write_index(index, path_);
    } else {
      IndexIVFFlat index(3, 3, Metric::InnerProduct);
      const std::vector<float> x = gaussian(9, 3, 32);
      index.train(9, x.data());
      index.add(9, x.data());
      write_index(index, path_);
    }
    good_ = read_bytes(path_);
    ASSERT_NO_THROW(read_index(path_));
  }

  TempDir dir_;
  std::string path_;
  std::vector<std::uint8_t> good_;
};

TEST_P(IndexIoDamage, EveryTruncationIsAFormatError) {
  const FileView v = view(good_);
  std::set<std::size_t> cuts = {0, 1, 7, 8, 12, 64, 127, 128, good_.size() - 1};
  for (const auto& s : v.sections) {
    cuts.insert(s.offset);
    cuts.insert(s.offset + 1);
    if (s.size > 0) cuts.insert(s.offset + s.size - 1);
    cuts.insert(s.offset + s.size);
  }
  for (std::size_t cut = 0; cut < good_.size(); cut += 5) cuts.insert(cut);
  for (std::size_t cut : cuts) {
    if (cut >= good_.size()) continue;
    const std::string msg = load_error(
        dir_, std::vector<std::uint8_t>(good_.begin(), good_.begin() + static_cast<long>(cut)));
    EXPECT_TRUE(has_substr(msg, cut == 0  ? "empty"
                                : cut < 8 ? "magic"
                                          : "truncated"))
        << "cut at " << cut;
  }
}

TEST_P(IndexIoDamage, TrailingBytesAreAFormatError) {
  std::vector<std::uint8_t> bytes = good_;
  bytes.push_back(0);
  EXPECT_TRUE(has_substr(load_error(dir_, bytes), "trailing"));
}

// Every byte of the file is covered by a check: flipping any one bit of it is caught.
TEST_P(IndexIoDamage, EveryFlippedByteIsAFormatError) {
  const FileView v = view(good_);
  for (std::size_t at = 0; at < good_.size(); ++at) {
    std::vector<std::uint8_t> bytes = good_;
    bytes[at] ^= static_cast<std::uint8_t>(1u << (at % 8));
    const std::string msg = load_error(dir_, bytes);
    std::string expect;
    if (at < 8) {
      expect = "magic";
    } else if (at < 12) {
      expect = "version";
    } else if (at < 16) {
      expect = "header size";
    } else if (at < fmtv::kHeaderBytes) {
      expect = "header checksum";
    } else if (at < fmtv::kHeaderBytes + v.sections.size() * fmtv::kSectionEntryBytes) {
      expect = "table checksum";
    } else {
      for (const auto& s : v.sections) {
        if (at < s.offset) {
          expect = "padding";
          break;
        }
        if (at < s.offset + s.size) {
          expect = "'" + fmtv::section_name(s.kind) + "' checksum";
          break;
        }
      }
    }
    EXPECT_TRUE(has_substr(msg, expect)) << "byte " << at;
  }
}

TEST_P(IndexIoDamage, HeaderFieldsOutOfRange) {
  struct Case {
    const char* expect;
    void (*edit)(fmtv::Header&);
  };
  const Case cases[] = {
      {"unsupported format version 0", [](fmtv::Header& h) { h.format_version = 0; }},
      {"unsupported format version 3", [](fmtv::Header& h) { h.format_version = 3; }},
      {"header size 256", [](fmtv::Header& h) { h.header_bytes = 256; }},
      {"unknown index type 0", [](fmtv::Header& h) { h.index_type = 0; }},
      {"unknown index type 10", [](fmtv::Header& h) { h.index_type = 10; }},
      {"unknown metric 2", [](fmtv::Header& h) { h.metric = 2; }},
      {"dim 0 is outside", [](fmtv::Header& h) { h.dim = 0; }},
      {"dim 65537 is outside", [](fmtv::Header& h) { h.dim = 65537; }},
      {"dim 4294967295 is outside", [](fmtv::Header& h) { h.dim = 0xFFFFFFFFu; }},
      {"unknown header flags", [](fmtv::Header& h) { h.flags |= 0x80u; }},
      {"ntotal 9223372036854775808 exceeds", [](fmtv::Header& h) { h.ntotal = 1ull << 63; }},
      {"next_id 18446744073709551615 exceeds", [](fmtv::Header& h) { h.next_id = ~0ull; }},
      {"truncated", [](fmtv::Header& h) { h.file_size += 64; }},
      {"trailing data", [](fmtv::Header& h) { h.file_size -= 1; }},
      {"section count 0", [](fmtv::Header& h) { h.section_count = 0; }},
      {"section count 4000000000", [](fmtv::Header& h) { h.section_count = 4000000000u; }},
      {"header lists 7 sections", [](fmtv::Header& h) { h.section_count = 7; }},
      // Sizes the file cannot hold: the section table disagrees (or the product overflows).
      {"needs", [](fmtv::Header& h) { h.ntotal = 1ull << 40; }},
      {"overflows", [](fmtv::Header& h) { h.ntotal = (1ull << 62) + 1; }},
      {"needs", [](fmtv::Header& h) { h.dim = 65536; }},
      {"needs", [](fmtv::Header& h) { h.ntotal += 1; }},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(has_substr(load_error(dir_, with_header(good_, c.edit)), c.expect)) << c.expect;
  }
  // Wrong magic, even with a valid header checksum.
  std::vector<std::uint8_t> bytes = good_;
  bytes[3] = 'Y';
  EXPECT_TRUE(has_substr(load_error(dir_, bytes), "bad magic"));
}

TEST_P(IndexIoDamage, SectionTableOutOfRange) {
  using Sections = std::vector<fmtv::SectionEntry>;
  struct Case {
    const char* expect;
    void (*edit)(Sections&);
  };
  const Case cases[] = {
      {"is 1152921504606846976 bytes", [](Sections& s) { s.back().size = 1ull << 60; }},
      {"is 18446744073709551615 bytes", [](Sections& s) { s.back().size = ~0ull; }},
      {"bytes; the header", [](Sections& s) { s.back().size += 4; }},
      {"starts at byte", [](Sections& s) { s.back().offset += 64; }},
      {"starts at byte", [](Sections& s) { s.back().offset = ~0ull - 10; }},
      {"appears more than once", [](Sections& s) { s.back().kind = s.front().kind; }},
      {"kind 99", [](Sections& s) { s.back().kind = 99; }},
      {"transform_chain", [](Sections& s) { s.back().kind = 8; }},
      // Centroids in a Flat file, vectors in an IVFFlat one.
      {"does not hold", [](Sections& s) { s.back().kind = s.back().kind == 2 ? 3 : 1; }},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(has_substr(load_error(dir_, with_table(good_, c.edit)), c.expect)) << c.expect;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, IndexIoDamage,
                         ::testing::Values("Flat", "IVFFlat", "PCA,Flat", "OPQ,L2norm,RR,IVFFlat"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name;
                           for (const char* c = info.param; *c != 0; ++c) {
                             if (std::isalnum(static_cast<unsigned char>(*c))) name += *c;
                           }
                           return name;
                         });

// Files whose checksums are right but whose contents break the index's rules.
TEST(IndexIoContents, FlatIdsAndVectorsAreChecked) {
  TempDir dir;
  IndexFlat index(2, Metric::L2);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  index.add(3, x.data());
  write_index(index, dir.file("a.knnx"));
  const std::vector<std::uint8_t> good = read_bytes(dir.file("a.knnx"));
  using fmtv::SectionKind;
  EXPECT_TRUE(
      has_substr(content_error(dir, with_section_values<idx_t>(good, SectionKind::Ids, 1, {0})),
                 "section 'ids' holds the id 0 more than once"));
  EXPECT_TRUE(
      has_substr(content_error(dir, with_section_values<idx_t>(good, SectionKind::Ids, 2, {-5})),
                 "negative id -5"));
  EXPECT_TRUE(
      has_substr(content_error(dir, with_section_values<idx_t>(good, SectionKind::Ids, 2, {3})),
                 "the id 3, not below the header's next_id 3"));
  EXPECT_TRUE(has_substr(
      content_error(dir, with_section_values<float>(good, SectionKind::Vectors, 3,
                                                    {std::numeric_limits<float>::quiet_NaN()})),
      "non-finite value (nan) in row 1, component 1"));
  EXPECT_TRUE(has_substr(
      content_error(dir, with_section_values<float>(good, SectionKind::Vectors, 4,
                                                    {std::numeric_limits<float>::infinity()})),
      "row 2, component 0"));
}

// Stored vectors above the norm bound (kMaxSquaredNorm), which add refuses, are refused on load,
// naming the section and the row; just below it they load.
TEST(IndexIoContents, VectorsAboveTheNormBoundAreRefused) {
  TempDir dir;
  using fmtv::SectionKind;
  const float above = static_cast<float>(std::sqrt(kMaxSquaredNorm / 2 * 1.001));
  const float below = static_cast<float>(std::sqrt(kMaxSquaredNorm / 2 * 0.999));
  IndexFlat flat(2, Metric::L2);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  flat.add(3, x.data());
  write_index(flat, dir.file("flat.knnx"));
  const std::vector<std::uint8_t> flat_bytes = read_bytes(dir.file("flat.knnx"));
  EXPECT_TRUE(has_substr(
      content_error(
          dir, with_section_values<float>(flat_bytes, SectionKind::Vectors, 2, {above, above})),
      "section 'vectors' holds row 1 of squared L2 norm"));
  write_bytes(dir.file("below.knnx"),
              with_section_values<float>(flat_bytes, SectionKind::Vectors, 2, {below, below}));
  EXPECT_EQ(read_index(dir.file("below.knnx"))->ntotal(), 3);

  IndexIVFFlat ivf(2, 2, Metric::L2);
  const std::vector<float> c = {0, 0, 10, 0};
  ivf.set_centroids(c.data());
  ivf.add(3, x.data());
  write_index(ivf, dir.file("ivf.knnx"));
  const std::vector<std::uint8_t> ivf_bytes = read_bytes(dir.file("ivf.knnx"));
  EXPECT_TRUE(has_substr(
      content_error(
          dir, with_section_values<float>(ivf_bytes, SectionKind::ListVectors, 4, {above, above})),
      "section 'list_vectors' holds row 2 of squared L2 norm"));
  EXPECT_TRUE(has_substr(
      content_error(
          dir, with_section_values<float>(ivf_bytes, SectionKind::Centroids, 0, {above, above})),
      "section 'centroids' holds row 0 of squared L2 norm"));
}

TEST(IndexIoContents, IvfListsCentroidsAndSettingsAreChecked) {
  TempDir dir;
  IndexIVFFlat index(2, 2, Metric::L2);
  const std::vector<float> c = {0, 0, 10, 0};
  index.set_centroids(c.data());
  const std::vector<float> x = {1, 0, 9, 0, 0, 1, 11, 1};
  index.add(4, x.data());
  write_index(index, dir.file("a.knnx"));
  const std::vector<std::uint8_t> good = read_bytes(dir.file("a.knnx"));
  using fmtv::SectionKind;
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::uint64_t>(good, SectionKind::ListSizes, 0, {1})),
      "the lists hold 3 vectors, but ntotal = 4"));
  EXPECT_TRUE(has_substr(load_error(dir, with_section_values<std::uint64_t>(
                                             good, SectionKind::ListSizes, 0, {~0ull, 5})),
                         "hold more than ntotal = 4"));
  EXPECT_TRUE(
      has_substr(content_error(dir, with_section_values<idx_t>(good, SectionKind::ListIds, 3, {2})),
                 "section 'list_ids' holds the id 2 more than once"));
  EXPECT_TRUE(has_substr(
      content_error(dir, with_section_values<float>(good, SectionKind::Centroids, 2,
                                                    {std::numeric_limits<float>::infinity()})),
      "section 'centroids' holds a non-finite value (inf) in row 1"));
  EXPECT_TRUE(has_substr(
      content_error(dir, with_section_values<float>(good, SectionKind::ListVectors, 7,
                                                    {-std::numeric_limits<float>::infinity()})),
      "section 'list_vectors' holds a non-finite value (-inf) in row 3, component 1"));
  // The k-means record: n_iter, init, max/min/init points per centroid, spherical, seed.
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::int32_t>(good, SectionKind::KMeansParams, 0, {-1})),
      "section 'kmeans_params': "));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::uint32_t>(good, SectionKind::KMeansParams, 1, {7})),
      "unknown init method 7"));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::int32_t>(good, SectionKind::KMeansParams, 2, {0})),
      "section 'kmeans_params': "));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::uint32_t>(good, SectionKind::KMeansParams, 5, {2})),
      "spherical is 2"));
  // An untrained index with vectors, and n_probe outside [1, n_lists].
  EXPECT_TRUE(has_substr(load_error(dir, with_header(good, [](fmtv::Header& h) { h.flags = 0; })),
                         "an untrained IVFFlat index holds no vectors"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(good, [](fmtv::Header& h) { h.n_probe = 3; })),
                         "n_probe 3 is outside [1, n_lists = 2]"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(good, [](fmtv::Header& h) { h.n_probe = 0; })),
                         "n_probe 0 is outside"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(good, [](fmtv::Header& h) { h.n_lists = 0; })),
                         "n_lists 0 is outside"));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_header(good, [](fmtv::Header& h) { h.n_lists = 0x7FFFFFFF; })),
      "needs"));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_header(good, [](fmtv::Header& h) { h.n_lists = 0x80000000u; })),
      "n_lists 2147483648 is outside"));
}

// The transform chain: every field of a record is checked against the rules of its type, the
// chain's dimensions and the header (values edited in place, checksums kept valid).
TEST(IndexIoContents, TransformChainsAreChecked) {
  TempDir dir;
  using fmtv::SectionKind;
  const std::vector<float> x = gaussian(300, 4, 41);
  // PCA 4 -> 2 over a Flat index of 5 vectors. u32 words of the section: 0 count, 1 d_in,
  // 2-3 reserved; the record: 4 type, 5 d_in, 6 d_out, 7 flags, 8 whiten, 9 whiten_eps,
  // 10-15 unused; then floats from word 16: mean (4), matrix (8), reverse (8), eigenvalues (4).
  IndexPreTransform pca(std::make_shared<PCA>(4, 2), std::make_unique<IndexFlat>(2));
  pca.train(300, x.data());
  pca.add(5, x.data());
  write_index(pca, dir.file("pca.knnx"));
  const std::vector<std::uint8_t> good = read_bytes(dir.file("pca.knnx"));
  ASSERT_NO_THROW(read_index(dir.file("pca.knnx")));
  const auto words = [&](std::size_t at, std::vector<std::uint32_t> v) {
    return load_error(dir,
                      with_section_values<std::uint32_t>(good, SectionKind::TransformChain, at, v));
  };
  const auto floats = [&](std::size_t at, float v) {
    return load_error(dir, with_section_values<float>(good, SectionKind::TransformChain, at, {v}));
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::string msg;
    const char* expect;
  };
  const Case cases[] = {
      {words(0, {0}), "section 'transform_chain': transform count 0 is outside [1, 16]"},
      {words(0, {17}), "transform count 17 is outside"},
      {words(0, {2}), "transform 1 needs 48 bytes"},
      {words(1, {5}), "transform 0 (PCA): d_in 4 differs from the 5 dimensions the chain receives"},
      {words(1, {0}), "d_in 0 is outside [1, 65536]"},
      {words(3, {1}), "reserved chain header bytes"},
      {words(4, {9}), "transform 0 (type 9): unknown transform type 9"},
      {words(4, {0}), "unknown transform type 0"},
      {words(4, {3}), "transform 0 (L2Normalize): d_out 2 differs from d_in 4"},
      {words(5, {70000}), "d_in 70000 is outside"},
      {words(6, {5}), "(PCA): d_out 5 exceeds d_in 4"},
      {words(6, {0}), "d_out 0 is outside"},
      {words(7, {3}), "unknown flags 0x00000003"},
      {words(7, {0}), "the transform is not trained, but the index holds 5 vectors"},
      {words(8, {2}), "whiten is 2, not 0 or 1"},
      {words(12, {1}), "unused parameter byte 32 of the record is not zero"},
      {floats(9, nan), "whiten_eps nan is not a finite value >= 0"},
      {floats(9, -1.0f), "whiten_eps -1 is not"},
      {floats(17, nan), "the mean holds a non-finite value (nan) at 1"},
      {floats(21, inf), "the matrix holds a non-finite value (inf) at 1"},
      {floats(30, -inf), "the reverse matrix holds a non-finite value (-inf) at 2"},
      {floats(39, nan), "the eigenvalues holds a non-finite value (nan) at 3"},
  };
  for (const Case& c : cases) EXPECT_TRUE(has_substr(c.msg, c.expect)) << c.expect;
  // A version-1 file knows no chain flag.
  EXPECT_TRUE(
      has_substr(load_error(dir, with_header(good, [](fmtv::Header& h) { h.format_version = 1; })),
                 "unknown header flags 0x00000003 for format version 1"));
  // Without the flag, the chain is a section the index does not hold.
  EXPECT_TRUE(has_substr(
      load_error(dir, with_header(good, [](fmtv::Header& h) { h.flags = fmtv::kFlagTrained; })),
      "header lists 3 sections; a Flat index has 2"));

  // OPQ 4 -> 4 with m = 2 over a Flat index: words 8 m, 9 n_iter, 10 ksub, 11 kmeans_iter,
  // 12-13 max_train_points, 14-15 seed; doubles after mean, matrix and reverse (36 floats from
  // word 16): the objective, from double 26.
  OpqParams p;
  p.n_iter = 2;
  p.ksub = 8;
  p.kmeans_iter = 2;
  p.max_train_points = 300;
  IndexPreTransform opq(std::make_shared<OPQ>(4, 4, 2, p), std::make_unique<IndexFlat>(4));
  opq.train(300, x.data());
  opq.add(5, x.data());
  write_index(opq, dir.file("opq.knnx"));
  const std::vector<std::uint8_t> good_opq = read_bytes(dir.file("opq.knnx"));
  ASSERT_NO_THROW(read_index(dir.file("opq.knnx")));
  const auto opq_words = [&](std::size_t at, std::vector<std::uint32_t> v) {
    return load_error(
        dir, with_section_values<std::uint32_t>(good_opq, SectionKind::TransformChain, at, v));
  };
  const Case opq_cases[] = {
      {opq_words(8, {3}), "transform 0 (OPQ): m 3 does not divide d_out 4"},
      {opq_words(8, {0}), "m 0 does not divide"},
      {opq_words(9, {0}), "n_iter 0 is below 1"},
      {opq_words(9, {3}), "the objective needs 3 x 8 bytes"},
      {opq_words(9, {0x7fffffff}), "the objective needs 2147483647 x 8 bytes"},
      {opq_words(10, {0}), "ksub 0 is below 1"},
      {opq_words(11, {0}), "kmeans_iter 0 is below 1"},
      {opq_words(12, {7, 0}), "max_train_points 7 is below ksub 8"},
      {load_error(dir, with_section_values<double>(good_opq, SectionKind::TransformChain, 26,
                                                   {std::numeric_limits<double>::infinity()})),
       "the objective holds a non-finite value (inf) at 0"},
  };
  for (const Case& c : opq_cases) EXPECT_TRUE(has_substr(c.msg, c.expect)) << c.expect;
}

TEST(IndexIoContents, OtherFilesAreNotIndexFiles) {
  TempDir dir;
  write_bytes(dir.file("empty.knnx"), {});
  EXPECT_TRUE(has_substr(load_error(dir.file("empty.knnx")), "file is empty"));
  write_bytes(dir.file("short.knnx"), {'K', 'N', 'N'});
  EXPECT_TRUE(has_substr(load_error(dir.file("short.knnx")), "shorter than the 8-byte magic"));
  // An .fvecs file (dimension 4, then 4 floats).
  std::vector<std::uint8_t> fvecs(20, 0);
  fvecs[0] = 4;
  write_bytes(dir.file("x.fvecs"), fvecs);
  EXPECT_TRUE(has_substr(load_error(dir.file("x.fvecs")), "not a knnx index file: bad magic"));
}

// ------------------------------------------------------------------------------------------
// Version-1 files committed in tests/data: every later knnx must keep loading them.
//
// Their contents follow from closed formulas (exact in float32), so the test checks what was
// saved, not what today's code would build. IndexIoFixtures.WriteVersion1Files rewrites them
// when KNNX_WRITE_INDEX_FIXTURES names a directory.

constexpr int kFixtureFlatDim = 6;
constexpr int kFixtureIvfDim = 4;

std::vector<float> fixture_flat_vector(int i) {
  std::vector<float> v(kFixtureFlatDim);
  for (int j = 0; j < kFixtureFlatDim; ++j) {
    v[j] = static_cast<float>((i * 7 + j * 3) % 11 - 5) + 0.25f * static_cast<float>(j);
  }
  return v;
}

// Twelve rows with ids 100, 103, ..., 133; ids 103 and 133 (the largest) removed.
std::unique_ptr<IndexFlat> make_fixture_flat() {
  auto index = std::make_unique<IndexFlat>(kFixtureFlatDim, Metric::L2);
  for (int i = 0; i < 12; ++i) {
    const std::vector<float> v = fixture_flat_vector(i);
    const idx_t id = 100 + 3 * i;
    index->add_with_ids(1, v.data(), &id);
  }
  const std::vector<idx_t> gone = {103, 133};
  index->remove_ids(2, gone.data());
  return index;
}

std::vector<float> fixture_centroid(int list) {
  std::vector<float> c(kFixtureIvfDim, 0.0f);
  if (list > 0) c[static_cast<std::size_t>(list - 1)] = 10.0f;
  return c;
}

// Vector i sits within 1.5 of centroid i % 3.
std::vector<float> fixture_ivf_vector(int i) {
  std::vector<float> v = fixture_centroid(i % 3);
  v[0] += 0.125f * static_cast<float>(i % 8);
  v[1] -= 0.25f * static_cast<float>(i % 5);
  v[2] += 0.5f;
  v[3] += 0.0625f * static_cast<float>(i);
  return v;
}

KMeansParams fixture_kmeans() {
  KMeansParams p;
  p.n_iter = 5;
  p.init = KMeansParams::Init::Random;
  p.max_points_per_centroid = 100;
  p.min_points_per_centroid = 3;
  p.init_points_per_centroid = 8;
  p.seed = 77;
  return p;
}

// Three lists around fixed centroids; vectors 0..14 with ids 1000+i; 1004 and 1014 removed.
std::unique_ptr<IndexIVFFlat> make_fixture_ivf() {
  auto index = std::make_unique<IndexIVFFlat>(kFixtureIvfDim, 3, Metric::L2);
  index->set_kmeans_params(fixture_kmeans());
  std::vector<float> centroids;
  for (int l = 0; l < 3; ++l) {
    const std::vector<float> c = fixture_centroid(l);
    centroids.insert(centroids.end(), c.begin(), c.end());
  }
  index->set_centroids(centroids.data());
  for (int i = 0; i < 15; ++i) {
    const std::vector<float> v = fixture_ivf_vector(i);
    const idx_t id = 1000 + i;
    index->add_with_ids(1, v.data(), &id);
  }
  const std::vector<idx_t> gone = {1004, 1014};
  index->remove_ids(2, gone.data());
  index->set_n_probe(2);
  return index;
}

std::string fixture_path(const char* name) { return std::string(KNNX_TEST_DATA_DIR) + "/" + name; }

// Eight points +-s_j e_j with s = (4, 3, 2, 1): mean zero, covariance diag(s^2 / 4), so PCA to
// three dimensions keeps the axes e0, e1, e2 in that order.
std::vector<float> fixture_axis_points() {
  const float s[4] = {4, 3, 2, 1};
  std::vector<float> x(8 * 4, 0.0f);
  for (int j = 0; j < 4; ++j) {
    x[static_cast<std::size_t>(2 * j) * 4 + j] = s[j];
    x[static_cast<std::size_t>(2 * j + 1) * 4 + j] = -s[j];
  }
  return x;
}

// PCA 4 -> 3, then L2 normalisation, in front of an IVFFlat index with two set centroids (no
// vector is equally near both); the eight axis points with ids 10..17; n_probe 2.
std::unique_ptr<Index> make_fixture_chain() {
  const std::vector<float> x = fixture_axis_points();
  auto pca = std::make_shared<PCA>(4, 3);
  pca->train(8, x.data());
  auto ivf = std::make_unique<IndexIVFFlat>(3, 2, Metric::L2);
  ivf->set_kmeans_params(fixture_kmeans());
  const std::vector<float> centroids = {1, 0, 0, 0, 1, 0.5f};
  ivf->set_centroids(centroids.data());
  ivf->set_n_probe(2);
  auto norm = std::make_unique<IndexPreTransform>(std::make_shared<L2Normalize>(3), std::move(ivf));
  auto index = std::make_unique<IndexPreTransform>(pca, std::move(norm));
  std::vector<idx_t> ids(8);
  for (int i = 0; i < 8; ++i) ids[static_cast<std::size_t>(i)] = 10 + i;
  index->add_with_ids(8, x.data(), ids.data());
  return index;
}

TEST(IndexIoFixtures, WriteFixtureFiles) {
  const char* out = std::getenv("KNNX_WRITE_INDEX_FIXTURES");
  if (out == nullptr) GTEST_SKIP() << "set KNNX_WRITE_INDEX_FIXTURES=DIR to rewrite tests/data";
  ASSERT_EQ(fmtv::kFormatVersion, 2u) << "version-2 files must be written by a version-2 writer";
  write_index(*make_fixture_flat(), std::string(out) + "/index_flat_v2.knnx");
  write_index(*make_fixture_ivf(), std::string(out) + "/index_ivfflat_v2.knnx");
  write_index(*make_fixture_chain(), std::string(out) + "/index_pca_l2norm_ivfflat_v2.knnx");
}

void expect_fixture_flat(const char* name, std::uint32_t version) {
  const std::string path = fixture_path(name);
  const IndexFileInfo info = read_index_info(path);
  EXPECT_EQ(info.format_version, version);
  std::unique_ptr<Index> loaded = read_index(path);
  auto& flat = as<IndexFlat>(loaded);
  EXPECT_EQ(flat.dim(), kFixtureFlatDim);
  EXPECT_EQ(flat.metric(), Metric::L2);
  std::vector<idx_t> ids;
  std::vector<float> vectors;
  for (int i = 0; i < 12; ++i) {
    if (i == 1 || i == 11) continue;
    ids.push_back(100 + 3 * i);
    const std::vector<float> v = fixture_flat_vector(i);
    vectors.insert(vectors.end(), v.begin(), v.end());
  }
  EXPECT_EQ(flat.ids(), ids);
  EXPECT_EQ(flat.vectors(), vectors);
  const SearchResult r = run_search(flat, fixture_flat_vector(4), 2);
  EXPECT_EQ(r.labels[0], 112);
  EXPECT_EQ(r.distances[0], 0.0f);
  TempDir dir;
  EXPECT_EQ(next_added_id(flat, dir), 134);
}

TEST(IndexIoFixtures, Version1FlatFileLoads) { expect_fixture_flat("index_flat_v1.knnx", 1); }
TEST(IndexIoFixtures, Version2FlatFileLoads) { expect_fixture_flat("index_flat_v2.knnx", 2); }

void expect_fixture_ivf(const char* name, std::uint32_t version) {
  const std::string path = fixture_path(name);
  EXPECT_EQ(read_index_info(path).format_version, version);
  std::unique_ptr<Index> loaded = read_index(path);
  auto& ivf = as<IndexIVFFlat>(loaded);
  EXPECT_EQ(ivf.dim(), kFixtureIvfDim);
  EXPECT_EQ(ivf.metric(), Metric::L2);
  EXPECT_EQ(ivf.n_lists(), 3);
  EXPECT_EQ(ivf.n_probe(), 2);
  EXPECT_TRUE(ivf.is_trained());
  const KMeansParams p = ivf.kmeans_params();
  const KMeansParams want = fixture_kmeans();
  EXPECT_EQ(p.n_iter, want.n_iter);
  EXPECT_EQ(p.init, want.init);
  EXPECT_EQ(p.max_points_per_centroid, want.max_points_per_centroid);
  EXPECT_EQ(p.min_points_per_centroid, want.min_points_per_centroid);
  EXPECT_EQ(p.init_points_per_centroid, want.init_points_per_centroid);
  EXPECT_EQ(p.seed, want.seed);
  EXPECT_EQ(p.spherical, want.spherical);
  for (int l = 0; l < 3; ++l) {
    std::vector<idx_t> ids;
    std::vector<float> vectors;
    for (int i = l; i < 15; i += 3) {
      if (i == 4 || i == 14) continue;
      ids.push_back(1000 + i);
      const std::vector<float> v = fixture_ivf_vector(i);
      vectors.insert(vectors.end(), v.begin(), v.end());
    }
    EXPECT_EQ(ivf.list_ids(l), ids) << "list " << l;
    EXPECT_EQ(ivf.list_vectors(l), vectors) << "list " << l;
    const std::vector<float> c = ivf.centroids();
    EXPECT_EQ(
        std::vector<float>(c.begin() + l * kFixtureIvfDim, c.begin() + (l + 1) * kFixtureIvfDim),
        fixture_centroid(l));
  }
  // n_probe 2 with a query at centroid 1 scans lists 1 and (the next nearest) 0.
  const SearchResult r = run_search(ivf, fixture_ivf_vector(7), 3);
  EXPECT_EQ(r.labels[0], 1007);
  EXPECT_EQ(r.distances[0], 0.0f);
  TempDir dir;
  EXPECT_EQ(next_added_id(ivf, dir), 1015);
}

TEST(IndexIoFixtures, Version1IvfFlatFileLoads) { expect_fixture_ivf("index_ivfflat_v1.knnx", 1); }
TEST(IndexIoFixtures, Version2IvfFlatFileLoads) { expect_fixture_ivf("index_ivfflat_v2.knnx", 2); }

TEST(IndexIoFixtures, Version2ChainFileLoads) {
  const std::string path = fixture_path("index_pca_l2norm_ivfflat_v2.knnx");
  const IndexFileInfo info = read_index_info(path);
  EXPECT_EQ(info.format_version, 2u);
  EXPECT_EQ(info.dim, 4);
  EXPECT_EQ(info.stored_dim, 3);
  ASSERT_EQ(info.transforms.size(), 2u);
  std::unique_ptr<Index> loaded = read_index(path);
  EXPECT_EQ(loaded->dim(), 4);
  EXPECT_EQ(loaded->ntotal(), 8);
  auto& outer = as<IndexPreTransform>(loaded);
  const auto& pca = dynamic_cast<const PCA&>(outer.transform());
  EXPECT_FALSE(pca.params().whiten);
  const std::vector<float> want_matrix = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  const std::vector<float> want_eigenvalues = {4, 2.25f, 1, 0.25f};
  ASSERT_EQ(pca.matrix().size(), want_matrix.size());
  for (std::size_t i = 0; i < want_matrix.size(); ++i)
    EXPECT_NEAR(pca.matrix()[i], want_matrix[i], 1e-6) << i;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(pca.mean()[i], 0.0f, 1e-6) << i;
    EXPECT_NEAR(pca.eigenvalues()[i], want_eigenvalues[i], 1e-5) << i;
  }
  auto& norm = dynamic_cast<IndexPreTransform&>(outer.index());
  EXPECT_NE(dynamic_cast<const L2Normalize*>(&norm.transform()), nullptr);
  auto& ivf = dynamic_cast<IndexIVFFlat&>(norm.index());
  EXPECT_EQ(ivf.n_probe(), 2);
  EXPECT_EQ(ivf.centroids(), (std::vector<float>{1, 0, 0, 0, 1, 0.5f}));
  EXPECT_EQ(ivf.list_sizes(), (std::vector<idx_t>{5, 3}));
  // Each point is its own nearest neighbour (the two on e3 project to zero and tie).
  const std::vector<float> x = fixture_axis_points();
  for (int i = 0; i < 6; ++i) {
    const SearchResult r =
        run_search(*loaded, std::vector<float>(x.begin() + 4 * i, x.begin() + 4 * i + 4), 1);
    EXPECT_EQ(r.labels[0], 10 + i);
    EXPECT_NEAR(r.distances[0], 0.0f, 1e-6);
  }
  std::vector<float> back(4);
  EXPECT_THROW(loaded->reconstruct(10, back.data()), NotSupported);  // L2 normalisation
  EXPECT_EQ(info.next_id, 18);
}

// An untrained IVF file declaring many lists of a large dimension: loading it allocates for
// what the file holds (8 bytes a list), never n_lists x dim centroids (a memory bomb before).
TEST(IndexIoResources, UntrainedIvfWithManyListsAllocatesForItsSizeOnly) {
  TempDir dir;
  const int dim = 2048, n_lists = 1 << 16;  // centroids would be 512 MiB
  {
    IndexIVFFlat index(dim, n_lists);
    write_index(index, dir.file("lists.knnx"));
  }
  const auto file_size = static_cast<std::size_t>(fs::file_size(dir.file("lists.knnx")));
  g_largest_allocation = 0;
  std::unique_ptr<Index> loaded = read_index(dir.file("lists.knnx"));
  EXPECT_FALSE(loaded->is_trained());
  EXPECT_LE(g_largest_allocation.load(), 16 * file_size)
      << "a load allocated more than 16 times the file's size";
}

// A saved RandomRotation's matrix is installed from the file, not drawn again (an O(d^3)
// factorisation that took most of a minute for d = 8192).
TEST(IndexIoResources, RandomRotationLoadsItsMatrixInsteadOfRedrawingIt) {
  TempDir dir;
  const int d = 192;
  const auto start = std::chrono::steady_clock::now();
  auto rotation = std::make_shared<RandomRotation>(d, 77);
  const double draw_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  IndexPreTransform index(rotation, std::make_unique<IndexFlat>(d));
  write_index(index, dir.file("rotation.knnx"));
  const auto load_start = std::chrono::steady_clock::now();
  std::unique_ptr<Index> loaded = read_index(dir.file("rotation.knnx"));
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const auto& t = dynamic_cast<const RandomRotation&>(as<IndexPreTransform>(loaded).transform());
  EXPECT_EQ(t.matrix(), rotation->matrix());
  EXPECT_EQ(t.seed(), 77u);
  EXPECT_LT(load_seconds, draw_seconds / 2) << "drawing took " << draw_seconds << " s";
}

// ------------------------------------------------------------------------------------------
// Product-quantizer indexes

std::unique_ptr<IndexPQ> make_pq(Metric metric, idx_t n = 400) {
  auto index = std::make_unique<IndexPQ>(kDim, 4, 8, metric);
  ProductQuantizerParams p;
  p.kmeans_iter = 4;
  p.seed = 5;
  index->set_pq_params(p);
  const std::vector<float> x = gaussian(n, kDim, 3);
  index->train(n, x.data());
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = 3 * i + 1;
  index->add_with_ids(n, x.data(), ids.data());
  return index;
}

std::unique_ptr<IndexIVFPQ> make_ivf_pq(Metric metric, int n_lists = 8, idx_t n = 600) {
  auto index = std::make_unique<IndexIVFPQ>(kDim, n_lists, 8, 8, metric);
  KMeansParams k = index->kmeans_params();
  k.n_iter = 4;
  index->set_kmeans_params(k);
  ProductQuantizerParams p;
  p.kmeans_iter = 4;
  index->set_pq_params(p);
  const std::vector<float> x = gaussian(n, kDim, 7);
  index->train(n, x.data());
  index->add(n, x.data());
  index->set_n_probe(3);
  return index;
}

TEST_P(IndexIoMetric, PqRoundTripKeepsCodesIdsAndResults) {
  TempDir dir;
  const auto index = make_pq(GetParam());
  const idx_t removed[] = {4, 7};
  index->remove_ids(2, removed);
  write_index(*index, dir.file("pq.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("pq.knnx"));
  const IndexPQ& pq = as<IndexPQ>(loaded);
  EXPECT_EQ(pq.codes(), index->codes());
  EXPECT_EQ(pq.ids(), index->ids());
  EXPECT_EQ(pq.pq().centroids(), index->pq().centroids());
  EXPECT_EQ(pq.pq().params().seed, 5u);
  EXPECT_EQ(pq.metric(), GetParam());
  expect_same_results(*index, pq, gaussian(10, kDim, 9), 7);
  EXPECT_EQ(next_added_id(*loaded, dir), next_added_id(*index, dir));

  const IndexFileInfo info = read_index_info(dir.file("pq.knnx"));
  EXPECT_EQ(info.index_type, "PQ");
  EXPECT_EQ(info.pq_m, 4);
  EXPECT_EQ(info.pq_nbits, 8);
  EXPECT_EQ(info.ntotal, 398);
}

TEST_P(IndexIoMetric, IvfPqRoundTripKeepsListsSettingsAndResults) {
  TempDir dir;
  const auto index = make_ivf_pq(GetParam());
  index->set_use_precomputed_table(false);
  write_index(*index, dir.file("ivfpq.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("ivfpq.knnx"));
  const IndexIVFPQ& ivf = as<IndexIVFPQ>(loaded);
  EXPECT_EQ(ivf.n_probe(), 3);
  EXPECT_FALSE(ivf.use_precomputed_table());
  EXPECT_EQ(ivf.centroids(), index->centroids());
  EXPECT_EQ(ivf.pq().centroids(), index->pq().centroids());
  EXPECT_EQ(ivf.kmeans_params().n_iter, 4);
  for (int l = 0; l < ivf.n_lists(); ++l) {
    EXPECT_EQ(ivf.list_ids(l), index->list_ids(l));
    EXPECT_EQ(ivf.list_codes(l), index->list_codes(l));
  }
  expect_same_results(*index, ivf, gaussian(10, kDim, 9), 5);
  EXPECT_EQ(next_added_id(*loaded, dir), next_added_id(*index, dir));
}

TEST(IndexIo, PqIndexesBehindOpqAndUntrained) {
  TempDir dir;
  const std::vector<float> x = gaussian(600, kDim, 12);
  std::unique_ptr<Index> chain = index_factory(kDim, "OPQ4,IVF4,PQ4");
  chain->train(600, x.data());
  chain->add(600, x.data());
  write_index(*chain, dir.file("opq.knnx"));
  std::unique_ptr<Index> loaded = read_index(dir.file("opq.knnx"));
  const auto& pre = as<IndexPreTransform>(loaded);
  EXPECT_NE(dynamic_cast<const OPQ*>(&pre.transform()), nullptr);
  EXPECT_NE(dynamic_cast<const IndexIVFPQ*>(&pre.index()), nullptr);
  expect_same_results(*chain, *loaded, gaussian(6, kDim, 13), 4);

  const IndexIVFPQ untrained(kDim, 4, 2);
  write_index(untrained, dir.file("untrained.knnx"));
  std::unique_ptr<Index> empty = read_index(dir.file("untrained.knnx"));
  EXPECT_FALSE(empty->is_trained());
  EXPECT_EQ(as<IndexIVFPQ>(empty).pq().M(), 2);
  const IndexPQ untrained_pq(kDim, 8);
  write_index(untrained_pq, dir.file("untrained_pq.knnx"));
  EXPECT_FALSE(read_index(dir.file("untrained_pq.knnx"))->is_trained());
}

TEST(IndexIo, PqFilesAreCheckedBeforeAllocating) {
  TempDir dir;
  write_index(*make_pq(Metric::L2), dir.file("pq.knnx"));
  write_index(*make_ivf_pq(Metric::L2), dir.file("ivfpq.knnx"));
  write_index(*make_flat(Metric::L2), dir.file("flat.knnx"));
  const std::vector<std::uint8_t> pq = read_bytes(dir.file("pq.knnx"));
  const std::vector<std::uint8_t> ivf = read_bytes(dir.file("ivfpq.knnx"));
  const std::vector<std::uint8_t> flat = read_bytes(dir.file("flat.knnx"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(pq, [](fmtv::Header& h) { h.pq_m = 3; })),
                         "pq_m 3 does not divide dim 16"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(ivf, [](fmtv::Header& h) { h.pq_m = 0; })),
                         "pq_m 0 does not divide"));
  EXPECT_TRUE(has_substr(load_error(dir, with_header(pq, [](fmtv::Header& h) { h.pq_nbits = 4; })),
                         "pq_nbits is 4"));
  // A different pq_m changes the size the codes section must have.
  EXPECT_TRUE(has_substr(load_error(dir, with_header(pq, [](fmtv::Header& h) { h.pq_m = 8; })),
                         "section 'codes' is"));
  // A huge ntotal is refused from the sizes, before anything is allocated.
  EXPECT_TRUE(has_substr(
      load_error(dir, with_header(ivf, [](fmtv::Header& h) { h.ntotal = std::uint64_t{1} << 40; })),
      "section"));
  // Other index types keep those header bytes reserved.
  EXPECT_TRUE(has_substr(load_error(dir, with_header(flat, [](fmtv::Header& h) { h.pq_m = 4; })),
                         "reserved header bytes 76-123"));
  // A reserved byte of the pq_params record.
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::uint32_t>(pq, fmtv::SectionKind::PqParams, 6, {1})),
      "section 'pq_params': reserved bytes"));
  EXPECT_TRUE(has_substr(
      load_error(dir, with_section_values<std::int32_t>(ivf, fmtv::SectionKind::PqParams, 0, {0})),
      "kmeans_iter"));
  // A non-finite codebook entry is a content error.
  EXPECT_TRUE(has_substr(
      content_error(dir, with_section_values<float>(pq, fmtv::SectionKind::PqCentroids, 17, {NAN})),
      "section 'pq_centroids' holds a non-finite value"));
}

}  // namespace
}  // namespace knnx
