// core/index_file.hpp — the knnx index file format (docs/file_format.md): header and section
// table encoding, their validation, and checksummed section reading and writing.
//
// This layer knows the layout and what each section must hold for an index type (its size,
// derived from the header); turning sections into index objects is src/index/index_io.cpp's job.
// read_layout() and verify_sections() check everything a file promises — magic, version,
// header and table checksums, field ranges, section sizes against the header and the file size,
// every section checksum and zero padding — without allocating more than a fixed-size buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/binary_file.hpp"

namespace knnx::detail::index_file {

inline constexpr std::array<char, 8> kMagic = {'K', 'N', 'N', 'X', 'I', 'D', 'X', '\0'};
// The version this build writes, and the oldest it still reads. Version 2 adds the
// transform_chain section (and the header flag announcing it).
inline constexpr std::uint32_t kFormatVersion = 2;
inline constexpr std::uint32_t kOldestReadableVersion = 1;

inline constexpr std::size_t kHeaderBytes = 128;
inline constexpr std::size_t kSectionEntryBytes = 32;
inline constexpr std::uint32_t kMaxSections = 16;
inline constexpr std::uint64_t kSectionAlignment = 64;
inline constexpr std::size_t kKMeansRecordBytes = 32;
inline constexpr std::size_t kPqRecordBytes = 32;
inline constexpr std::size_t kRefineRecordBytes = 32;
// Centroids per sub-quantizer of the product-quantizer indexes: 256 (8-bit codes, PQ and IVFPQ)
// or 16 (4-bit codes, PQFastScan and IVFPQFastScan): 2^pq_nbits.
inline constexpr std::uint32_t kPqKsub = 256;
// The fast-scan types' codes: pq_m even, at most 256 sub-quantizers.
inline constexpr std::uint32_t kPqFastScanMaxM = 256;

enum class IndexType : std::uint32_t {
  Flat = 1,
  IVFFlat = 2,
  ScalarQuantizer = 3,     // IndexScalarQuantizer: codes in row order
  IVFScalarQuantizer = 4,  // IndexIVFScalarQuantizer: lists of codes
  PQ = 5,                  // IndexPQ: product-quantizer codes in row order
  IVFPQ = 6,               // IndexIVFPQ: lists of codes of residuals
  PQFastScan = 7,          // IndexPQFastScan: 4-bit codes in row order
  IVFPQFastScan = 8,       // IndexIVFPQFastScan: lists of 4-bit codes of residuals
  RefineFlat = 9,          // IndexRefineFlat: a nested base index file and the exact vectors
};

enum class SectionKind : std::uint32_t {
  Vectors = 1,         // Flat: float32 [ntotal][dim], row order
  Ids = 2,             // Flat: int64 [ntotal], row order
  Centroids = 3,       // IVFFlat, trained only: float32 [n_lists][dim]
  ListSizes = 4,       // IVFFlat: uint64 [n_lists]
  ListIds = 5,         // IVFFlat: int64 [ntotal], list 0's ids, then list 1's, ...
  ListVectors = 6,     // IVFFlat: float32 [ntotal][dim], in the order of ListIds
  KMeansParams = 7,    // IVFFlat: the 32-byte k-means settings record
  TransformChain = 8,  // version 2, header flag kFlagTransformChain: the transforms applied
                       // before the index (core/index_file_chain.hpp); size from its contents
  SqRanges = 9,        // SQ types with QT_8bit / QT_4bit, trained: float32 vmin[dim], vdiff[dim]
  Codes = 10,          // SQ and PQ types: uint8 [ntotal][code_size], row order (ScalarQuantizer,
                       // PQ) or the order of ListIds (IVFScalarQuantizer, IVFPQ)
  PqParams = 11,       // PQ types: the 32-byte product-quantizer settings record
  PqCentroids = 12,    // PQ types, trained: float32 [pq_m][2^pq_nbits][dim / pq_m], the
                       // codebooks
  RefineParams = 13,   // RefineFlat: the 32-byte refine record (k_factor)
  BaseIndex = 14,      // RefineFlat: the base index, a whole index file; size from its contents
};

// RefineFlat files nest: the base index of one may be a RefineFlat file in turn, down to this
// many RefineFlat levels in all (deeper files are refused, so nesting cannot exhaust the stack).
inline constexpr int kMaxRefineDepth = 4;

// Header flag bits. kFlagTransformChain: version 2 and later; the index is wrapped in the
// transforms of the transform_chain section, and dim is the stored (transformed) dimension.
inline constexpr std::uint32_t kFlagTrained = 1u;
inline constexpr std::uint32_t kFlagTransformChain = 2u;
// IVFScalarQuantizer, IVFPQFastScan: the codes are of residuals from the list centroids.
inline constexpr std::uint32_t kFlagByResidual = 4u;

// The code bytes per vector of a scalar quantizer of this type (header field `quantizer`,
// ScalarQuantizer::Type's values) and dimension; 0 for a type that names none.
std::uint64_t sq_code_size(std::uint32_t quantizer, std::uint32_t dim);
bool sq_has_ranges(std::uint32_t quantizer);  // QT_8bit and QT_4bit
bool is_sq(std::uint32_t index_type);
bool is_pq(std::uint32_t index_type);      // PQ, IVFPQ, PQFastScan and IVFPQFastScan
bool is_ivf_pq(std::uint32_t index_type);  // IVFPQ and IVFPQFastScan

// The size of a section whose size follows from its own contents (transform_chain, base_index), not
// from the header; its decoder checks it.
inline constexpr std::uint64_t kSizeFromContents = ~std::uint64_t{0};

std::string_view to_string(IndexType type);
// "vectors", "ids", ... ; "kind N" for a number that names no section.
std::string section_name(std::uint32_t kind);

struct Header {
  std::uint32_t format_version = kFormatVersion;
  std::uint32_t header_bytes = kHeaderBytes;
  std::uint32_t index_type = 0;
  std::uint32_t metric = 0;  // 0: L2, 1: inner product
  std::uint32_t dim = 0;
  std::uint32_t n_lists = 0;
  std::uint32_t n_probe = 0;
  std::uint32_t flags = 0;
  std::uint32_t quantizer = 0;  // SQ types: the ScalarQuantizer type; 0 otherwise
  std::uint32_t pq_m = 0;       // PQ types: sub-quantizers, the bytes of a code; 0 otherwise
  std::uint32_t pq_nbits = 0;   // PQ types: bits of a sub-quantizer code (8); 0 otherwise
  std::uint64_t ntotal = 0;
  std::uint64_t next_id = 0;
  std::uint64_t file_size = 0;
  std::uint32_t section_count = 0;
  std::uint32_t table_crc = 0;
  std::uint32_t header_crc = 0;  // as stored; encode_header computes it

