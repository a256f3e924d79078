// write_index / read_index / read_index_info: every saveable index kind (IndexRefineFlat with its
// base index nested as a file of its own), bare or wrapped in IndexPreTransforms, to and from
// the index file format (docs/file_format.md; layout and checks in core/index_file, the
// transform chain in core/index_file_chain).
//
// Loading runs in three steps: the header and table are validated (core/index_file), every
// section's checksum is verified by streaming through the file, and only then is anything
// allocated: small sections (ids, list sizes, centroids) are read whole and checked (ids
// unique and below next_id, values finite), the index is built, and the vectors are streamed
// into it in pieces, their checksum recomputed on the way, so a file modified during the load
// is caught too. A transform chain is decoded and checked whole, and its transforms built, before
// the index; the wrappers go around the still empty index, which is then filled.
#include "knnx/index_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "core/binary_file.hpp"
#include "core/check.hpp"
#include "core/crc32c.hpp"
#include "core/index_file.hpp"
#include "core/index_file_chain.hpp"
#include "index/faiss_reader.hpp"
#include "index/index_restore.hpp"
#include "index/transform_internal.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/index_ivf_pq.hpp"
#include "knnx/index_pq.hpp"
#include "knnx/index_pq_fast_scan.hpp"
#include "knnx/index_refine.hpp"
#include "knnx/index_scalar_quantizer.hpp"
#include "knnx/transform.hpp"

