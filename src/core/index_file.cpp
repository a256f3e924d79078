#include "core/index_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/byte_fields.hpp"
#include "core/crc32c.hpp"
#include "knnx/error.hpp"
#include "knnx/types.hpp"

namespace knnx::detail::index_file {
namespace {

static_assert(std::endian::native == std::endian::little,
              "index files are little-endian; a big-endian host would need byte swapping");

// Checksums are verified in pieces of this size.
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;

// Header field offsets (docs/file_format.md, "Header").
constexpr std::size_t kOffVersion = 8;
constexpr std::size_t kOffHeaderBytes = 12;
constexpr std::size_t kOffIndexType = 16;
constexpr std::size_t kOffMetric = 20;
constexpr std::size_t kOffDim = 24;
constexpr std::size_t kOffNLists = 28;
constexpr std::size_t kOffNProbe = 32;
constexpr std::size_t kOffFlags = 36;
constexpr std::size_t kOffNTotal = 40;
constexpr std::size_t kOffNextId = 48;
constexpr std::size_t kOffFileSize = 56;
constexpr std::size_t kOffSectionCount = 64;
constexpr std::size_t kOffTableCrc = 68;
constexpr std::size_t kOffQuantizer = 72;
constexpr std::size_t kOffPqM = 76;
constexpr std::size_t kOffPqNbits = 80;
constexpr std::size_t kOffReserved = 84;
constexpr std::size_t kOffHeaderCrc = 124;

constexpr std::uint64_t kMaxSigned = static_cast<std::uint64_t>(std::numeric_limits<idx_t>::max());

template <typename... Args>
[[noreturn]] void fail(const std::string& path, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw FormatError(
      fmt::format("'{}': {}", path, fmt::format(format, std::forward<Args>(args)...)));
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

// a * b * c, or FormatError naming what when the product does not fit in 63 bits.
std::uint64_t checked_product(std::uint64_t a, std::uint64_t b, std::uint64_t c,
                              const std::string& path, std::string_view what) {
  std::uint64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out) || __builtin_mul_overflow(out, c, &out) ||
      out > kMaxSigned) {
    fail(path, "{} ({} x {} x {} bytes) overflows 64-bit sizes", what, a, b, c);
  }
  return out;
}

std::uint64_t align_up(std::uint64_t x) {
  return (x + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
}

std::string hex32(std::uint32_t v) { return fmt::format("0x{:08x}", v); }

// "a Flat index", "a trained IVFFlat index", "an untrained IVFFlat index with a transform
// chain" (for messages).
std::string describe(const Header& h) {
  const std::string chain = h.has_chain() ? " with a transform chain" : "";
  if (h.index_type == static_cast<std::uint32_t>(IndexType::Flat)) return "a Flat index" + chain;
  const std::string_view type = to_string(static_cast<IndexType>(h.index_type));
  return fmt::format("{} {} index{}", h.trained() ? "a trained" : "an untrained", type, chain);
}

bool has_lists(const Header& h) {
  return h.index_type == static_cast<std::uint32_t>(IndexType::IVFFlat) ||
         h.index_type == static_cast<std::uint32_t>(IndexType::IVFScalarQuantizer) ||
         is_ivf_pq(h.index_type);
}

void check_header_fields(const Header& h, const std::string& path) {
  if (h.index_type < static_cast<std::uint32_t>(IndexType::Flat) ||
      h.index_type > static_cast<std::uint32_t>(IndexType::RefineFlat)) {
    fail(path,
         "unknown index type {} (known: 1 = Flat, 2 = IVFFlat, 3 = ScalarQuantizer, 4 = "
         "IVFScalarQuantizer, 5 = PQ, 6 = IVFPQ, 7 = PQFastScan, 8 = IVFPQFastScan, 9 = "
         "RefineFlat)",
         h.index_type);
  }
  if (is_sq(h.index_type)) {
    if (sq_code_size(h.quantizer, 1) == 0) {
      fail(path,
           "unknown scalar quantizer type {} (known: 0 = QT_8bit, 1 = QT_4bit, 2 = QT_fp16, "
           "3 = QT_bf16)",
           h.quantizer);
    }
  } else if (h.quantizer != 0) {
    fail(path, "reserved header bytes {}-{} are not zero", kOffQuantizer, kOffHeaderCrc - 1);
  }
  if (h.metric > 1) fail(path, "unknown metric {} (known: 0 = L2, 1 = inner product)", h.metric);
  if (h.dim < 1 || h.dim > static_cast<std::uint32_t>(kMaxDim)) {
    fail(path, "dim {} is outside [1, {}]", h.dim, kMaxDim);
  }
  if (is_pq(h.index_type)) {
    const bool fast_scan = h.index_type == static_cast<std::uint32_t>(IndexType::PQFastScan) ||
                           h.index_type == static_cast<std::uint32_t>(IndexType::IVFPQFastScan);
    if (!fast_scan && h.pq_nbits != 8) {
      fail(path, "pq_nbits is {}; knnx reads 8-bit codes only", h.pq_nbits);
    }
    if (fast_scan && h.pq_nbits != 4) {
      fail(path, "pq_nbits is {}; the fast-scan types hold 4-bit codes", h.pq_nbits);
    }
    if (h.pq_m < 1 || h.pq_m > h.dim || h.dim % h.pq_m != 0) {
      fail(path, "pq_m {} does not divide dim {} into sub-quantizers", h.pq_m, h.dim);
    }
    if (fast_scan && (h.pq_m % 2 != 0 || h.pq_m > kPqFastScanMaxM)) {
      fail(path, "pq_m {} of a fast-scan type is not even or exceeds {}", h.pq_m, kPqFastScanMaxM);
    }
  } else if (h.pq_m != 0 || h.pq_nbits != 0) {
    fail(path, "reserved header bytes {}-{} are not zero", kOffPqM, kOffHeaderCrc - 1);
  }
  std::uint32_t known_flags =
      h.format_version >= 2 ? kFlagTrained | kFlagTransformChain : kFlagTrained;
  if (h.index_type == static_cast<std::uint32_t>(IndexType::IVFScalarQuantizer) ||
      h.index_type == static_cast<std::uint32_t>(IndexType::IVFPQFastScan)) {
    known_flags |= kFlagByResidual;
  }
  if ((h.flags & ~known_flags) != 0) {
    fail(path, "unknown header flags {} for format version {}", hex32(h.flags), h.format_version);
  }
  if (h.ntotal > kMaxSigned) fail(path, "ntotal {} exceeds the int64 range", h.ntotal);
  if (h.next_id > kMaxSigned) fail(path, "next_id {} exceeds the int64 range", h.next_id);
  if (h.index_type == static_cast<std::uint32_t>(IndexType::Flat)) {
    if (h.n_lists != 0 || h.n_probe != 0) {
      fail(path, "a Flat index has n_lists = 0 and n_probe = 0, got {} and {}", h.n_lists,
           h.n_probe);
    }
    if (!h.trained()) fail(path, "a Flat index is always trained, but the trained flag is clear");
  } else if (!has_lists(h)) {
    const std::string_view type = to_string(static_cast<IndexType>(h.index_type));
    if (h.n_lists != 0 || h.n_probe != 0) {
      fail(path, "a {} index has n_lists = 0 and n_probe = 0, got {} and {}", type, h.n_lists,
           h.n_probe);
    }
    if (!h.trained() && h.ntotal != 0) {
      fail(path, "an untrained {} index holds no vectors, but ntotal = {}", type, h.ntotal);
    }
  } else {
    if (h.n_lists < 1 || h.n_lists > static_cast<std::uint32_t>(std::numeric_limits<int>::max())) {
      fail(path, "n_lists {} is outside [1, {}]", h.n_lists, std::numeric_limits<int>::max());
    }
    if (h.n_probe < 1 || h.n_probe > h.n_lists) {
      fail(path, "n_probe {} is outside [1, n_lists = {}]", h.n_probe, h.n_lists);
    }
    if (!h.trained() && h.ntotal != 0) {
      fail(path, "an untrained {} index holds no vectors, but ntotal = {}",
           to_string(static_cast<IndexType>(h.index_type)), h.ntotal);
    }
  }
}

}  // namespace

std::string_view to_string(IndexType type) {
  switch (type) {
    case IndexType::Flat:
      return "Flat";
    case IndexType::IVFFlat:
      return "IVFFlat";
    case IndexType::ScalarQuantizer:
      return "ScalarQuantizer";
    case IndexType::IVFScalarQuantizer:
      return "IVFScalarQuantizer";
    case IndexType::PQ:
      return "PQ";
    case IndexType::IVFPQ:
      return "IVFPQ";
    case IndexType::PQFastScan:
      return "PQFastScan";
    case IndexType::IVFPQFastScan:
      return "IVFPQFastScan";
    case IndexType::RefineFlat:
      return "RefineFlat";
  }
  return "unknown";
}

std::uint64_t sq_code_size(std::uint32_t quantizer, std::uint32_t dim) {
  switch (quantizer) {
    case 0:  // QT_8bit
      return dim;
    case 1:  // QT_4bit
      return (std::uint64_t{dim} + 1) / 2;
    case 2:  // QT_fp16
    case 3:  // QT_bf16
      return 2 * std::uint64_t{dim};
    default:
      return 0;
  }
}

bool sq_has_ranges(std::uint32_t quantizer) { return quantizer <= 1; }

bool is_pq(std::uint32_t index_type) {
  return index_type == static_cast<std::uint32_t>(IndexType::PQ) ||
         index_type == static_cast<std::uint32_t>(IndexType::PQFastScan) || is_ivf_pq(index_type);
}

bool is_ivf_pq(std::uint32_t index_type) {
  return index_type == static_cast<std::uint32_t>(IndexType::IVFPQ) ||
         index_type == static_cast<std::uint32_t>(IndexType::IVFPQFastScan);
}

// Valid for headers check_header_fields accepted (pq_nbits 4 or 8).
std::uint64_t pq_code_size(const Header& h) { return std::uint64_t{h.pq_m} * h.pq_nbits / 8; }
std::uint64_t pq_ksub(const Header& h) { return std::uint64_t{1} << h.pq_nbits; }

bool is_sq(std::uint32_t index_type) {
  return index_type == static_cast<std::uint32_t>(IndexType::ScalarQuantizer) ||
         index_type == static_cast<std::uint32_t>(IndexType::IVFScalarQuantizer);
}

std::string section_name(std::uint32_t kind) {
  switch (static_cast<SectionKind>(kind)) {
    case SectionKind::Vectors:
      return "vectors";
    case SectionKind::Ids:
      return "ids";
    case SectionKind::Centroids:
      return "centroids";
    case SectionKind::ListSizes:
      return "list_sizes";
    case SectionKind::ListIds:
      return "list_ids";
    case SectionKind::ListVectors:
      return "list_vectors";
    case SectionKind::KMeansParams:
      return "kmeans_params";
    case SectionKind::TransformChain:
      return "transform_chain";
    case SectionKind::SqRanges:
      return "sq_ranges";
    case SectionKind::Codes:
      return "codes";
    case SectionKind::PqParams:
      return "pq_params";
    case SectionKind::PqCentroids:
      return "pq_centroids";
    case SectionKind::RefineParams:
      return "refine_params";
    case SectionKind::BaseIndex:
      return "base_index";
  }
  return fmt::format("kind {}", kind);
}

// ------------------------------------------------------------------------------------------
// Encoding

std::array<std::uint8_t, kHeaderBytes> encode_header(const Header& h) {
  std::array<std::uint8_t, kHeaderBytes> b{};
  std::memcpy(b.data(), kMagic.data(), kMagic.size());
  put_field(b.data(), kOffVersion, h.format_version);
  put_field(b.data(), kOffHeaderBytes, h.header_bytes);
  put_field(b.data(), kOffIndexType, h.index_type);
  put_field(b.data(), kOffMetric, h.metric);
  put_field(b.data(), kOffDim, h.dim);
  put_field(b.data(), kOffNLists, h.n_lists);
  put_field(b.data(), kOffNProbe, h.n_probe);
  put_field(b.data(), kOffFlags, h.flags);
  put_field(b.data(), kOffQuantizer, h.quantizer);
  put_field(b.data(), kOffPqM, h.pq_m);
  put_field(b.data(), kOffPqNbits, h.pq_nbits);
  put_field(b.data(), kOffNTotal, h.ntotal);
  put_field(b.data(), kOffNextId, h.next_id);
  put_field(b.data(), kOffFileSize, h.file_size);
  put_field(b.data(), kOffSectionCount, h.section_count);
  put_field(b.data(), kOffTableCrc, h.table_crc);
  put_field(b.data(), kOffHeaderCrc, crc32c(b.data(), kOffHeaderCrc));
  return b;
}

Header decode_header(const std::uint8_t* b) {
  Header h;
  h.format_version = get_field<std::uint32_t>(b, kOffVersion);
  h.header_bytes = get_field<std::uint32_t>(b, kOffHeaderBytes);
  h.index_type = get_field<std::uint32_t>(b, kOffIndexType);
  h.metric = get_field<std::uint32_t>(b, kOffMetric);
  h.dim = get_field<std::uint32_t>(b, kOffDim);
  h.n_lists = get_field<std::uint32_t>(b, kOffNLists);
  h.n_probe = get_field<std::uint32_t>(b, kOffNProbe);
  h.flags = get_field<std::uint32_t>(b, kOffFlags);
  h.quantizer = get_field<std::uint32_t>(b, kOffQuantizer);
  h.pq_m = get_field<std::uint32_t>(b, kOffPqM);
  h.pq_nbits = get_field<std::uint32_t>(b, kOffPqNbits);
  h.ntotal = get_field<std::uint64_t>(b, kOffNTotal);
  h.next_id = get_field<std::uint64_t>(b, kOffNextId);
  h.file_size = get_field<std::uint64_t>(b, kOffFileSize);
  h.section_count = get_field<std::uint32_t>(b, kOffSectionCount);
  h.table_crc = get_field<std::uint32_t>(b, kOffTableCrc);
  h.header_crc = get_field<std::uint32_t>(b, kOffHeaderCrc);
  return h;
}

std::vector<std::uint8_t> encode_table(const std::vector<SectionEntry>& sections) {
  std::vector<std::uint8_t> b(sections.size() * kSectionEntryBytes, 0);
  for (std::size_t i = 0; i < sections.size(); ++i) {
    std::uint8_t* e = b.data() + i * kSectionEntryBytes;
    put_field(e, 0, sections[i].kind);
    put_field(e, 8, sections[i].offset);
    put_field(e, 16, sections[i].size);
    put_field(e, 24, sections[i].crc);
  }
  return b;
}

SectionEntry decode_section_entry(const std::uint8_t* e) {
  SectionEntry s;
  s.kind = get_field<std::uint32_t>(e, 0);
  s.offset = get_field<std::uint64_t>(e, 8);
  s.size = get_field<std::uint64_t>(e, 16);
  s.crc = get_field<std::uint32_t>(e, 24);
  return s;
}

std::array<std::uint8_t, kKMeansRecordBytes> encode_kmeans(const KMeansRecord& r) {
  std::array<std::uint8_t, kKMeansRecordBytes> b{};
  put_field(b.data(), 0, r.n_iter);
  put_field(b.data(), 4, r.init);
  put_field(b.data(), 8, r.max_points_per_centroid);
  put_field(b.data(), 12, r.min_points_per_centroid);
  put_field(b.data(), 16, r.init_points_per_centroid);
  put_field(b.data(), 20, r.spherical);
  put_field(b.data(), 24, r.seed);
  return b;
}

KMeansRecord decode_kmeans(const std::uint8_t* b) {
  KMeansRecord r;
  r.n_iter = get_field<std::int32_t>(b, 0);
  r.init = get_field<std::uint32_t>(b, 4);
  r.max_points_per_centroid = get_field<std::int32_t>(b, 8);
  r.min_points_per_centroid = get_field<std::int32_t>(b, 12);
  r.init_points_per_centroid = get_field<std::int32_t>(b, 16);
  r.spherical = get_field<std::uint32_t>(b, 20);
  r.seed = get_field<std::uint64_t>(b, 24);
  return r;
}

std::array<std::uint8_t, kPqRecordBytes> encode_pq(const PqRecord& r) {
  std::array<std::uint8_t, kPqRecordBytes> b{};
  put_field(b.data(), 0, r.kmeans_iter);
  put_field(b.data(), 4, r.max_points_per_centroid);
  put_field(b.data(), 8, r.seed);
  put_field(b.data(), 16, r.use_precomputed_table);
  return b;
}

PqRecord decode_pq(const std::uint8_t* b, const std::string& path) {
  if (!all_zero(b + 20, kPqRecordBytes - 20)) {
    fail(path, "section 'pq_params': reserved bytes 20-31 are not zero");
  }
  PqRecord r;
  r.kmeans_iter = get_field<std::int32_t>(b, 0);
  r.max_points_per_centroid = get_field<std::int32_t>(b, 4);
  r.seed = get_field<std::uint64_t>(b, 8);
  r.use_precomputed_table = get_field<std::uint32_t>(b, 16);
  return r;
}

std::array<std::uint8_t, kRefineRecordBytes> encode_refine(float k_factor) {
  std::array<std::uint8_t, kRefineRecordBytes> b{};
  put_field(b.data(), 0, k_factor);
  return b;
}

float decode_refine(const std::uint8_t* b, const std::string& path) {
  if (!all_zero(b + 4, kRefineRecordBytes - 4)) {
    fail(path, "section 'refine_params': reserved bytes 4-31 are not zero");
  }
  const auto k_factor = get_field<float>(b, 0);
  if (!std::isfinite(k_factor) || k_factor < 1.0f) {
    fail(path, "section 'refine_params': k_factor {} is not finite and >= 1", k_factor);
  }
  return k_factor;
}

// ------------------------------------------------------------------------------------------
// Layout

std::vector<SectionSpec> required_sections(const Header& h, const std::string& path) {
  const std::uint64_t vectors =
      checked_product(h.ntotal, h.dim, sizeof(float), path, "ntotal x dim float32 vectors");
  const std::uint64_t ids = checked_product(h.ntotal, 1, sizeof(idx_t), path, "ntotal int64 ids");
  std::vector<SectionSpec> out;
  if (h.has_chain()) out.push_back({SectionKind::TransformChain, kSizeFromContents});
  if (h.index_type == static_cast<std::uint32_t>(IndexType::RefineFlat)) {
    out.push_back({SectionKind::RefineParams, kRefineRecordBytes});
    out.push_back({SectionKind::BaseIndex, kSizeFromContents});
  }
  if (h.index_type == static_cast<std::uint32_t>(IndexType::Flat) ||
      h.index_type == static_cast<std::uint32_t>(IndexType::RefineFlat)) {
    out.push_back({SectionKind::Vectors, vectors});
    out.push_back({SectionKind::Ids, ids});
    return out;
  }
  const bool sq = is_sq(h.index_type);
  const bool pq = is_pq(h.index_type);
  const std::uint64_t code_size = sq ? sq_code_size(h.quantizer, h.dim) : pq ? pq_code_size(h) : 0;
  const std::uint64_t codes =
      sq || pq ? checked_product(h.ntotal, code_size, 1, path, "ntotal codes") : 0;
  const bool ranges = sq && h.trained() && sq_has_ranges(h.quantizer);
  // PQ types: 2^pq_nbits codebook entries of dim / pq_m floats for each of the pq_m
  // sub-quantizers.
  const SectionSpec pq_centroids{SectionKind::PqCentroids, pq ? pq_ksub(h) * h.dim * 4 : 0};
  if (h.index_type == static_cast<std::uint32_t>(IndexType::ScalarQuantizer) ||
      h.index_type == static_cast<std::uint32_t>(IndexType::PQ) ||
      h.index_type == static_cast<std::uint32_t>(IndexType::PQFastScan)) {
    if (ranges) out.push_back({SectionKind::SqRanges, std::uint64_t{h.dim} * 2 * sizeof(float)});
    if (pq) out.push_back({SectionKind::PqParams, kPqRecordBytes});
    if (pq && h.trained()) out.push_back(pq_centroids);
    out.push_back({SectionKind::Ids, ids});
    out.push_back({SectionKind::Codes, codes});
    return out;
  }
  out.push_back({SectionKind::KMeansParams, kKMeansRecordBytes});
  if (pq) out.push_back({SectionKind::PqParams, kPqRecordBytes});
  if (h.trained()) {
    out.push_back({SectionKind::Centroids, checked_product(h.n_lists, h.dim, sizeof(float), path,
                                                           "n_lists x dim float32 centroids")});
    if (pq) out.push_back(pq_centroids);
  }
  if (ranges) out.push_back({SectionKind::SqRanges, std::uint64_t{h.dim} * 2 * sizeof(float)});
  out.push_back({SectionKind::ListSizes, std::uint64_t{h.n_lists} * sizeof(std::uint64_t)});
  out.push_back({SectionKind::ListIds, ids});
  out.push_back(sq || pq ? SectionSpec{SectionKind::Codes, codes}
                         : SectionSpec{SectionKind::ListVectors, vectors});
  return out;
}

std::vector<std::uint64_t> layout_offsets(const std::vector<std::uint64_t>& sizes) {
  std::vector<std::uint64_t> offsets;
  offsets.reserve(sizes.size() + 1);
  std::uint64_t end = kHeaderBytes + sizes.size() * kSectionEntryBytes;
  for (std::uint64_t size : sizes) {
    offsets.push_back(align_up(end));
    end = offsets.back() + size;
  }
  offsets.push_back(end);
  return offsets;
}

const SectionEntry& Layout::section(SectionKind kind) const {
  for (const SectionEntry& s : sections) {
    if (s.kind == static_cast<std::uint32_t>(kind)) return s;
  }
  throw Error(fmt::format("index file layout has no {} section",
                          section_name(static_cast<std::uint32_t>(kind))));
}

bool Layout::has(SectionKind kind) const {
  return std::any_of(sections.begin(), sections.end(), [kind](const SectionEntry& s) {
    return s.kind == static_cast<std::uint32_t>(kind);
  });
}

Layout read_layout(const InputFile& f) {
  const std::string& path = f.path();
  const std::uint64_t size = f.size();
  std::array<std::uint8_t, kHeaderBytes> bytes{};
  f.read_at(0, bytes.data(), static_cast<std::size_t>(std::min<std::uint64_t>(size, kHeaderBytes)));

  if (size == 0) fail(path, "file is empty");
  if (size < kMagic.size() ||
      std::memcmp(bytes.data(), kMagic.data(), std::min<std::uint64_t>(size, kMagic.size())) != 0) {
    std::string shown;
    for (std::size_t i = 0; i < std::min<std::uint64_t>(size, kMagic.size()); ++i) {
      shown += fmt::format("{:02x}", bytes[i]);
    }
    if (size >= kMagic.size()) {
      fail(path, "not a knnx index file: bad magic (bytes 0-7 are {}, expected \"KNNXIDX\\0\")",
           shown);
    }
    fail(path, "not a knnx index file: only {} byte(s), shorter than the 8-byte magic", size);
  }
  if (size < kHeaderBytes) {
    fail(path, "file is truncated: {} bytes, shorter than the {}-byte header", size, kHeaderBytes);
  }

  Header h = decode_header(bytes.data());
  if (h.format_version < kOldestReadableVersion || h.format_version > kFormatVersion) {
    fail(path, "unsupported format version {} (this build of knnx reads versions {} to {})",
         h.format_version, kOldestReadableVersion, kFormatVersion);
  }
  if (h.header_bytes != kHeaderBytes) {
    fail(path, "header size {} bytes, expected {} for format version {}", h.header_bytes,
         kHeaderBytes, h.format_version);
  }
  const std::uint32_t header_crc = crc32c(bytes.data(), kOffHeaderCrc);
  if (header_crc != h.header_crc) {
    fail(path, "header checksum mismatch (stored {}, computed {}): the header is corrupt",
         hex32(h.header_crc), hex32(header_crc));
  }
  if (!all_zero(bytes.data() + kOffReserved, kOffHeaderCrc - kOffReserved)) {
    fail(path, "reserved header bytes {}-{} are not zero", kOffReserved, kOffHeaderCrc - 1);
  }
  check_header_fields(h, path);
  if (h.file_size != size) {
    if (size < h.file_size) {
      fail(path, "file is truncated: {} bytes, its header says {}", size, h.file_size);
    }
    fail(path, "file has {} bytes, its header says {} (trailing data)", size, h.file_size);
  }

  const std::vector<SectionSpec> expected = required_sections(h, path);
  if (h.section_count < 1 || h.section_count > kMaxSections) {
    fail(path, "section count {} is outside [1, {}]", h.section_count, kMaxSections);
  }
  if (h.section_count != expected.size()) {
    fail(path, "header lists {} sections; {} has {}", h.section_count, describe(h),
         expected.size());
  }
  const std::uint64_t table_end =
      kHeaderBytes + std::uint64_t{h.section_count} * kSectionEntryBytes;
  if (table_end > size) {
    fail(path,
         "file is truncated: the {}-entry section table ends at byte {}, after the end "
         "of the file ({} bytes)",
         h.section_count, table_end, size);
  }
  std::vector<std::uint8_t> table(static_cast<std::size_t>(h.section_count) * kSectionEntryBytes);
  f.read_at(kHeaderBytes, table.data(), table.size());
  const std::uint32_t table_crc = crc32c(table.data(), table.size());
  if (table_crc != h.table_crc) {
    fail(path, "section table checksum mismatch (stored {}, computed {}): the table is corrupt",
         hex32(h.table_crc), hex32(table_crc));
  }

  Layout layout;
  layout.header = h;
  std::uint64_t end = table_end;
  for (std::uint32_t i = 0; i < h.section_count; ++i) {
    const std::uint8_t* e = table.data() + std::size_t{i} * kSectionEntryBytes;
    const SectionEntry s = decode_section_entry(e);
    const std::string name = section_name(s.kind);
    if (!all_zero(e + 4, 4) || !all_zero(e + 28, 4)) {
      fail(path, "section table entry {} ({}) has non-zero reserved bytes", i, name);
    }
    if (s.kind == static_cast<std::uint32_t>(SectionKind::TransformChain) && h.format_version < 2) {
      fail(path, "section {} is a transform chain, which format version {} does not define", i,
           h.format_version);
    }
    const auto spec = std::find_if(expected.begin(), expected.end(), [&](const SectionSpec& x) {
      return static_cast<std::uint32_t>(x.kind) == s.kind;
    });
    if (spec == expected.end()) {
      fail(path, "section {} has kind {} ({}), which {} does not hold", i, s.kind, name,
           describe(h));
    }
    if (layout.has(spec->kind)) fail(path, "section '{}' appears more than once", name);
    if (spec->size == kSizeFromContents) {
      // Checked by the section's decoder; here only that it fits the file (below).
    } else if (s.size != spec->size) {
      fail(path, "section '{}' is {} bytes; the header (ntotal {}, dim {}, n_lists {}) needs {}",
           name, s.size, h.ntotal, h.dim, h.n_lists, spec->size);
    }
    const std::uint64_t offset = align_up(end);
    if (s.offset != offset) {
      fail(path,
           "section '{}' starts at byte {}, expected {} (sections follow the table in "
           "order, each at the next multiple of {})",
           name, s.offset, offset, kSectionAlignment);
    }
    if (s.size > size - std::min(size, offset)) {
      fail(path, "section '{}' (bytes {} to {}) runs past the end of the file ({} bytes)", name,
           s.offset, s.offset + s.size, size);
    }
    end = offset + s.size;
    layout.sections.push_back(s);
  }
  if (end != size) {
    fail(path, "the last section ends at byte {}, but the file has {} bytes", end, size);
  }
  return layout;
}

void verify_sections(const InputFile& f, const Layout& layout) {
  const std::string& path = f.path();
  std::uint64_t largest = 0;
  for (const SectionEntry& s : layout.sections) largest = std::max(largest, s.size);
  std::vector<std::uint8_t> buffer(
      static_cast<std::size_t>(std::min<std::uint64_t>(largest, kChunkBytes)));
  std::uint64_t end = kHeaderBytes + layout.sections.size() * kSectionEntryBytes;
  for (const SectionEntry& s : layout.sections) {
    const std::size_t pad = static_cast<std::size_t>(s.offset - end);
    if (pad > 0) {
      std::array<std::uint8_t, kSectionAlignment> bytes{};
      f.read_at(end, bytes.data(), pad);
      if (!all_zero(bytes.data(), pad)) {
        fail(path, "padding bytes {} to {} before section '{}' are not zero", end, s.offset - 1,
             section_name(s.kind));
      }
    }
    std::uint32_t crc = 0;
    for (std::uint64_t done = 0; done < s.size;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(s.size - done, buffer.size()));
      f.read_at(s.offset + done, buffer.data(), n);
      crc = crc32c_extend(crc, buffer.data(), n);
      done += n;
    }
    if (crc != s.crc) {
      fail(path,
           "section '{}' checksum mismatch (stored {}, computed {}): bytes {} to {} are "
           "corrupt",
           section_name(s.kind), hex32(s.crc), hex32(crc), s.offset, s.offset + s.size);
    }
    end = s.offset + s.size;
  }
}