  bool trained() const { return (flags & kFlagTrained) != 0; }
  bool has_chain() const { return (flags & kFlagTransformChain) != 0; }
};

// A PQ type's code bytes per vector (pq_m * pq_nbits / 8) and centroids per sub-quantizer.
std::uint64_t pq_code_size(const Header& h);
std::uint64_t pq_ksub(const Header& h);

struct SectionEntry {
  std::uint32_t kind = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
};

// Byte images (little-endian). encode_header fills in header_crc.
std::array<std::uint8_t, kHeaderBytes> encode_header(const Header& header);
Header decode_header(const std::uint8_t* bytes);
std::vector<std::uint8_t> encode_table(const std::vector<SectionEntry>& sections);
SectionEntry decode_section_entry(const std::uint8_t* bytes);

// The k-means settings an IVF index trains with (section KMeansParams).
struct KMeansRecord {
  std::int32_t n_iter = 0;
  std::uint32_t init = 0;  // 0: random rows, 1: k-means++
  std::int32_t max_points_per_centroid = 0;
  std::int32_t min_points_per_centroid = 0;
  std::int32_t init_points_per_centroid = 0;
  std::uint32_t spherical = 0;
  std::uint64_t seed = 0;
};
std::array<std::uint8_t, kKMeansRecordBytes> encode_kmeans(const KMeansRecord& record);
KMeansRecord decode_kmeans(const std::uint8_t* bytes);

// The product quantizer's training settings and an IVFPQ search switch (section PqParams).
struct PqRecord {
  std::int32_t kmeans_iter = 0;
  std::int32_t max_points_per_centroid = 0;
  std::uint64_t seed = 0;
  std::uint32_t use_precomputed_table = 0;  // IVFPQ: 0 or 1; PQ: 0
};
std::array<std::uint8_t, kPqRecordBytes> encode_pq(const PqRecord& record);
// FormatError (naming path) when the reserved bytes are not zero.
PqRecord decode_pq(const std::uint8_t* bytes, const std::string& path);

// RefineFlat's setting (section RefineParams).
std::array<std::uint8_t, kRefineRecordBytes> encode_refine(float k_factor);
// The k_factor; FormatError (naming path) when the reserved bytes are not zero or k_factor is
// not finite and >= 1.
float decode_refine(const std::uint8_t* bytes, const std::string& path);

// The sections an index of this header must hold, in the order a writer puts them, each with
// the size it must have (kSizeFromContents for transform_chain, which comes first when the
// header announces one). FormatError (naming path) when the sizes overflow 64 bits.
struct SectionSpec {
  SectionKind kind;
  std::uint64_t size;
};
std::vector<SectionSpec> required_sections(const Header& header, const std::string& path);

// Offsets of sections of these sizes laid out after the header and a table of sizes.size()
// entries, each at the next multiple of kSectionAlignment; the last value is the file size.
std::vector<std::uint64_t> layout_offsets(const std::vector<std::uint64_t>& sizes);

// A validated header and table.
struct Layout {
  Header header;
  std::vector<SectionEntry> sections;  // in file order

