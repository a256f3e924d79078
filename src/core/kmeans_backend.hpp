// core/kmeans_backend.hpp — the interface KMeans drives; one implementation per device kind.
//
// The KMeans front end validates the input, applies max_points_per_centroid (the backend gets
// the training sample itself), reports warnings and progress, and keeps the result; a backend
// seeds the centroids and runs the Lloyd iterations.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "knnx/kmeans.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx::detail {

// The seed domain of every k-means random stream (see core/random.hpp: derive_seed).
inline constexpr std::uint64_t kKMeansSeedDomain = 0x4b4d45414e53ull;  // "KMEANS"
// Streams within that domain.
inline constexpr std::uint64_t kKMeansSubsampleStream = 0;
inline constexpr std::uint64_t kKMeansInitStream = 1;

struct KMeansResult {
  std::vector<float> centroids;   // k x dim
  std::vector<double> objective;  // one entry per Lloyd iteration
};

class KMeansBackend {
 public:
  virtual ~KMeansBackend() = default;

  // Clusters n rows of x (n x dim, host memory, finite, n >= k). Calls on_iteration(iter,
  // objective) after every Lloyd iteration. The parameters that concern the sample
  // (max/min_points_per_centroid) and the front end (verbose, progress) are already applied.
  virtual KMeansResult train(idx_t n, const float* x, int dim, int k, Metric metric,
                             const KMeansParams& params,
                             const std::function<void(int, double)>& on_iteration) = 0;

  // Nearest of the k centroids (k x dim, host) for each of n rows of x: labels[0..n) and, when
  // distances is not null, distances[0..n).
  virtual void assign(idx_t n, const float* x, int dim, const float* centroids, int k,
                      Metric metric, idx_t* labels, float* distances) const = 0;
};

}  // namespace knnx::detail
