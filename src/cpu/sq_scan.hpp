// cpu/sq_scan.hpp — scores of one query against scalar-quantizer codes (knnx/scalar_quantizer.hpp),
// decoding and accumulating component by component, with no decoded copy of the codes.
//
// set_query folds the quantizer's ranges into two per-query tables, so that each component of a
// code costs one conversion and one or two multiply-adds: for 8- and 4-bit codes the decoded
// value is a_j + b_j c_j, hence
//   L2:  sum_j ((q_j - a_j) - b_j c_j)^2        inner product: sum_j q_j a_j + sum_j (q_j b_j) c_j
// and for fp16 / bf16 codes the decoded value itself. The loops carry AVX2 versions picked at
// run time (the library is compiled for the baseline instruction set): 8 components per step
// with two accumulators, as FAISS's scanners.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/metric.hpp"
#include "knnx/scalar_quantizer.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

class SqScanner {
 public:
  // sq must be trained and outlive the scanner. One scanner per thread.
  SqScanner(const ScalarQuantizer& sq, Metric metric);

  // Prepares the scores of query q (dim floats, in the space the codes were made in: the residual
  // of the query for residual codes). offset is added to every inner product (the query's product
  // with the list centroid, for residual codes); ignored for L2.
  void set_query(const float* q, float offset = 0.0f);

  // scores[i] for codes[i * code_size ...], i < n: the squared L2 distance to the decoded
  // vector, or minus the inner product with it (smaller is better, as cpu::TopK expects).
  void scores(const std::uint8_t* codes, idx_t n, float* out) const;

 private:
  const ScalarQuantizer& sq_;
  bool l2_;
  int dim_;
  // Per-query tables (see the header comment); for 4-bit codes the even components come first,
  // then the odd ones, each padded to the bytes of a code.
  std::vector<float> u_;
  std::vector<float> w_;
  float constant_ = 0.0f;
};

}  // namespace knnx::cpu