  // The section of this kind (one exists: read_layout checked the set).
  const SectionEntry& section(SectionKind kind) const;
  bool has(SectionKind kind) const;
};

// Reads and checks the header and section table of f (FormatError naming f and the problem).
Layout read_layout(const InputFile& f);

// Checks the checksum of every section and that the padding between sections is zero,
// streaming through the file in fixed-size pieces.
void verify_sections(const InputFile& f, const Layout& layout);

// Reads one section front to back in pieces, recomputing its checksum; finish() throws
// FormatError when the bytes read do not match the checksum verify_sections accepted (the file
// changed in between).
class SectionReader {
 public:
  SectionReader(const InputFile& f, const SectionEntry& entry);
  std::uint64_t remaining() const { return entry_.size - done_; }
  // Reads the next n bytes (n <= remaining()).
  void read(void* out, std::size_t n);
  void finish() const;

 private:
  const InputFile& f_;
  SectionEntry entry_;
  std::uint64_t done_ = 0;
  std::uint32_t crc_ = 0;
};

// Writes an index file: the header and table are reserved first and written last, once every
// section's checksum is known. Sections must be written in the order and with the sizes
// announced to the constructor; anything else is a bug in the caller (knnx::Error).
class Writer {
 public:
  // header: every field but file_size, section_count and the checksums. With image, the file's
  // bytes go there instead of to path (which names it in messages), e.g. an index nested in a
  // section of another file; commit() then completes the image.
  Writer(const std::string& path, const Header& header, const std::vector<SectionSpec>& sections,
         std::vector<std::uint8_t>* image = nullptr);

  void begin_section(SectionKind kind);
  void write(const void* data, std::size_t n);
  void end_section();
  // Completes the header and table and commits the file (see AtomicFileWriter::commit).
  void commit();

 private:
  std::uint64_t position() const;
  void put(const void* data, std::size_t n);
  void put_zeros(std::size_t n);
  void overwrite(std::uint64_t offset, const void* data, std::size_t n);

  std::string path_;
  std::unique_ptr<AtomicFileWriter> file_;  // null when writing to image_
  std::vector<std::uint8_t>* image_ = nullptr;
  Header header_;
  std::vector<SectionEntry> sections_;
  std::size_t current_ = 0;  // index of the section being written, or the next one
  bool open_ = false;
  std::uint64_t written_ = 0;  // bytes of the current section so far
  std::uint32_t crc_ = 0;
};

}  // namespace knnx::detail::index_file