namespace knnx {
namespace {

namespace fmtv = detail::index_file;
using fmtv::IndexType;
using fmtv::SectionKind;
using fmtv::TransformType;

// Vectors travel between the file and the index in pieces of about this size.
constexpr std::size_t kChunkBytes = std::size_t{16} << 20;

template <typename... Args>
[[noreturn]] void fail(const std::string& path, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw FormatError(
      fmt::format("'{}': {}", path, fmt::format(format, std::forward<Args>(args)...)));
}

template <typename T>
std::vector<T> allocate(std::size_t count, const std::string& path) {
  try {
    return std::vector<T>(count);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("loading '{}': cannot allocate {} bytes", path,
                                  static_cast<std::uint64_t>(count) * sizeof(T)));
  }
}

std::uint32_t metric_code(Metric metric) { return metric == Metric::L2 ? 0u : 1u; }
Metric metric_of(std::uint32_t code) { return code == 0 ? Metric::L2 : Metric::InnerProduct; }

std::size_t rows_per_chunk(int dim) {
  return std::max<std::size_t>(1, kChunkBytes / (static_cast<std::size_t>(dim) * sizeof(float)));
}

// ------------------------------------------------------------------------------------------
// Writing

fmtv::KMeansRecord kmeans_record(const KMeansParams& p) {
  fmtv::KMeansRecord r;
  r.n_iter = p.n_iter;
  r.init = p.init == KMeansParams::Init::Random ? 0u : 1u;
  r.max_points_per_centroid = p.max_points_per_centroid;
  r.min_points_per_centroid = p.min_points_per_centroid;
  r.init_points_per_centroid = p.init_points_per_centroid;
  r.spherical = p.spherical ? 1u : 0u;
  r.seed = p.seed;
  return r;
}

fmtv::Header base_header(const Index& index, IndexType type, idx_t next_id) {
  fmtv::Header h;
  h.index_type = static_cast<std::uint32_t>(type);
  h.metric = metric_code(index.metric());
  h.dim = static_cast<std::uint32_t>(index.dim());
  h.ntotal = static_cast<std::uint64_t>(index.ntotal());
  h.next_id = static_cast<std::uint64_t>(next_id);
  h.flags = index.is_trained() ? fmtv::kFlagTrained : 0u;
  return h;
}

// An index as saved: the transforms it is wrapped in (outermost first, encoded; empty when
// none), the index they feed, and the largest next id over the wrappers.
struct Unwrapped {
  std::vector<std::uint8_t> chain;
  const Index* inner = nullptr;
  idx_t next_id = 0;
};

fmtv::TransformRecord transform_record(const VectorTransform& t, const std::string& path) {
  fmtv::TransformRecord r;
  r.d_in = static_cast<std::uint32_t>(t.d_in());
  r.d_out = static_cast<std::uint32_t>(t.d_out());
  r.trained = t.is_trained();
  if (const auto* pca = dynamic_cast<const PCA*>(&t)) {
    r.type = TransformType::PCA;
    r.whiten = pca->params().whiten;
    r.whiten_eps = pca->params().whiten_eps;
    if (r.trained) r.eigenvalues = pca->eigenvalues();
  } else if (const auto* rr = dynamic_cast<const RandomRotation*>(&t)) {
    r.type = TransformType::RandomRotation;
    r.seed = rr->seed();
  } else if (const auto* opq = dynamic_cast<const OPQ*>(&t)) {
    r.type = TransformType::OPQ;
    const OpqParams& p = opq->params();
    r.m = static_cast<std::uint32_t>(opq->m());
    r.n_iter = p.n_iter;
    r.ksub = p.ksub;
    r.kmeans_iter = p.kmeans_iter;
    r.max_train_points = p.max_train_points;
    r.seed = p.seed;
    if (r.trained) {
      r.objective = opq->objective();
      // Training records one value per iteration; a file holds exactly n_iter.
      r.objective.resize(static_cast<std::size_t>(p.n_iter), 0.0);
    }
  } else if (dynamic_cast<const L2Normalize*>(&t) != nullptr) {
    r.type = TransformType::L2Normalize;
  } else {
    throw NotSupported(fmt::format(
        "write_index('{}'): only PCA, RandomRotation, L2Normalize and OPQ transforms can be saved",
        path));
  }
  if (r.trained && r.linear()) {
    const auto& linear = dynamic_cast<const LinearTransform&>(t);
    r.mean = linear.mean();
    r.matrix = linear.matrix();
    r.reverse = detail::IndexRestore::reverse_matrix(linear);
  }
  return r;
}

Unwrapped unwrap(const Index& index, const std::string& path) {
  Unwrapped u;
  fmtv::TransformChainRecord chain;
  chain.d_in = static_cast<std::uint32_t>(index.dim());
  const Index* current = &index;
  while (const auto* pre = dynamic_cast<const IndexPreTransform*>(current)) {
    chain.transforms.push_back(transform_record(pre->transform(), path));
    u.next_id = std::max(u.next_id, detail::IndexRestore::next_id(*pre));
    current = &pre->index();
  }
  if (chain.transforms.size() > fmtv::kMaxTransforms) {
    throw NotSupported(fmt::format("write_index('{}'): {} transforms; a file holds at most {}",
                                   path, chain.transforms.size(), fmtv::kMaxTransforms));
  }
  if (!chain.transforms.empty()) u.chain = fmtv::encode_chain(chain);
  u.inner = current;
  return u;
}

// The sections of a file with header h and the encoded chain (none when empty); sets the
// header's chain flag.
std::vector<fmtv::SectionSpec> file_sections(fmtv::Header& h,
                                             const std::vector<std::uint8_t>& chain,
                                             const std::string& path) {
  if (!chain.empty()) h.flags |= fmtv::kFlagTransformChain;
  std::vector<fmtv::SectionSpec> sections = fmtv::required_sections(h, path);
  for (fmtv::SectionSpec& s : sections) {
    if (s.kind == SectionKind::TransformChain) s.size = chain.size();
  }
  return sections;
}

void write_chain(fmtv::Writer& out, const std::vector<std::uint8_t>& chain) {
  if (chain.empty()) return;
  out.begin_section(SectionKind::TransformChain);
  out.write(chain.data(), chain.size());
  out.end_section();
}

// The vectors and ids sections of a Flat index's rows (those of Flat and RefineFlat files).
// Rows in host memory (mapped ones too) are written in place, without a copy.
void write_flat_rows(fmtv::Writer& out, const IndexFlat& index) {
  const std::vector<idx_t> ids = index.ids();
  out.begin_section(SectionKind::Vectors);
  if (const float* rows = detail::IndexRestore::host_flat_rows(index)) {
    out.write(rows, ids.size() * static_cast<std::size_t>(index.dim()) * sizeof(float));
  } else {
    const std::vector<float> vectors = index.vectors();
    out.write(vectors.data(), vectors.size() * sizeof(float));
  }
  out.end_section();
  out.begin_section(SectionKind::Ids);
  out.write(ids.data(), ids.size() * sizeof(idx_t));
  out.end_section();
}

void write_flat(const IndexFlat& index, const Unwrapped& u, const std::string& path,
                std::vector<std::uint8_t>* image) {
  fmtv::Header h = base_header(index, IndexType::Flat,
                               std::max(u.next_id, detail::IndexRestore::next_id(index)));
  fmtv::Writer out(path, h, file_sections(h, u.chain, path), image);
  write_chain(out, u.chain);
  write_flat_rows(out, index);
  out.commit();
}

void write_ivf_flat(const IndexIVFFlat& index, const Unwrapped& u, const std::string& path,
                    std::vector<std::uint8_t>* image) {
  fmtv::Header h = base_header(index, IndexType::IVFFlat,
                               std::max(u.next_id, detail::IndexRestore::next_id(index)));
  h.n_lists = static_cast<std::uint32_t>(index.n_lists());
  h.n_probe = static_cast<std::uint32_t>(index.n_probe());
  const std::vector<idx_t> sizes = index.list_sizes();
  fmtv::Writer out(path, h, file_sections(h, u.chain, path), image);
  write_chain(out, u.chain);

  const auto kmeans = fmtv::encode_kmeans(kmeans_record(index.kmeans_params()));
  out.begin_section(SectionKind::KMeansParams);
  out.write(kmeans.data(), kmeans.size());
  out.end_section();
  if (index.is_trained()) {
    const std::vector<float> centroids = index.centroids();
    out.begin_section(SectionKind::Centroids);
    out.write(centroids.data(), centroids.size() * sizeof(float));
    out.end_section();
  }
  out.begin_section(SectionKind::ListSizes);
  for (idx_t s : sizes) {
    const auto size = static_cast<std::uint64_t>(s);
    out.write(&size, sizeof size);
  }
  out.end_section();
  // A list changing size between list_sizes() and here would make a section's byte count
  // differ from the announced one, which Writer::end_section reports.
  out.begin_section(SectionKind::ListIds);
  for (int l = 0; l < index.n_lists(); ++l) {
    const std::vector<idx_t> ids = index.list_ids(l);
    out.write(ids.data(), ids.size() * sizeof(idx_t));
  }
  out.end_section();
  out.begin_section(SectionKind::ListVectors);
  for (int l = 0; l < index.n_lists(); ++l) {
    const std::vector<float> vectors = index.list_vectors(l);
    out.write(vectors.data(), vectors.size() * sizeof(float));
  }
  out.end_section();
  out.commit();
}

void write_sq(const IndexScalarQuantizerBase& index, const Unwrapped& u, const std::string& path,
              std::vector<std::uint8_t>* image) {
  const auto* ivf = dynamic_cast<const IndexIVFScalarQuantizer*>(&index);
  fmtv::Header h =
      base_header(index, ivf ? IndexType::IVFScalarQuantizer : IndexType::ScalarQuantizer,
                  std::max(u.next_id, detail::IndexRestore::next_id(index)));
  h.quantizer = static_cast<std::uint32_t>(index.quantizer_type());
  const int n_lists = ivf ? ivf->n_lists() : 1;
  if (ivf) {
    h.n_lists = static_cast<std::uint32_t>(n_lists);
    h.n_probe = static_cast<std::uint32_t>(ivf->n_probe());
    if (ivf->by_residual()) h.flags |= fmtv::kFlagByResidual;
  }
  fmtv::Writer out(path, h, file_sections(h, u.chain, path), image);
  write_chain(out, u.chain);
  if (ivf) {
    const auto kmeans = fmtv::encode_kmeans(kmeans_record(ivf->kmeans_params()));
    out.begin_section(SectionKind::KMeansParams);
    out.write(kmeans.data(), kmeans.size());
    out.end_section();
    if (index.is_trained()) {
      const std::vector<float> centroids = ivf->centroids();
      out.begin_section(SectionKind::Centroids);
      out.write(centroids.data(), centroids.size() * sizeof(float));
      out.end_section();
    }
  }
  if (index.is_trained() && fmtv::sq_has_ranges(h.quantizer)) {
    const ScalarQuantizer& sq = index.quantizer();
    out.begin_section(SectionKind::SqRanges);
    out.write(sq.vmin().data(), sq.vmin().size() * sizeof(float));
    out.write(sq.vdiff().data(), sq.vdiff().size() * sizeof(float));
    out.end_section();
  }
  if (ivf) {
    out.begin_section(SectionKind::ListSizes);
    for (idx_t s : ivf->list_sizes()) {
      const auto size = static_cast<std::uint64_t>(s);
      out.write(&size, sizeof size);
    }
    out.end_section();
  }
  out.begin_section(ivf ? SectionKind::ListIds : SectionKind::Ids);
  for (int l = 0; l < n_lists; ++l) {
    const std::vector<idx_t> ids = detail::IndexRestore::sq_list_ids(index, l);
    out.write(ids.data(), ids.size() * sizeof(idx_t));
  }
  out.end_section();
  out.begin_section(SectionKind::Codes);
  for (int l = 0; l < n_lists; ++l) {
    const std::vector<std::uint8_t> codes = detail::IndexRestore::sq_list_codes(index, l);
    out.write(codes.data(), codes.size());
  }
  out.end_section();
  out.commit();
}

fmtv::PqRecord pq_record(const ProductQuantizerParams& p, bool use_precomputed_table) {
  fmtv::PqRecord r;
  r.kmeans_iter = p.kmeans_iter;
  r.max_points_per_centroid = p.max_points_per_centroid;
  r.seed = p.seed;
  r.use_precomputed_table = use_precomputed_table ? 1u : 0u;
  return r;
}

void write_pq_sections(fmtv::Writer& out, const ProductQuantizer& pq, bool use_precomputed_table) {
  const auto record = fmtv::encode_pq(pq_record(pq.params(), use_precomputed_table));
  out.begin_section(SectionKind::PqParams);
  out.write(record.data(), record.size());
  out.end_section();
}

void write_pq_centroids(fmtv::Writer& out, const ProductQuantizer& pq) {
  out.begin_section(SectionKind::PqCentroids);
  out.write(pq.centroids().data(), pq.centroids().size() * sizeof(float));
  out.end_section();
}

void write_pq(const IndexPQ& index, const Unwrapped& u, const std::string& path,
              std::vector<std::uint8_t>* image) {
  fmtv::Header h =
      base_header(index, index.pq().nbits() == 4 ? IndexType::PQFastScan : IndexType::PQ,
                  std::max(u.next_id, detail::IndexRestore::next_id(index)));
  h.pq_m = static_cast<std::uint32_t>(index.pq().M());
  h.pq_nbits = static_cast<std::uint32_t>(index.pq().nbits());
  const std::vector<std::uint8_t> codes = index.codes();
  const std::vector<idx_t> ids = index.ids();
  fmtv::Writer out(path, h, file_sections(h, u.chain, path), image);
  write_chain(out, u.chain);
  write_pq_sections(out, index.pq(), false);
  if (index.is_trained()) write_pq_centroids(out, index.pq());
  out.begin_section(SectionKind::Ids);
  out.write(ids.data(), ids.size() * sizeof(idx_t));
  out.end_section();
  out.begin_section(SectionKind::Codes);
  out.write(codes.data(), codes.size());
  out.end_section();
  out.commit();
}

void write_ivf_pq(const IndexIVFPQ& index, const Unwrapped& u, const std::string& path,
                  std::vector<std::uint8_t>* image) {
  fmtv::Header h =
      base_header(index, index.pq().nbits() == 4 ? IndexType::IVFPQFastScan : IndexType::IVFPQ,
                  std::max(u.next_id, detail::IndexRestore::next_id(index)));
  h.n_lists = static_cast<std::uint32_t>(index.n_lists());
  h.n_probe = static_cast<std::uint32_t>(index.n_probe());
  h.pq_m = static_cast<std::uint32_t>(index.pq().M());
  h.pq_nbits = static_cast<std::uint32_t>(index.pq().nbits());
  if (index.pq().nbits() == 4 && index.by_residual()) h.flags |= fmtv::kFlagByResidual;
  const std::vector<idx_t> sizes = index.list_sizes();
  fmtv::Writer out(path, h, file_sections(h, u.chain, path), image);
  write_chain(out, u.chain);
  const auto kmeans = fmtv::encode_kmeans(kmeans_record(index.kmeans_params()));
  out.begin_section(SectionKind::KMeansParams);
  out.write(kmeans.data(), kmeans.size());
  out.end_section();
  write_pq_sections(out, index.pq(), index.use_precomputed_table());
  if (index.is_trained()) {
    const std::vector<float> centroids = index.centroids();
    out.begin_section(SectionKind::Centroids);
    out.write(centroids.data(), centroids.size() * sizeof(float));
    out.end_section();
    write_pq_centroids(out, index.pq());
  }
  out.begin_section(SectionKind::ListSizes);
  for (idx_t s : sizes) {
    const auto size = static_cast<std::uint64_t>(s);
    out.write(&size, sizeof size);
  }
  out.end_section();
  out.begin_section(SectionKind::ListIds);
  for (int l = 0; l < index.n_lists(); ++l) {
    const std::vector<idx_t> ids = index.list_ids(l);
    out.write(ids.data(), ids.size() * sizeof(idx_t));
  }
  out.end_section();
  out.begin_section(SectionKind::Codes);
  for (int l = 0; l < index.n_lists(); ++l) {
    const std::vector<std::uint8_t> codes = index.list_codes(l);
    out.write(codes.data(), codes.size());
  }
  out.end_section();
  out.commit();
}

void write_any(const Index& index, const std::string& path, std::vector<std::uint8_t>* image,
               int depth);

// The refine setting, the base index as a nested file, then the exact vectors and their ids.
void write_refine(const IndexRefineFlat& index, const Unwrapped& u, const std::string& path,
                  std::vector<std::uint8_t>* image, int depth) {
  if (depth + 1 > fmtv::kMaxRefineDepth) {
    throw NotSupported(fmt::format("write_index('{}'): IndexRefineFlat nested more than {} deep",
                                   path, fmtv::kMaxRefineDepth));
  }
  std::vector<std::uint8_t> base;
  write_any(index.base_index(), path, &base, depth + 1);
  fmtv::Header h = base_header(index, IndexType::RefineFlat,
                               std::max(u.next_id, detail::IndexRestore::next_id(index)));
  std::vector<fmtv::SectionSpec> sections = file_sections(h, u.chain, path);
  for (fmtv::SectionSpec& s : sections) {
    if (s.kind == SectionKind::BaseIndex) s.size = base.size();
  }
  fmtv::Writer out(path, h, sections, image);
  write_chain(out, u.chain);
  const auto record = fmtv::encode_refine(index.k_factor());
  out.begin_section(SectionKind::RefineParams);
  out.write(record.data(), record.size());
  out.end_section();
  out.begin_section(SectionKind::BaseIndex);
  out.write(base.data(), base.size());
  out.end_section();
  write_flat_rows(out, index.refine_index());
  out.commit();
}

// Writes index to path, or its file's bytes to image when not null; depth: the RefineFlat
// levels around it.
void write_any(const Index& index, const std::string& path, std::vector<std::uint8_t>* image,
               int depth) {
  const Unwrapped u = unwrap(index, path);
  if (const auto* flat = dynamic_cast<const IndexFlat*>(u.inner)) {
    write_flat(*flat, u, path, image);
  } else if (const auto* ivf = dynamic_cast<const IndexIVFFlat*>(u.inner)) {
    write_ivf_flat(*ivf, u, path, image);
  } else if (const auto* sq = dynamic_cast<const IndexScalarQuantizerBase*>(u.inner)) {
    write_sq(*sq, u, path, image);
  } else if (const auto* pq = dynamic_cast<const IndexPQ*>(u.inner)) {
    write_pq(*pq, u, path, image);
  } else if (const auto* ivf_pq = dynamic_cast<const IndexIVFPQ*>(u.inner)) {
    write_ivf_pq(*ivf_pq, u, path, image);
  } else if (const auto* refine = dynamic_cast<const IndexRefineFlat*>(u.inner)) {
    write_refine(*refine, u, path, image, depth);
  } else {
    throw NotSupported(
        fmt::format("write_index('{}'): only IndexFlat, IndexIVFFlat, IndexScalarQuantizer, "
                    "IndexIVFScalarQuantizer, IndexPQ, IndexIVFPQ and their fast-scan kinds, and "
                    "IndexRefineFlat over those, bare or in IndexPreTransforms, can be saved",
                    path));
  }
}

// ------------------------------------------------------------------------------------------
// Reading

// A whole small section as values of T.
template <typename T>
std::vector<T> read_section(const detail::InputFile& f, const fmtv::SectionEntry& s) {
  std::vector<T> out = allocate<T>(static_cast<std::size_t>(s.size / sizeof(T)), f.path());
  fmtv::SectionReader reader(f, s);
  reader.read(out.data(), out.size() * sizeof(T));
  reader.finish();
  return out;
}

// FormatError naming the first NaN or Inf among rows [0, rows) of x, or the first row whose
// squared L2 norm is above kMaxSquaredNorm (add would have refused it).
void check_finite(const float* x, std::size_t rows, int dim, std::uint64_t first_row,
                  const std::string& path, SectionKind kind) {
  const std::size_t n = rows * static_cast<std::size_t>(dim);
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      fail(path, "section '{}' holds a non-finite value ({}) in row {}, component {}",
           fmtv::section_name(static_cast<std::uint32_t>(kind)), x[i],
           first_row + i / static_cast<std::size_t>(dim), i % static_cast<std::size_t>(dim));
    }
  }
  double norm = 0.0;
  const idx_t row = detail::first_row_above_norm_bound(static_cast<idx_t>(rows), dim, x, &norm);
  if (row >= 0) {
    fail(path,
         "section '{}' holds row {} of squared L2 norm {:.4g}, above the largest accepted, "
         "{:.4g} (FLT_MAX / 8)",
         fmtv::section_name(static_cast<std::uint32_t>(kind)),
         first_row + static_cast<std::uint64_t>(row), norm, detail::kMaxSquaredNorm);
  }
}

