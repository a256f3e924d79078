// knnx/product_quantizer.hpp — ProductQuantizer: the vector codec of IndexPQ and IndexIVFPQ, as
// FAISS's ProductQuantizer.
//
// A d-dimensional vector is cut into M contiguous sub-vectors of dsub = d / M dimensions; each
// sub-vector is replaced by the number of the nearest of ksub = 2^nbits centroids of its
// sub-space (a k-means codebook per sub-space, trained with knnx::KMeans on a sample). A code is
// M bytes (nbits = 8). decode() replaces every byte by its
// centroid, so a vector's reconstruction error is the sum of its sub-vectors' distances to their
// centroids: it shrinks as M grows (smaller sub-spaces are quantised more finely).
//
// 4-bit codes (ksub = 16), the codes of IndexPQFastScan and IndexIVFPQFastScan, come from
// ProductQuantizer::fast_scan(d, M): M / 2 bytes a vector, packed as FAISS packs them,
// sub-quantizer 2i in the low nibble of byte i and 2i + 1 in its high nibble.
//
// Asymmetric distances: a query stays exact and is compared with the codes through lookup
// tables of M x ksub floats, table[m][j] = the distance between the query's m-th sub-vector and
// centroid j of sub-space m (squared L2, or the inner product); a code's distance is the sum of
// its M entries, which equals the distance to decode(code).
//
// Encoding, decoding and tables run on the host; training runs its k-means on params.device.
// Every array is host memory, row-major. Const methods may run concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx {

struct ProductQuantizerParams {
  // Lloyd iterations of each sub-space's k-means (FAISS's ProductQuantizer uses 25); >= 1.
  int kmeans_iter = 25;
  // Training rows used at most per centroid; larger samples are subsampled (>= 1).
  int max_points_per_centroid = 256;
  std::uint64_t seed = 1234;
  Device device = Device::cpu();
};

class ProductQuantizer {
 public:
  // d in [1, kMaxDim], M >= 1 dividing d, nbits = 8 (InvalidArgument naming the value
  // otherwise; 4-bit codes come from fast_scan); params validated likewise.
  ProductQuantizer(int d, int M, int nbits = 8, ProductQuantizerParams params = {});

  // A quantizer of 4-bit codes for the fast-scan layout (cpu/pq4_fast_scan.hpp): M even (two codes
  // a byte), dividing d, and M <= kMaxFastScanM so that a code's M quantized table entries sum
  // within 16 bits (InvalidArgument naming the value otherwise).
  static ProductQuantizer fast_scan(int d, int M, ProductQuantizerParams params = {});
  static constexpr int kMaxFastScanM = 256;

  int d() const { return d_; }
  int M() const { return m_; }
  int nbits() const { return nbits_; }
  int dsub() const { return d_ / m_; }
  int ksub() const { return 1 << nbits_; }
  // Bytes per encoded vector: M * nbits / 8.
  int code_size() const { return m_ * nbits_ / 8; }
  const ProductQuantizerParams& params() const { return params_; }
  // Replaces the training settings (validated as by the constructor); the codebooks stay.
  void set_params(const ProductQuantizerParams& params);
  bool is_trained() const { return !centroids_.empty(); }

  // Trains the M codebooks on n rows of x (n x d, finite). n >= ksub (InvalidArgument naming
  // n otherwise). On exception the previous codebooks stay.
  void train(idx_t n, const float* x);

  // The codebooks, M x ksub x dsub (centroid j of sub-space m at (m * ksub + j) * dsub); empty
  // before training.
  const std::vector<float>& centroids() const { return centroids_; }
  // Installs M x ksub x dsub finite centroids instead of training.
  void set_centroids(const float* centroids);

  // codes (n x code_size()) of n rows of x (n x d). InvalidArgument before training.
  void encode(idx_t n, const float* x, std::uint8_t* codes) const;
  // x (n x d) reconstructed from n codes.
  void decode(idx_t n, const std::uint8_t* codes, float* x) const;

  // Lookup tables of nq queries (nq x d): tables[(q * M + m) * ksub + j] is the squared L2
  // distance (metric L2) or the inner product (InnerProduct) between query q's sub-vector m and
  // centroid j of sub-space m.
  void compute_distance_tables(idx_t nq, const float* queries, Metric metric, float* tables) const;

 private:
  ProductQuantizer(int d, int M, int nbits, ProductQuantizerParams params, bool);
  void require_trained(const char* what) const;
  // Code of sub-quantizer m of the code starting at `code`.
  int code_at(const std::uint8_t* code, int m) const {
    return nbits_ == 8 ? code[m] : (code[m >> 1] >> ((m & 1) * 4)) & 15;
  }

  int d_;
  int m_;
  int nbits_;
  ProductQuantizerParams params_;
  std::vector<float> centroids_;
  // The codebooks as M x dsub x ksub, which the lookup tables are computed from.
  std::vector<float> transposed_;
};

}  // namespace knnx