// ------------------------------------------------------------------------------------------
// SectionReader

SectionReader::SectionReader(const InputFile& f, const SectionEntry& entry)
    : f_(f), entry_(entry) {}

void SectionReader::read(void* out, std::size_t n) {
  if (n > remaining()) {
    throw Error(fmt::format("reading '{}': {} bytes requested from section '{}' with {} left",
                            f_.path(), n, section_name(entry_.kind), remaining()));
  }
  f_.read_at(entry_.offset + done_, out, n);
  crc_ = crc32c_extend(crc_, out, n);
  done_ += n;
}

void SectionReader::finish() const {
  if (done_ != entry_.size || crc_ != entry_.crc) {
    fail(f_.path(),
         "section '{}' changed while it was being read (checksum {} after loading, "
         "{} when verified)",
         section_name(entry_.kind), hex32(crc_), hex32(entry_.crc));
  }
}

// ------------------------------------------------------------------------------------------
// Writer

Writer::Writer(const std::string& path, const Header& header,
               const std::vector<SectionSpec>& sections, std::vector<std::uint8_t>* image)
    : path_(path),
      file_(image ? nullptr : std::make_unique<AtomicFileWriter>(path)),
      image_(image),
      header_(header) {
  if (image_) image_->clear();
  std::vector<std::uint64_t> sizes;
  for (const SectionSpec& s : sections) sizes.push_back(s.size);
  const std::vector<std::uint64_t> offsets = layout_offsets(sizes);
  for (std::size_t i = 0; i < sections.size(); ++i) {
    sections_.push_back({static_cast<std::uint32_t>(sections[i].kind), offsets[i], sizes[i], 0});
  }
  header_.format_version = kFormatVersion;
  header_.header_bytes = kHeaderBytes;
  header_.section_count = static_cast<std::uint32_t>(sections.size());
  header_.file_size = offsets.back();
  // Placeholders; commit() writes the real header and table over them.
  put_zeros(kHeaderBytes + sections.size() * kSectionEntryBytes);
}