// The ids, sorted, after checking that they are non-negative, below next_id and unique.
std::vector<idx_t> sorted_checked_ids(const std::vector<idx_t>& ids, idx_t next_id,
                                      const std::string& path, SectionKind kind) {
  const std::string name = fmtv::section_name(static_cast<std::uint32_t>(kind));
  std::vector<idx_t> sorted = allocate<idx_t>(ids.size(), path);
  std::copy(ids.begin(), ids.end(), sorted.begin());
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty() && sorted.front() < 0) {
    fail(path, "section '{}' holds the negative id {}", name, sorted.front());
  }
  if (!sorted.empty() && sorted.back() >= next_id) {
    fail(path, "section '{}' holds the id {}, not below the header's next_id {}", name,
         sorted.back(), next_id);
  }
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) fail(path, "section '{}' holds the id {} more than once", name, *dup);
  return sorted;
}

// The transforms a file's index is wrapped in (outermost first); wrap() is the identity for a
// file without a chain.
class Wrapping {
 public:
  std::vector<std::shared_ptr<VectorTransform>> transforms;

  // inner wrapped in the transforms; inner must still be empty.
  std::unique_ptr<Index> wrap(std::unique_ptr<Index> inner) {
    for (auto t = transforms.rbegin(); t != transforms.rend(); ++t) {
      auto wrapper = std::make_unique<IndexPreTransform>(*t, std::move(inner));
      wrappers_.push_back(wrapper.get());
      inner = std::move(wrapper);
    }
    return inner;
  }
  // Once the inner index is filled with the vectors of sorted_ids: the wrappers' add() numbers
  // from next_id.
  void finish(idx_t next_id, std::vector<idx_t> sorted_ids = {}) {
    for (IndexPreTransform* w : wrappers_) detail::IndexRestore::set_next_id(*w, next_id);
    ids = std::move(sorted_ids);
  }
  // The ids the index holds, ascending (a RefineFlat file checks its base index's against its
  // own).
  std::vector<idx_t> ids;

