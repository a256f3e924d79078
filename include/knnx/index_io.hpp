// knnx/index_io.hpp — saving indexes to files and loading them back.
//
// The format is specified in docs/file_format.md: a checksummed header, a section table and
// checksummed sections holding vectors, ids and centroids in host layout, so an index saved from
// any device loads onto any device. IndexFlat, IndexIVFFlat, IndexPQ and IndexIVFPQ (their codes,
// codebooks and settings) are supported, bare or wrapped in
// IndexPreTransforms (knnx/transform.hpp; what index_factory builds for "PCA64,IVF1024,Flat")
// whose transforms are PCA, RandomRotation, L2Normalize or OPQ: the file then holds the
// transform chain (each transform's settings and trained matrices) in front of the index. A
// loaded index answers every search exactly as the saved one did (same transforms, same lists,
// same row order, same ids), and add() goes on numbering from where the saved index would have.
//
// Errors: IoError when a path cannot be opened, read or written (a directory, a missing file,
// no permission, a full disk); FormatError, naming the file and what is wrong, when a file is
// not a valid index file. Loading checks the header, the section table, every size against the
// header and the file size, and every checksum before it allocates anything for the index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/index.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx {

// Saves index to path. The file is written as "<path>.tmp.<random>", flushed to disk and renamed
// over path, so path holds either its old contents or the complete new index, whatever happens;
// on failure (IoError) the old file is untouched and the temporary file removed. NotSupported
// for index types other than IndexFlat, IndexIVFFlat, IndexPQ and IndexIVFPQ (bare or in
// IndexPreTransforms), for
// other transform types, and for chains of more than 16 transforms. The index must not be
// modified while it is being saved (searches may run).
void write_index(const Index& index, const std::string& path);

// Loads the index saved at path onto device (IndexFlat, IndexIVFFlat, IndexPQ or IndexIVFPQ, as
// saved, wrapped in an
// IndexPreTransform per saved transform, the first outermost; the transforms run on device
// too). Settings that only steer searches and are not part of the file (an IndexFlat's
// precision) take their defaults. NotSupported when the index type has no implementation for
// device.
//
// A file written by FAISS's write_index (it starts with FAISS's type code instead of knnx's
// magic) is read by read_faiss_index.
//
// options.mmap (FAISS's IO_FLAG_MMAP): the float32 rows that the loaded index keeps in host
// memory — the exact vectors of an IndexRefineFlat (at any nesting level) and the vectors of an
// IndexFlat loaded onto the CPU — are not copied but mapped read-only from the file, so an index
// whose vectors exceed the host's memory can be searched (the operating system pages them in as
// searches read them). The file is checked as without mmap before anything is used: sizes
// against the bytes present (a section past the end of the file is FormatError before it is
// mapped), every checksum (streamed through the mapping, no copy) and finite values. The layout
// rule puts every section at a multiple of 64 bytes, so mapped rows are aligned for float access.
// What stays in memory: ids, the id lookup and one float a row (squared norms). The loaded index
// is read-only where it maps: add, add_with_ids, remove_ids and reset throw NotSupported, as
// FAISS refuses to change an index read with IO_FLAG_MMAP (IndexRefineFlat::set_refine_storage
// copies the rows into memory or onto a device, after which it changes as any index).
// write_index saves a mapped index as any other (also over the file it maps). The file must not
// be modified or shortened while the index lives (as any mapping, a shortened file faults).
// Rows that go to a device (an IndexFlat loaded onto a GPU) are copied there as without mmap.
// FAISS files: mmap is NotSupported (their rows are read into memory).
struct ReadIndexOptions {
  bool mmap = false;
};

std::unique_ptr<Index> read_index(const std::string& path, Device device = Device::cpu(),
                                  const ReadIndexOptions& options = {});

