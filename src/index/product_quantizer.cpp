// ProductQuantizer: codebooks trained with knnx::KMeans per sub-space; encoding, tables and
// decoding are direct loops (encoding picks each sub-vector's nearest centroid from the row's L2
// lookup tables).
#include "knnx/product_quantizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "core/check.hpp"
#include "core/random.hpp"
#include "core/sampling.hpp"
#include "cpu/blas.hpp"
#include "cpu/pq_tables.hpp"
#include "knnx/config.hpp"
#include "knnx/kmeans.hpp"

namespace knnx {

using detail::require;

namespace {

// "PQ_seed_": the seed domain of the training sample and the sub-space k-means.
constexpr std::uint64_t kPqSeedDomain = 0x50515f7365656421ull;

// Copies sub-space m (columns [m * dsub, (m + 1) * dsub)) of rows [0, n) of x into sub.
void gather_subspace(idx_t n, int d, int dsub, int m, const float* x, float* sub) {
  for (idx_t i = 0; i < n; ++i) {
    std::copy_n(x + i * d + static_cast<idx_t>(m) * dsub, dsub, sub + i * dsub);
  }
}

}  // namespace

ProductQuantizer::ProductQuantizer(int d, int M, int nbits, ProductQuantizerParams params)
    : ProductQuantizer(d, M, nbits, params, true) {
  require(nbits == 8,
          "nbits must be 8 (one byte per sub-quantizer; 4-bit codes are made by "
          "ProductQuantizer::fast_scan for the fast-scan indexes), got nbits = {}",
          nbits);
}

ProductQuantizer ProductQuantizer::fast_scan(int d, int M, ProductQuantizerParams params) {
  ProductQuantizer pq(d, M, 4, params, true);
  require(M % 2 == 0 && M <= kMaxFastScanM,
          "the fast-scan layout packs two 4-bit codes a byte and sums M table entries of 8 bits "
          "in 16: M must be even and <= {}, got M = {}",
          kMaxFastScanM, M);
  return pq;
}

ProductQuantizer::ProductQuantizer(int d, int M, int nbits, ProductQuantizerParams params, bool)
    : d_(d), m_(M), nbits_(nbits), params_(params) {
  detail::check_dim(d, "d");
  require(M >= 1 && M <= d && d % M == 0,
          "M must divide d = {} into sub-spaces (1 <= M <= d, d % M == 0), got M = {}", d, M);
  set_params(params);
}

void ProductQuantizer::set_params(const ProductQuantizerParams& params) {
  require(params.kmeans_iter >= 1, "ProductQuantizerParams.kmeans_iter must be >= 1, got {}",
          params.kmeans_iter);
  require(params.max_points_per_centroid >= 1,
          "ProductQuantizerParams.max_points_per_centroid must be >= 1, got {}",
          params.max_points_per_centroid);
  params_ = params;
}

void ProductQuantizer::require_trained(const char* what) const {
  require(is_trained(), "the ProductQuantizer must be trained before {}", what);
}

void ProductQuantizer::train(idx_t n, const float* x) {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::checked_elements(n, d_, "x");
  require(n >= ksub(),
          "n must be >= ksub = {}: {} training vectors cannot make {} centroids per sub-space",
          ksub(), n, ksub());
  detail::check_finite_host(n, d_, x, "x");

  // A seeded sample of at most ksub * max_points_per_centroid rows, in row order.
  const idx_t cap = static_cast<idx_t>(ksub()) * params_.max_points_per_centroid;
  std::vector<float> sample;
  idx_t ns = n;
  if (n > cap) {
    ns = cap;
    detail::Rng rng(detail::derive_seed(kPqSeedDomain, params_.seed, 0, 0));
    std::vector<idx_t> rows = detail::sample_without_replacement(n, ns, rng);
    std::sort(rows.begin(), rows.end());
    sample.resize(detail::checked_elements(ns, d_, "sample"));
    for (idx_t i = 0; i < ns; ++i) {
      std::copy_n(x + rows[static_cast<std::size_t>(i)] * d_, d_, sample.data() + i * d_);
    }
    x = sample.data();
  }

  const int ds = dsub();
  std::vector<float> centroids(static_cast<std::size_t>(m_) * ksub() * ds);
  std::vector<float> sub(static_cast<std::size_t>(ns) * ds);
  for (int m = 0; m < m_; ++m) {
    gather_subspace(ns, d_, ds, m, x, sub.data());
    KMeansParams kp;
    kp.n_iter = params_.kmeans_iter;
    kp.max_points_per_centroid = params_.max_points_per_centroid;
    kp.min_points_per_centroid = 0;  // a small sample is the caller's choice, not a warning
    kp.seed =
        detail::derive_seed(kPqSeedDomain, params_.seed, 1 + static_cast<std::uint64_t>(m), 0);
    kp.device = params_.device;
    KMeans km(ds, ksub(), Metric::L2, kp);
    km.train(ns, sub.data());
    std::copy(km.centroids().begin(), km.centroids().end(),
              centroids.begin() + static_cast<std::ptrdiff_t>(m) * ksub() * ds);
  }
  std::vector<float> transposed = cpu::pq_transpose_codebooks(centroids, m_, ksub(), ds);
  centroids_ = std::move(centroids);
  transposed_ = std::move(transposed);
}

void ProductQuantizer::set_centroids(const float* centroids) {
  detail::check_not_null(centroids, "centroids");
  const idx_t rows = static_cast<idx_t>(m_) * ksub();
  detail::check_finite_host(rows, dsub(), centroids, "centroids");
  std::vector<float> copy(centroids, centroids + rows * dsub());
  std::vector<float> transposed = cpu::pq_transpose_codebooks(copy, m_, ksub(), dsub());
  centroids_ = std::move(copy);
  transposed_ = std::move(transposed);
}

void ProductQuantizer::encode(idx_t n, const float* x, std::uint8_t* codes) const {
  require_trained("encode");
  if (n == 0) return;
  detail::check_not_null(x, "x");
  detail::check_not_null(codes, "codes");
  const int ks = ksub();
  const idx_t cs = code_size();
  const std::size_t per_row = static_cast<std::size_t>(m_) * ks;
  // Each row's squared distances to every centroid of every sub-space, as a query's L2 lookup
  // tables (summed in order, so every instruction set picks the same codes), then the nearest
  // centroid of each sub-space, the lowest number on ties.
#pragma omp parallel num_threads(cpu::cpu_threads(config().num_threads)) if (n > 256)
  {
    std::vector<float> tables(per_row);
    std::vector<int> labels(static_cast<std::size_t>(m_));
#pragma omp for schedule(static)
    for (idx_t i = 0; i < n; ++i) {
      cpu::pq_query_tables(transposed_.data(), m_, ks, dsub(), x + i * d_, true, tables.data());
      cpu::pq_nearest_centroids(tables.data(), m_, ks, labels.data());
      std::uint8_t* row = codes + i * cs;
      if (nbits_ == 4) std::fill_n(row, cs, std::uint8_t{0});
      for (int m = 0; m < m_; ++m) {
        const auto label = static_cast<std::uint8_t>(labels[static_cast<std::size_t>(m)]);
        if (nbits_ == 8) {
          row[m] = label;
        } else {
          row[m / 2] |= static_cast<std::uint8_t>(label << ((m & 1) * 4));
        }
      }
    }
  }
}

void ProductQuantizer::decode(idx_t n, const std::uint8_t* codes, float* x) const {
  require_trained("decode");
  if (n == 0) return;
  detail::check_not_null(codes, "codes");
  detail::check_not_null(x, "x");
  const int ds = dsub();
  const int ks = ksub();
  const idx_t cs = code_size();
#pragma omp parallel for schedule(static) num_threads(cpu::cpu_threads(config().num_threads)) \
    if (n > 1024)
  for (idx_t i = 0; i < n; ++i) {
    for (int m = 0; m < m_; ++m) {
      const float* c =
          centroids_.data() + (static_cast<std::size_t>(m) * ks + code_at(codes + i * cs, m)) * ds;
      std::copy_n(c, ds, x + i * d_ + static_cast<idx_t>(m) * ds);
    }
  }
}

void ProductQuantizer::compute_distance_tables(idx_t nq, const float* queries, Metric metric,
                                               float* tables) const {
  require_trained("compute_distance_tables");
  if (nq == 0) return;
  detail::check_not_null(queries, "queries");
  detail::check_not_null(tables, "tables");
  const bool l2 = metric == Metric::L2;
  const std::size_t per_query = static_cast<std::size_t>(m_) * ksub();
#pragma omp parallel for schedule(static) num_threads(cpu::cpu_threads(config().num_threads)) \
    if (nq > 16)
  for (idx_t q = 0; q < nq; ++q) {
    cpu::pq_query_tables(transposed_.data(), m_, ksub(), dsub(), queries + q * d_, l2,
                         tables + static_cast<std::size_t>(q) * per_query);
  }
}

}  // namespace knnx