 private:
  std::vector<IndexPreTransform*> wrappers_;
};

// A transform with a record's settings and trained state, on device (which the caller checked).
std::shared_ptr<VectorTransform> make_transform(const fmtv::TransformRecord& r, Device device) {
  const int d_in = static_cast<int>(r.d_in);
  const int d_out = static_cast<int>(r.d_out);
  std::shared_ptr<VectorTransform> t;
  switch (r.type) {
    case TransformType::PCA: {
      PcaParams p;
      p.whiten = r.whiten;
      p.whiten_eps = r.whiten_eps;
      p.device = device;
      auto pca = std::make_shared<PCA>(d_in, d_out, p);
      if (r.trained) detail::IndexRestore::set_eigenvalues(*pca, r.eigenvalues);
      t = pca;
      break;
    }
    case TransformType::RandomRotation:
      t = detail::IndexRestore::undrawn_rotation(d_in, d_out, r.seed, device);
      break;
    case TransformType::L2Normalize:
      t = std::make_shared<L2Normalize>(d_in, device);
      break;
    case TransformType::OPQ: {
      OpqParams p;
      p.n_iter = r.n_iter;
      p.ksub = r.ksub;
      p.kmeans_iter = r.kmeans_iter;
      p.max_train_points = r.max_train_points;
      p.seed = r.seed;
      p.device = device;
      auto opq = std::make_shared<OPQ>(d_in, d_out, static_cast<int>(r.m), p);
      if (r.trained) detail::IndexRestore::set_objective(*opq, r.objective);
      t = opq;
      break;
    }
  }
  if (r.trained && r.linear()) {
    // A rotation has no shift; an all-zero mean installs none, as training does.
    const bool no_shift =
        r.type != TransformType::PCA &&
        std::all_of(r.mean.begin(), r.mean.end(), [](float v) { return v == 0.0f; });
    detail::IndexRestore::set_linear(dynamic_cast<LinearTransform&>(*t), r.matrix,
                                     no_shift ? std::vector<float>{} : r.mean, r.reverse);
  }
  return t;
}

// The decoded and checked transform chain of a file.
fmtv::TransformChainRecord read_chain_record(const detail::InputFile& f,
                                             const fmtv::Layout& layout) {
  const std::vector<std::uint8_t> bytes =
      read_section<std::uint8_t>(f, layout.section(SectionKind::TransformChain));
  return fmtv::decode_chain(bytes, layout.header, f.path());
}

// The transforms of a file's chain, built on device (none without a chain).
Wrapping read_chain(const detail::InputFile& f, const fmtv::Layout& layout, Device device) {
  Wrapping out;
  if (!layout.header.has_chain()) return out;
  const fmtv::TransformChainRecord chain = read_chain_record(f, layout);
  detail::require_linalg_device(device);  // a bad device is the caller's error, not the file's
  for (std::size_t i = 0; i < chain.transforms.size(); ++i) {
    try {
      out.transforms.push_back(make_transform(chain.transforms[i], device));
    } catch (const InvalidArgument& e) {
      fail(f.path(), "section 'transform_chain', transform {} ({}): {}", i,
           fmtv::transform_type_name(static_cast<std::uint32_t>(chain.transforms[i].type)),
           e.what());
    }
  }
  std::vector<const VectorTransform*> applied(out.transforms.size());
  std::transform(out.transforms.begin(), out.transforms.end(), applied.begin(),
                 [](const auto& t) { return t.get(); });
  if (const int i = detail::first_unbounded_transform(applied); i >= 0) {
    fail(f.path(),
         "section 'transform_chain', transform {} ({}) maps inputs in [-1, 1] to vectors of "
         "squared norm above {:g}, where float32 distances overflow",
         i, fmtv::transform_type_name(static_cast<std::uint32_t>(chain.transforms[i].type)),
         detail::kMaxSquaredNorm);
  }
  return out;
}

// Gives index (empty, on the CPU) the rows of the vectors section mapped read-only from the
// file, after checking them in pieces as they are read through the mapping: finite values, and
// the checksum verify_sections accepted (recomputed, so a file changed in between is caught).
// False, with nothing done, when the mapped rows would not be aligned for float access (the
// layout rule puts sections at multiples of 64 bytes, so a valid file never gets there).
bool map_flat_rows(const detail::InputFile& f, const fmtv::Layout& layout, IndexFlat& index) {
  const fmtv::Header& h = layout.header;
  const fmtv::SectionEntry& s = layout.section(SectionKind::Vectors);
  const std::shared_ptr<const std::uint8_t> mapped = f.map(s.offset, s.size);
  if (reinterpret_cast<std::uintptr_t>(mapped.get()) % alignof(float) != 0) return false;
  const int dim = static_cast<int>(h.dim);
  const auto* rows = reinterpret_cast<const float*>(mapped.get());
  const std::size_t chunk_rows = rows_per_chunk(dim);
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  std::uint32_t crc = 0;
  for (std::uint64_t row = 0; row < h.ntotal;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_rows, h.ntotal - row));
    const float* chunk = rows + row * static_cast<std::uint64_t>(dim);
    crc = detail::crc32c_extend(crc, chunk, n * row_bytes);
    check_finite(chunk, n, dim, row, f.path(), SectionKind::Vectors);
    row += n;
  }
  if (crc != s.crc) {
    fail(f.path(),
         "section 'vectors' changed while it was being loaded (checksum {:08x}, not {:08x})", crc,
         s.crc);
  }
  detail::IndexRestore::view_flat_rows(index, static_cast<idx_t>(h.ntotal), rows, mapped);
  return true;
}

