// core/index_file_chain.hpp — the transform_chain section of an index file (docs/file_format.md,
// "The transform chain"): the byte image of the vector transforms applied before an index, and
// its validation.
//
// This layer knows the records (type, dimensions, settings, trained matrices) and every rule a
// chain must obey on its own and against the header; turning records into transform objects is
// src/index/index_io.cpp's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/index_file.hpp"

namespace knnx::detail::index_file {

inline constexpr std::size_t kChainHeaderBytes = 16;
inline constexpr std::size_t kTransformRecordBytes = 48;
inline constexpr std::uint32_t kMaxTransforms = 16;

enum class TransformType : std::uint32_t { PCA = 1, RandomRotation = 2, L2Normalize = 3, OPQ = 4 };

// "PCA", "RandomRotation", "L2Normalize", "OPQ"; "type N" for a number that names none.
std::string transform_type_name(std::uint32_t type);

// One transform: its settings and, when trained, its state.
struct TransformRecord {
  TransformType type = TransformType::PCA;
  std::uint32_t d_in = 0;
  std::uint32_t d_out = 0;
  bool trained = false;

  // PCA
  bool whiten = false;
  float whiten_eps = 0.0f;
  // RandomRotation, OPQ
  std::uint64_t seed = 0;
  // OPQ
  std::uint32_t m = 0;
  std::int32_t n_iter = 0;
  std::int32_t ksub = 0;
  std::int32_t kmeans_iter = 0;
  std::int64_t max_train_points = 0;

  // Linear transforms (PCA, RandomRotation, OPQ), trained: y = matrix (x - mean), x = reverse y +
  // mean.
  std::vector<float> mean;         // [d_in]
  std::vector<float> matrix;       // [d_out][d_in]
  std::vector<float> reverse;      // [d_in][d_out]
  std::vector<float> eigenvalues;  // PCA, trained: [d_in]
  std::vector<double> objective;   // OPQ, trained: [n_iter]

  bool linear() const { return type != TransformType::L2Normalize; }
};

// A chain: d_in is the dimension the index receives; each transform's d_out is the next one's
// d_in, and the last d_out is the header's dim (the stored vectors' dimension).
struct TransformChainRecord {
  std::uint32_t d_in = 0;
  std::vector<TransformRecord> transforms;
};

// The section payload (little-endian). The records must be consistent (encode does not check).
std::vector<std::uint8_t> encode_chain(const TransformChainRecord& chain);

// Decodes and checks a section payload against the header: sizes, known types and settings,
// reserved bytes, dimensions that chain from d_in to header.dim, finite matrices, and no
// vectors stored behind an untrained transform. FormatError naming path, the section and the
// transform. Allocates nothing beyond what bytes holds.
TransformChainRecord decode_chain(const std::vector<std::uint8_t>& bytes, const Header& header,
                                  const std::string& path);

}  // namespace knnx::detail::index_file
