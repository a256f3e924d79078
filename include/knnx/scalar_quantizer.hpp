// knnx/scalar_quantizer.hpp — ScalarQuantizer: each component of a vector coded on its own, as
// FAISS's ScalarQuantizer (its QT_8bit, QT_4bit, QT_fp16 and QT_bf16 types).
//
// Types, bytes per vector (code_size) and the reconstruction error of decode(encode(x)) for a
// component x_j (documented bounds; tests hold every type to them):
//
//   QT_8bit  d bytes         trained: per component j, vmin_j = min and vdiff_j = max - min of
//   QT_4bit  ceil(d/2) bytes the training sample. x_j is clamped into [vmin_j, vmin_j + vdiff_j],
//                            cut into L equal bins (L = 255 for 8 bits, 15 for 4 bits: codes
//                            0..L, FAISS's layout) and decoded to the middle of its bin, so
//                              |x^_j - x_j| <= vdiff_j / (2 L) + dist(x_j, [vmin_j, vmin_j +
//                              vdiff_j])
//                            (plus float32 rounding): inside the trained range, a 1/510 (8-bit)
//                            or 1/30 (4-bit) share of the range. QT_4bit puts component 2i in
//                            the low and 2i + 1 in the high nibble of byte i.
//   QT_fp16  2d bytes        no training; IEEE half precision, rounded to nearest even:
//                              |x^_j - x_j| <= max(|x_j| 2^-11, 2^-25)  for |x_j| <= 65504;
//                            larger magnitudes saturate to +-65504.
//   QT_bf16  2d bytes        no training; bfloat16 (float32's exponent, 8 significant bits),
//                            rounded to nearest even: |x^_j - x_j| <= |x_j| 2^-8 (normal
//                            values); magnitudes past bfloat16's largest finite value saturate
//                            to it.
//
// Codes are host memory, n x code_size() bytes, row-major. Vectors are float32 rows of dim().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "knnx/types.hpp"

namespace knnx {

class ScalarQuantizer {
 public:
  // FAISS's names (faiss.ScalarQuantizer.QT_8bit, ...). The values are stored in index files.
  enum class Type : std::uint32_t { QT_8bit = 0, QT_4bit = 1, QT_fp16 = 2, QT_bf16 = 3 };

  // dim in [1, kMaxDim]; InvalidArgument otherwise or for a type outside Type.
  ScalarQuantizer(int dim, Type type);

  int dim() const { return dim_; }
  Type type() const { return type_; }
  std::size_t code_size() const { return code_size_; }
  // QT_fp16 and QT_bf16 need no training; the others after train() or set_ranges().
  bool is_trained() const { return trained_; }

  // Learns the per-component ranges from n >= 1 finite vectors (host); a no-op for QT_fp16 and
  // QT_bf16. InvalidArgument on NaN/Inf or n < 1.
  void train(idx_t n, const float* x);

  // codes[0..n*code_size) of x[0..n*dim); InvalidArgument when untrained. Non-finite
  // components are not checked here (the indexes refuse them before they get here).
  void encode(idx_t n, const float* x, std::uint8_t* codes) const;
  // x[0..n*dim) of codes; InvalidArgument when untrained.
  void decode(idx_t n, const std::uint8_t* codes, float* x) const;

  // The trained ranges (dim values each; empty for QT_fp16 / QT_bf16 and before training).
  const std::vector<float>& vmin() const { return vmin_; }
  const std::vector<float>& vdiff() const { return vdiff_; }
  // Installs ranges (dim values each, finite, vdiff >= 0) instead of training, e.g. when an
  // index is read back. InvalidArgument otherwise, or for a type that has no ranges.
  void set_ranges(std::vector<float> vmin, std::vector<float> vdiff);

  // The documented bound on |decode(encode(x))_j - x_j| for component j of value x (above).
  double error_bound(int j, float x) const;

  // "SQ8", "SQ4", "SQfp16", "SQbf16": the factory name of a type.
  static std::string_view type_name(Type type);

 private:
  void require_trained(const char* what) const;

  int dim_;
  Type type_;
  std::size_t code_size_;
  bool trained_;
  std::vector<float> vmin_;
  std::vector<float> vdiff_;
};

}  // namespace knnx