// Gives index (empty) the vectors section's rows — streamed in, or with mmap (an index on the
// CPU) mapped — and their ids (checked).
void fill_flat(const detail::InputFile& f, const fmtv::Layout& layout, IndexFlat& index,
               const std::vector<idx_t>& ids, bool mmap) {
  const fmtv::Header& h = layout.header;
  const std::string& path = f.path();
  const int dim = static_cast<int>(h.dim);
  if (mmap && h.ntotal > 0 && !index.device().is_cuda() && map_flat_rows(f, layout, index)) {
    detail::IndexRestore::finish_flat(index, ids, static_cast<idx_t>(h.next_id));
    return;
  }
  const std::size_t chunk_rows = rows_per_chunk(dim);
  std::vector<float> chunk = allocate<float>(
      std::min<std::size_t>(chunk_rows, static_cast<std::size_t>(h.ntotal)) * dim, path);
  fmtv::SectionReader reader(f, layout.section(SectionKind::Vectors));
  for (std::uint64_t row = 0; row < h.ntotal;) {
    const std::size_t rows =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_rows, h.ntotal - row));
    reader.read(chunk.data(), rows * static_cast<std::size_t>(dim) * sizeof(float));
    check_finite(chunk.data(), rows, dim, row, path, SectionKind::Vectors);
    detail::IndexRestore::append_flat_rows(index, static_cast<idx_t>(rows), chunk.data());
    row += rows;
  }
  reader.finish();
  detail::IndexRestore::finish_flat(index, ids, static_cast<idx_t>(h.next_id));
}

std::unique_ptr<Index> read_flat(const detail::InputFile& f, const fmtv::Layout& layout,
                                 Device device, Wrapping& wrapping, bool mmap) {
  const fmtv::Header& h = layout.header;
  const auto next_id = static_cast<idx_t>(h.next_id);
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(SectionKind::Ids));
  std::vector<idx_t> sorted_ids = sorted_checked_ids(ids, next_id, f.path(), SectionKind::Ids);

  auto flat = std::make_unique<IndexFlat>(static_cast<int>(h.dim), metric_of(h.metric), device);
  IndexFlat* index = flat.get();
  std::unique_ptr<Index> out = wrapping.wrap(std::move(flat));
  fill_flat(f, layout, *index, ids, mmap);
  wrapping.finish(next_id, std::move(sorted_ids));
  return out;
}

// The k-means settings of a record, validated as IndexIVFFlat::set_kmeans_params does.
KMeansParams kmeans_params_of(const fmtv::KMeansRecord& r, const fmtv::Header& h,
                              const std::string& path) {
  if (r.init > 1) fail(path, "section 'kmeans_params': unknown init method {}", r.init);
  if (r.spherical > 1)
    fail(path, "section 'kmeans_params': spherical is {}, not 0 or 1", r.spherical);
  KMeansParams p;
  p.n_iter = r.n_iter;
  p.init = r.init == 0 ? KMeansParams::Init::Random : KMeansParams::Init::KMeansPlusPlus;
  p.max_points_per_centroid = r.max_points_per_centroid;
  p.min_points_per_centroid = r.min_points_per_centroid;
  p.init_points_per_centroid = r.init_points_per_centroid;
  p.seed = r.seed;
  p.spherical = r.spherical != 0;
  try {
    KMeans check(static_cast<int>(h.dim), static_cast<int>(h.n_lists), metric_of(h.metric), p);
  } catch (const InvalidArgument& e) {
    fail(path, "section 'kmeans_params': {}", e.what());
  }
  return p;
}

KMeansParams read_kmeans(const detail::InputFile& f, const fmtv::Layout& layout) {
  const std::vector<std::uint8_t> bytes =
      read_section<std::uint8_t>(f, layout.section(SectionKind::KMeansParams));
  return kmeans_params_of(fmtv::decode_kmeans(bytes.data()), layout.header, f.path());
}

// Vectors per list, after checking that they add up to ntotal.
std::vector<idx_t> read_list_sizes(const detail::InputFile& f, const fmtv::Layout& layout) {
  const std::vector<std::uint64_t> sizes =
      read_section<std::uint64_t>(f, layout.section(SectionKind::ListSizes));
  std::uint64_t total = 0;
  std::vector<idx_t> out(sizes.size());
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    if (sizes[l] > layout.header.ntotal - total) {
      fail(f.path(), "section 'list_sizes': lists 0 to {} hold more than ntotal = {} vectors", l,
           layout.header.ntotal);
    }
    total += sizes[l];
    out[l] = static_cast<idx_t>(sizes[l]);
  }
  if (total != layout.header.ntotal) {
    fail(f.path(), "section 'list_sizes': the lists hold {} vectors, but ntotal = {}", total,
         layout.header.ntotal);
  }
  return out;
}

// The list of each entry of a file's lists, in file order (list 0's entries, then list 1's...).
class ListCursor {
 public:
  explicit ListCursor(const std::vector<idx_t>& sizes)
      : sizes_(sizes), left_(sizes.empty() ? 0 : sizes[0]) {}
  // The lists of the next n entries into lists[0..n) (the sizes add up to every entry).
  void next(std::size_t n, idx_t* lists) {
    for (std::size_t i = 0; i < n; ++i) {
      while (left_ == 0) left_ = sizes_[static_cast<std::size_t>(++list_)];
      lists[i] = list_;
      --left_;
    }
  }

 private:
  const std::vector<idx_t>& sizes_;
  int list_ = 0;
  idx_t left_;
};

std::unique_ptr<Index> read_ivf_flat(const detail::InputFile& f, const fmtv::Layout& layout,
                                     Device device, Wrapping& wrapping) {
  const fmtv::Header& h = layout.header;
  const std::string& path = f.path();
  const int dim = static_cast<int>(h.dim);
  const int n_lists = static_cast<int>(h.n_lists);
  const auto next_id = static_cast<idx_t>(h.next_id);

  const KMeansParams kmeans = read_kmeans(f, layout);
  const std::vector<idx_t> sizes = read_list_sizes(f, layout);
  std::vector<float> centroids;
  if (h.trained()) {
    centroids = read_section<float>(f, layout.section(SectionKind::Centroids));
    check_finite(centroids.data(), static_cast<std::size_t>(n_lists), dim, 0, path,
                 SectionKind::Centroids);
  }
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(SectionKind::ListIds));
  const std::vector<idx_t> sorted_ids =
      sorted_checked_ids(ids, next_id, path, SectionKind::ListIds);

  auto ivf = std::make_unique<IndexIVFFlat>(dim, n_lists, metric_of(h.metric), device);
  IndexIVFFlat* index = ivf.get();
  index->set_kmeans_params(kmeans);  // validated by read_kmeans
  index->set_n_probe(static_cast<int>(h.n_probe));
  if (h.trained()) index->set_centroids(centroids.data());
  std::unique_ptr<Index> out = wrapping.wrap(std::move(ivf));
  if (!h.trained()) {  // holds no vectors (read_layout checked ntotal == 0)
    wrapping.finish(next_id);
    return out;
  }

  const std::size_t chunk_rows = rows_per_chunk(dim);
  std::vector<float> chunk = allocate<float>(
      std::min<std::size_t>(chunk_rows, static_cast<std::size_t>(h.ntotal)) * dim, path);
  std::vector<idx_t> lists(std::min<std::size_t>(chunk_rows, static_cast<std::size_t>(h.ntotal)));
  detail::IndexRestore::reserve_lists(*index, sizes);
  fmtv::SectionReader reader(f, layout.section(SectionKind::ListVectors));
  ListCursor cursor(sizes);
  for (std::uint64_t row = 0; row < h.ntotal;) {
    const std::size_t rows =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_rows, h.ntotal - row));
    reader.read(chunk.data(), rows * static_cast<std::size_t>(dim) * sizeof(float));
    check_finite(chunk.data(), rows, dim, row, path, SectionKind::ListVectors);
    cursor.next(rows, lists.data());
    detail::IndexRestore::append_ivf_rows(*index, static_cast<idx_t>(rows), chunk.data(),
                                          ids.data() + row, lists.data());
    row += rows;
  }
  reader.finish();
  detail::IndexRestore::finish_ivf(*index, sorted_ids, next_id);
  wrapping.finish(next_id, sorted_ids);
  return out;
}