std::uint64_t Writer::position() const { return file_ ? file_->position() : image_->size(); }

void Writer::put(const void* data, std::size_t n) {
  if (file_) return file_->write(data, n);
  const auto* p = static_cast<const std::uint8_t*>(data);
  image_->insert(image_->end(), p, p + n);
}

void Writer::put_zeros(std::size_t n) {
  if (file_) return file_->write_zeros(n);
  image_->resize(image_->size() + n, 0);
}

void Writer::overwrite(std::uint64_t offset, const void* data, std::size_t n) {
  if (file_) return file_->overwrite(offset, data, n);
  std::memcpy(image_->data() + offset, data, n);
}

void Writer::begin_section(SectionKind kind) {
  if (open_ || current_ >= sections_.size() ||
      sections_[current_].kind != static_cast<std::uint32_t>(kind)) {
    throw Error(fmt::format("writing '{}': section '{}' out of order", path_,
                            section_name(static_cast<std::uint32_t>(kind))));
  }
  put_zeros(static_cast<std::size_t>(sections_[current_].offset - position()));
  open_ = true;
  written_ = 0;
  crc_ = 0;
}

void Writer::write(const void* data, std::size_t n) {
  if (!open_ || written_ + n > sections_[current_].size) {
    throw Error(fmt::format("writing '{}': {} bytes do not fit section '{}'", path_, n,
                            open_ ? section_name(sections_[current_].kind) : "(none)"));
  }
  put(data, n);
  crc_ = crc32c_extend(crc_, data, n);
  written_ += n;
}

void Writer::end_section() {
  SectionEntry& s = sections_[current_];
  if (!open_ || written_ != s.size) {
    // The index changed between sizing the file and writing it (a caller broke the rule that
    // nothing mutates an index while it is being saved).
    throw Error(fmt::format("writing '{}': section '{}' got {} bytes, {} were announced", path_,
                            section_name(s.kind), written_, s.size));
  }
  s.crc = crc_;
  open_ = false;
  ++current_;
}

void Writer::commit() {
  if (open_ || current_ != sections_.size()) {
    throw Error(
        fmt::format("writing '{}': {} of {} sections written", path_, current_, sections_.size()));
  }
  const std::vector<std::uint8_t> table = encode_table(sections_);
  header_.table_crc = crc32c(table.data(), table.size());
  const auto header = encode_header(header_);
  overwrite(0, header.data(), header.size());
  overwrite(kHeaderBytes, table.data(), table.size());
  if (file_) file_->commit();
}

}  // namespace knnx::detail::index_file