// Loads an index written by FAISS's faiss::write_index onto device: IndexFlatL2, IndexFlatIP and
// IndexFlat ("IxF2", "IxFI", "IxFl"), IndexIVFFlat with a flat quantizer ("IwFl"), IndexIDMap and
// IndexIDMap2 ("IxMp", "IxM2") around any of them, and IndexPreTransform ("IxPT") whose
// transforms are PCAMatrix (plain or whitened), RandomRotationMatrix, LinearTransform without a
// bias (OPQ's rotation is one) and NormalizationTransform with the L2 norm. Searches give
// FAISS's results: the same vectors, lists, ids (an IDMap's ids become the index's own) and
// nprobe. Every size is checked against the others and against the bytes in the file before
// anything is allocated for it. FormatError (naming the byte offset) for a malformed file or ids
// knnx cannot hold (negative or repeated); NotSupported naming the FAISS type code of any other
// index or transform type, and for another metric, a transform with a bias or non-orthogonal
// rows, or an untrained IVF index of more than 2^20 lists or 2^24 centroid values.
std::unique_ptr<Index> read_faiss_index(const std::string& path, Device device = Device::cpu());

// One section of an index file.
struct IndexFileSection {
  std::string name;  // "transform_chain", "vectors", "ids", "centroids", "list_sizes", ...
  std::uint64_t offset = 0;
  std::uint64_t size = 0;      // bytes
  std::uint32_t checksum = 0;  // CRC-32C
};

// One transform of an index file's chain.
struct IndexFileTransform {
  std::string type;  // "PCA", "RandomRotation", "L2Normalize" or "OPQ"
  int d_in = 0;
  int d_out = 0;
  bool trained = false;
  bool whiten = false;      // PCA
  float whiten_eps = 0.0f;  // PCA
  std::uint64_t seed = 0;   // RandomRotation, OPQ
  int m = 0;                // OPQ: sub-spaces
  int n_iter = 0;           // OPQ
  int ksub = 0;             // OPQ
};

// What an index file holds, read without loading the index.
struct IndexFileInfo {
  std::uint32_t format_version = 0;
  std::string index_type;    // "Flat", "IVFFlat", "ScalarQuantizer", "IVFScalarQuantizer",
                             // "PQ", "IVFPQ", ... or "RefineFlat" (the index behind the
                             // transforms, if any)
  std::string quantizer;     // scalar-quantizer types: "SQ8", "SQ4", "SQfp16" or "SQbf16"
  bool by_residual = false;  // IVFScalarQuantizer: codes of residuals
  int dim = 0;             // the loaded index's dim(): the chain's input dimension, if any
  int stored_dim = 0;      // the stored vectors' dimension (dim, or the chain's output)
  std::vector<IndexFileTransform> transforms;  // the chain, outermost first (empty: none)
  Metric metric = Metric::L2;
  idx_t ntotal = 0;
  bool trained = false;
  idx_t next_id = 0;              // the first id add() assigns after loading
  int n_lists = 0;                // IVF types only (0 for the others)
  int n_probe = 0;                // IVF types only (0 for the others)
  KMeansParams kmeans;            // IVF types only: the k-means settings train() uses
  std::vector<idx_t> list_sizes;  // IVF types only: vectors per list
  int pq_m = 0;                   // PQ, IVFPQ only: sub-quantizers (bytes a code)
  int pq_nbits = 0;               // PQ, IVFPQ only: bits a sub-quantizer code
  float k_factor = 0.0f;          // RefineFlat only: candidates per result asked of the base
  std::vector<IndexFileInfo> base_index;  // RefineFlat only: the nested base index (one entry)
  std::uint64_t file_size = 0;
  std::vector<IndexFileSection> sections;  // in file order
};

// Validates the file's structure as read_index does (header, table, sizes, every checksum, the
// transform chain, the list sizes and k-means settings) and returns its description. The whole file
// is read, in fixed-size pieces; only the small sections are kept. The rules read_index also
// enforces on the contents (ids unique and below next_id, finite vectors and centroids) are not
// checked.
IndexFileInfo read_index_info(const std::string& path);

}  // namespace knnx