// FormatError naming the first half-precision or bfloat16 code of codes[0..rows) that is an
// infinity or NaN (the encoder never writes one).
void check_float_codes(const std::uint8_t* codes, std::size_t rows, std::size_t code_size,
                       ScalarQuantizer::Type type, std::uint64_t first_row,
                       const std::string& path) {
  if (type != ScalarQuantizer::Type::QT_fp16 && type != ScalarQuantizer::Type::QT_bf16) return;
  const std::uint16_t exponent = type == ScalarQuantizer::Type::QT_fp16 ? 0x7c00 : 0x7f80;
  for (std::size_t i = 0; i < rows * code_size / 2; ++i) {
    std::uint16_t c;
    std::memcpy(&c, codes + 2 * i, 2);
    if ((c & exponent) == exponent) {
      fail(path, "section 'codes' holds a non-finite {} value in row {}, component {}",
           ScalarQuantizer::type_name(type), first_row + 2 * i / code_size,
           (2 * i % code_size) / 2);
    }
  }
}

std::unique_ptr<Index> read_sq(const detail::InputFile& f, const fmtv::Layout& layout,
                               Device device, Wrapping& wrapping) {
  const fmtv::Header& h = layout.header;
  const std::string& path = f.path();
  const int dim = static_cast<int>(h.dim);
  const auto next_id = static_cast<idx_t>(h.next_id);
  const auto type = static_cast<ScalarQuantizer::Type>(h.quantizer);  // checked by read_layout
  const bool ivf = h.index_type == static_cast<std::uint32_t>(IndexType::IVFScalarQuantizer);
  const bool ranges = fmtv::sq_has_ranges(h.quantizer);
  if (!ivf && !ranges && !h.trained()) {
    fail(path,
         "a ScalarQuantizer index of type {} needs no training, but the trained flag is "
         "clear",
         ScalarQuantizer::type_name(type));
  }
  const int n_lists = ivf ? static_cast<int>(h.n_lists) : 1;

  KMeansParams kmeans;
  std::vector<idx_t> sizes{static_cast<idx_t>(h.ntotal)};
  std::vector<float> centroids;
  if (ivf) {
    kmeans = read_kmeans(f, layout);
    sizes = read_list_sizes(f, layout);
    if (h.trained()) {
      centroids = read_section<float>(f, layout.section(SectionKind::Centroids));
      check_finite(centroids.data(), static_cast<std::size_t>(n_lists), dim, 0, path,
                   SectionKind::Centroids);
    }
  }
  ScalarQuantizer sq(dim, type);
  if (h.trained() && ranges) {
    std::vector<float> r = read_section<float>(f, layout.section(SectionKind::SqRanges));
    try {
      sq.set_ranges(std::vector<float>(r.begin(), r.begin() + dim),
                    std::vector<float>(r.begin() + dim, r.end()));
    } catch (const InvalidArgument& e) {
      fail(path, "section 'sq_ranges': {}", e.what());
    }
  }
  const SectionKind ids_kind = ivf ? SectionKind::ListIds : SectionKind::Ids;
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(ids_kind));
  const std::vector<idx_t> sorted_ids = sorted_checked_ids(ids, next_id, path, ids_kind);

  const Metric metric = metric_of(h.metric);
  std::unique_ptr<IndexScalarQuantizerBase> made;
  if (ivf) {
    auto index = std::make_unique<IndexIVFScalarQuantizer>(
        dim, n_lists, type, metric, (h.flags & fmtv::kFlagByResidual) != 0, device);
    index->set_kmeans_params(kmeans);  // validated by read_kmeans
    index->set_n_probe(static_cast<int>(h.n_probe));
    made = std::move(index);
  } else {
    made = std::make_unique<IndexScalarQuantizer>(dim, type, metric, device);
  }
  IndexScalarQuantizerBase* index = made.get();
  if (h.trained()) {
    detail::IndexRestore::set_sq_training(*index, sq, ivf ? centroids.data() : nullptr);
  }
  std::unique_ptr<Index> out = wrapping.wrap(std::move(made));
  if (!h.trained()) {  // holds no vectors (read_layout checked ntotal == 0)
    wrapping.finish(next_id);
    return out;
  }

  // Codes stream in, list by list, in pieces.
  const std::size_t code_size = sq.code_size();
  const std::size_t chunk_rows = std::max<std::size_t>(1, kChunkBytes / code_size);
  std::vector<std::uint8_t> chunk = allocate<std::uint8_t>(
      std::min<std::size_t>(chunk_rows, static_cast<std::size_t>(h.ntotal)) * code_size, path);
  detail::IndexRestore::reserve_lists(*index, sizes);
  fmtv::SectionReader reader(f, layout.section(SectionKind::Codes));
  std::uint64_t row = 0;
  for (int l = 0; l < n_lists; ++l) {
    for (idx_t left = sizes[static_cast<std::size_t>(l)]; left > 0;) {
      const std::size_t rows = static_cast<std::size_t>(
          std::min<std::uint64_t>(chunk_rows, static_cast<std::uint64_t>(left)));
      reader.read(chunk.data(), rows * code_size);
      check_float_codes(chunk.data(), rows, code_size, type, row, path);
      detail::IndexRestore::append_sq_codes(*index, l, static_cast<idx_t>(rows), chunk.data(),
                                            ids.data() + row);
      row += rows;
      left -= static_cast<idx_t>(rows);
    }
  }
  reader.finish();
  detail::IndexRestore::finish_sq(*index, sorted_ids, next_id);
  wrapping.finish(next_id, sorted_ids);
  return out;
}

// The quantizer a PQ header describes (8-bit, or 4-bit for the fast-scan types), with params.
ProductQuantizer make_pq(const fmtv::Header& h, const ProductQuantizerParams& p) {
  const int d = static_cast<int>(h.dim), m = static_cast<int>(h.pq_m);
  if (h.pq_nbits == 4) return ProductQuantizer::fast_scan(d, m, p);
  return ProductQuantizer(d, m, static_cast<int>(h.pq_nbits), p);
}

// The product-quantizer settings of a file, validated as ProductQuantizer's constructor does;
// use_table receives the IVFPQ search switch.
ProductQuantizerParams read_pq_params(const detail::InputFile& f, const fmtv::Layout& layout,
                                      bool& use_table) {
  const fmtv::Header& h = layout.header;
  const std::vector<std::uint8_t> bytes =
      read_section<std::uint8_t>(f, layout.section(SectionKind::PqParams));
  const fmtv::PqRecord r = fmtv::decode_pq(bytes.data(), f.path());
  const std::uint32_t most = fmtv::is_ivf_pq(h.index_type) ? 1 : 0;
  if (r.use_precomputed_table > most) {
    fail(f.path(), "section 'pq_params': use_precomputed_table is {}, not in [0, {}]",
         r.use_precomputed_table, most);
  }
  use_table = r.use_precomputed_table != 0;
  ProductQuantizerParams p;
  p.kmeans_iter = r.kmeans_iter;
  p.max_points_per_centroid = r.max_points_per_centroid;
  p.seed = r.seed;
  try {
    make_pq(h, p);
  } catch (const InvalidArgument& e) {
    fail(f.path(), "section 'pq_params': {}", e.what());
  }
  return p;
}

// The codebooks of a trained file (ksub x dim floats, finite).
std::vector<float> read_pq_centroids(const detail::InputFile& f, const fmtv::Layout& layout) {
  std::vector<float> c = read_section<float>(f, layout.section(SectionKind::PqCentroids));
  check_finite(c.data(), static_cast<std::size_t>(fmtv::pq_ksub(layout.header)),
               static_cast<int>(layout.header.dim), 0, f.path(), SectionKind::PqCentroids);
  return c;
}

// Streams the ntotal product-quantizer codes of section `kind` to append(rows, first_row,
// codes), in pieces.
template <typename Append>
void stream_codes(const detail::InputFile& f, const fmtv::Layout& layout, SectionKind kind,
                  const Append& append) {
  const fmtv::Header& h = layout.header;
  const auto code_size = static_cast<std::size_t>(fmtv::pq_code_size(h));
  const std::size_t chunk_rows = std::max<std::size_t>(1, kChunkBytes / code_size);
  std::vector<std::uint8_t> chunk = allocate<std::uint8_t>(
      std::min<std::size_t>(chunk_rows, static_cast<std::size_t>(h.ntotal)) * code_size, f.path());
  fmtv::SectionReader reader(f, layout.section(kind));
  for (std::uint64_t row = 0; row < h.ntotal;) {
    const std::size_t rows =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_rows, h.ntotal - row));
    reader.read(chunk.data(), rows * code_size);
    append(rows, row, chunk.data());
    row += rows;
  }
  reader.finish();
}

std::unique_ptr<Index> read_pq(const detail::InputFile& f, const fmtv::Layout& layout,
                               Device device, Wrapping& wrapping) {
  const fmtv::Header& h = layout.header;
  const auto next_id = static_cast<idx_t>(h.next_id);
  bool use_table = false;
  const ProductQuantizerParams params = read_pq_params(f, layout, use_table);
  std::vector<float> pq_centroids;
  if (h.trained()) pq_centroids = read_pq_centroids(f, layout);
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(SectionKind::Ids));
  std::vector<idx_t> sorted_ids = sorted_checked_ids(ids, next_id, f.path(), SectionKind::Ids);

  std::unique_ptr<IndexPQ> pq;
  if (h.pq_nbits == 4) {
    pq = std::make_unique<IndexPQFastScan>(static_cast<int>(h.dim), static_cast<int>(h.pq_m),
                                           metric_of(h.metric), device);
  } else {
    pq = std::make_unique<IndexPQ>(static_cast<int>(h.dim), static_cast<int>(h.pq_m),
                                   static_cast<int>(h.pq_nbits), metric_of(h.metric), device);
  }
  IndexPQ* index = pq.get();
  index->set_pq_params(params);
  if (h.trained()) detail::IndexRestore::set_pq_trained(*index, pq_centroids.data());
  std::unique_ptr<Index> out = wrapping.wrap(std::move(pq));
  stream_codes(f, layout, SectionKind::Codes,
               [&](std::size_t rows, std::uint64_t, const std::uint8_t* codes) {
                 detail::IndexRestore::append_pq_codes(*index, static_cast<idx_t>(rows), codes);
               });
  detail::IndexRestore::finish_pq(*index, ids, next_id);
  wrapping.finish(next_id, std::move(sorted_ids));
  return out;
}

std::unique_ptr<Index> read_ivf_pq(const detail::InputFile& f, const fmtv::Layout& layout,
                                   Device device, Wrapping& wrapping) {
  const fmtv::Header& h = layout.header;
  const std::string& path = f.path();
  const int dim = static_cast<int>(h.dim);
  const int n_lists = static_cast<int>(h.n_lists);
  const auto next_id = static_cast<idx_t>(h.next_id);

  const KMeansParams kmeans = read_kmeans(f, layout);
  bool use_table = false;
  const ProductQuantizerParams params = read_pq_params(f, layout, use_table);
  const std::vector<idx_t> sizes = read_list_sizes(f, layout);
  std::vector<float> centroids, pq_centroids;
  if (h.trained()) {
    centroids = read_section<float>(f, layout.section(SectionKind::Centroids));
    check_finite(centroids.data(), static_cast<std::size_t>(n_lists), dim, 0, path,
                 SectionKind::Centroids);
    pq_centroids = read_pq_centroids(f, layout);
  }
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(SectionKind::ListIds));
  const std::vector<idx_t> sorted_ids =
      sorted_checked_ids(ids, next_id, path, SectionKind::ListIds);

  std::unique_ptr<IndexIVFPQ> ivf;
  if (h.pq_nbits == 4) {
    ivf = std::make_unique<IndexIVFPQFastScan>(dim, n_lists, static_cast<int>(h.pq_m),
                                               metric_of(h.metric), device,
                                               (h.flags & fmtv::kFlagByResidual) != 0);
  } else {
    ivf = std::make_unique<IndexIVFPQ>(dim, n_lists, static_cast<int>(h.pq_m),
                                       static_cast<int>(h.pq_nbits), metric_of(h.metric), device);
  }
  IndexIVFPQ* index = ivf.get();
  index->set_kmeans_params(kmeans);  // validated by read_kmeans
  index->set_pq_params(params);
  index->set_n_probe(static_cast<int>(h.n_probe));
  index->set_use_precomputed_table(use_table);
  if (h.trained()) {
    detail::IndexRestore::set_ivf_pq_trained(*index, centroids.data(), pq_centroids.data());
  }
  std::unique_ptr<Index> out = wrapping.wrap(std::move(ivf));
  if (h.trained()) detail::IndexRestore::reserve_lists(*index, sizes);
  ListCursor cursor(sizes);
  std::vector<idx_t> lists;
  stream_codes(f, layout, SectionKind::Codes,
               [&](std::size_t rows, std::uint64_t row, const std::uint8_t* codes) {
                 lists.resize(rows);
                 cursor.next(rows, lists.data());
                 detail::IndexRestore::append_ivf_pq_codes(*index, static_cast<idx_t>(rows), codes,
                                                           ids.data() + row, lists.data());
               });
  detail::IndexRestore::finish_ivf_pq(*index, sorted_ids, next_id);
  wrapping.finish(next_id, sorted_ids);
  return out;
}

std::unique_ptr<Index> read_knnx(const detail::InputFile& f, Device device, bool mmap, int depth,
                                 std::vector<idx_t>* sorted_ids = nullptr);

// The file in section base_index of a RefineFlat file.
detail::InputFile nested_base(const detail::InputFile& f, const fmtv::SectionEntry& b) {
  return detail::InputFile(f, b.offset, b.size,
                           fmt::format("{}, section 'base_index' (bytes {} to {})", f.path(),
                                       b.offset, b.offset + b.size));
}

// The base index, read from its nested file and checked against the header, then the exact
// vectors; the IndexRefineFlat is built around both.
std::unique_ptr<Index> read_refine(const detail::InputFile& f, const fmtv::Layout& layout,
                                   Device device, Wrapping& wrapping, bool mmap, int depth) {
  const fmtv::Header& h = layout.header;
  const std::string& path = f.path();
  const auto next_id = static_cast<idx_t>(h.next_id);
  if (depth + 1 > fmtv::kMaxRefineDepth) {
    fail(path, "RefineFlat files nest more than {} deep", fmtv::kMaxRefineDepth);
  }
  const std::vector<std::uint8_t> record =
      read_section<std::uint8_t>(f, layout.section(SectionKind::RefineParams));
  const float k_factor = fmtv::decode_refine(record.data(), path);

  std::vector<idx_t> base_ids;
  std::unique_ptr<Index> base = read_knnx(nested_base(f, layout.section(SectionKind::BaseIndex)),
                                          device, mmap, depth + 1, &base_ids);
  const Metric metric = metric_of(h.metric);
  if (base->dim() != static_cast<int>(h.dim) || base->metric() != metric ||
      base->ntotal() != static_cast<idx_t>(h.ntotal) || base->is_trained() != h.trained()) {
    fail(path,
         "section 'base_index' holds a {} index of dim {} with {} vectors ({}trained); the "
         "header needs dim {}, {}, {} vectors, {}trained",
         to_string(base->metric()), base->dim(), base->ntotal(), base->is_trained() ? "" : "un",
         h.dim, to_string(metric), h.ntotal, h.trained() ? "" : "un");
  }
  const std::vector<idx_t> ids = read_section<idx_t>(f, layout.section(SectionKind::Ids));
  const std::vector<idx_t> sorted_ids = sorted_checked_ids(ids, next_id, path, SectionKind::Ids);
  if (sorted_ids != base_ids) {
    fail(path, "section 'base_index' holds other ids than section 'ids' (the refine vectors')");
  }
  auto refine = std::make_unique<IndexFlat>(static_cast<int>(h.dim), metric, Device::cpu());
  fill_flat(f, layout, *refine, ids, mmap);
  // Wrapped while empty (as transforms need), then given the loaded parts.
  auto made = std::make_unique<IndexRefineFlat>(
      std::make_unique<IndexFlat>(static_cast<int>(h.dim), metric, device), k_factor);
  IndexRefineFlat* index = made.get();
  std::unique_ptr<Index> out = wrapping.wrap(std::move(made));
  detail::IndexRestore::fill_refine(*index, std::move(base), std::move(refine), sorted_ids,
                                    next_id);
  wrapping.finish(next_id, sorted_ids);
  return out;
}

// A knnx index file (validated whole first); depth: the RefineFlat files it is nested in. With
// sorted_ids, the ids of the index read go there, ascending.
std::unique_ptr<Index> read_knnx(const detail::InputFile& f, Device device, bool mmap, int depth,
                                 std::vector<idx_t>* sorted_ids) {
  const fmtv::Layout layout = fmtv::read_layout(f);
  fmtv::verify_sections(f, layout);
  Wrapping wrapping = read_chain(f, layout, device);
  std::unique_ptr<Index> out;
  switch (static_cast<IndexType>(layout.header.index_type)) {  // checked by read_layout
    case IndexType::Flat:
      out = read_flat(f, layout, device, wrapping, mmap);
      break;
    case IndexType::ScalarQuantizer:
    case IndexType::IVFScalarQuantizer:
      out = read_sq(f, layout, device, wrapping);
      break;
    case IndexType::PQ:
    case IndexType::PQFastScan:
      out = read_pq(f, layout, device, wrapping);
      break;
    case IndexType::IVFPQ:
    case IndexType::IVFPQFastScan:
      out = read_ivf_pq(f, layout, device, wrapping);
      break;
    case IndexType::RefineFlat:
      out = read_refine(f, layout, device, wrapping, mmap, depth);
      break;
    case IndexType::IVFFlat:
      out = read_ivf_flat(f, layout, device, wrapping);
      break;
  }
  if (sorted_ids) *sorted_ids = std::move(wrapping.ids);
  return out;
}

}  // namespace

void write_index(const Index& index, const std::string& path) {
  write_any(index, path, nullptr, 0);
}

std::unique_ptr<Index> read_faiss_index(const std::string& path, Device device) {
  const detail::InputFile f(path);
  return detail::read_faiss_index(f, device);
}

std::unique_ptr<Index> read_index(const std::string& path, Device device,
                                  const ReadIndexOptions& options) {
  const detail::InputFile f(path);
  if (detail::is_faiss_index_file(f)) {
    if (options.mmap) {
      throw NotSupported(fmt::format(
          "read_index('{}'): a FAISS index file cannot be memory-mapped (mmap); read it without "
          "mmap, or save it with knnx's write_index and map that file",
          path));
    }
    return detail::read_faiss_index(f, device);
  }
  return read_knnx(f, device, options.mmap, 0);
}

namespace {

IndexFileInfo file_info(const detail::InputFile& f, int depth) {
  const fmtv::Layout layout = fmtv::read_layout(f);
  fmtv::verify_sections(f, layout);
  const fmtv::Header& h = layout.header;

  IndexFileInfo info;
  info.format_version = h.format_version;
  info.index_type = std::string(fmtv::to_string(static_cast<IndexType>(h.index_type)));
  info.dim = static_cast<int>(h.dim);
  info.stored_dim = static_cast<int>(h.dim);
  info.metric = metric_of(h.metric);
  info.ntotal = static_cast<idx_t>(h.ntotal);
  info.trained = h.trained();
  info.next_id = static_cast<idx_t>(h.next_id);
  info.n_lists = static_cast<int>(h.n_lists);
  info.n_probe = static_cast<int>(h.n_probe);
  info.file_size = h.file_size;
  for (const fmtv::SectionEntry& s : layout.sections) {
    info.sections.push_back({fmtv::section_name(s.kind), s.offset, s.size, s.crc});
  }
  if (h.has_chain()) {
    const fmtv::TransformChainRecord chain = read_chain_record(f, layout);
    info.dim = static_cast<int>(chain.d_in);
    for (const fmtv::TransformRecord& r : chain.transforms) {
      IndexFileTransform t;
      t.type = fmtv::transform_type_name(static_cast<std::uint32_t>(r.type));
      t.d_in = static_cast<int>(r.d_in);
      t.d_out = static_cast<int>(r.d_out);
      t.trained = r.trained;
      t.whiten = r.whiten;
      t.whiten_eps = r.whiten_eps;
      t.seed = r.seed;
      t.m = static_cast<int>(r.m);
      t.n_iter = r.n_iter;
      t.ksub = r.ksub;
      info.transforms.push_back(std::move(t));
    }
  }
  if (h.n_lists > 0) {
    info.kmeans = read_kmeans(f, layout);
    info.list_sizes = read_list_sizes(f, layout);
  }
  if (fmtv::is_sq(h.index_type)) {
    info.quantizer =
        std::string(ScalarQuantizer::type_name(static_cast<ScalarQuantizer::Type>(h.quantizer)));
    info.by_residual = (h.flags & fmtv::kFlagByResidual) != 0;
  }
  if (fmtv::is_pq(h.index_type)) {
    bool use_table = false;
    read_pq_params(f, layout, use_table);
    info.pq_m = static_cast<int>(h.pq_m);
    info.pq_nbits = static_cast<int>(h.pq_nbits);
    if (fmtv::is_ivf_pq(h.index_type)) {
      info.by_residual = h.pq_nbits == 8 || (h.flags & fmtv::kFlagByResidual) != 0;
    }
  }
  if (h.index_type == static_cast<std::uint32_t>(IndexType::RefineFlat)) {
    if (depth + 1 > fmtv::kMaxRefineDepth) {
      fail(f.path(), "RefineFlat files nest more than {} deep", fmtv::kMaxRefineDepth);
    }
    const std::vector<std::uint8_t> record =
        read_section<std::uint8_t>(f, layout.section(SectionKind::RefineParams));
    info.k_factor = fmtv::decode_refine(record.data(), f.path());
    const fmtv::SectionEntry& b = layout.section(SectionKind::BaseIndex);
    info.base_index.push_back(file_info(nested_base(f, b), depth + 1));
  }
  return info;
}

}  // namespace

IndexFileInfo read_index_info(const std::string& path) {
  return file_info(detail::InputFile(path), 0);
}

}  // namespace knnx
