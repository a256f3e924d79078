// knnx/kmeans.hpp — KMeans: Lloyd's k-means clustering of float32 vectors, as FAISS's Clustering.
//
// train() picks a training sample (at most k * max_points_per_centroid rows, drawn at random
// without replacement for the seed), seeds k centroids (k-means++ over at most
// k * init_points_per_centroid of those rows, or k distinct random sample rows) and runs n_iter
// Lloyd iterations on the whole sample: every sample row goes to its nearest centroid under
// the metric (exact, blocked BLAS search), then each centroid becomes the mean of its rows
// (normalised to unit length when spherical). A cluster left empty takes over part of the
// largest cluster: the largest centroid is copied with a small symmetric perturbation, and the
// rows of that cluster go to whichever of the two copies is nearer.
//
// With the inner-product metric rows go to the centroid of largest dot product; set spherical
// to get the spherical k-means of normalised data (FAISS does not normalise centroids unless
// asked, and neither does knnx).
//
// On the CPU a seed gives the same centroids on every run and for every thread count: random
// draws come from per-purpose streams of the seed, work is split into blocks of fixed size,
// and every sum is reduced in a fixed order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/metric.hpp"
#include "knnx/types.hpp"

namespace knnx {

namespace detail {
class KMeansBackend;
}  // namespace detail

struct KMeansParams {
  enum class Init {
    Random,          // k distinct training rows chosen uniformly (FAISS's default)
    KMeansPlusPlus,  // k-means++ (D² sampling on squared L2 distances, whatever the metric)
  };

  // Lloyd iterations after seeding; >= 0 (0 keeps the seeds).
  int n_iter = 20;
  Init init = Init::KMeansPlusPlus;
  // Training rows used at most per centroid; larger inputs are subsampled (>= 1).
  int max_points_per_centroid = 256;
  // Fewer training rows per centroid than this gives a warning (see KMeans::warnings); >= 0.
  int min_points_per_centroid = 39;
  // k-means++ draws its seeds from a random subset of at most this many training rows per
  // centroid (0: from all of them). Exact D² sampling costs a pass over its rows per seed, so
  // over the whole sample it can take longer than the Lloyd iterations; the subset keeps it
  // within cache. The Lloyd iterations always use the whole sample. >= 0.
  int init_points_per_centroid = 16;
  std::uint64_t seed = 1234;
  // Normalise centroids to unit L2 norm after every update (spherical k-means).
  bool spherical = false;
  // Print the warnings and one line per iteration to stderr.
  bool verbose = false;
  // Called after every iteration with its number (from 0), its objective (see
  // KMeans::objective) and the seconds train() has run so far.
  std::function<void(int iter, double objective, double seconds)> progress;
  Device device = Device::cpu();
};

class KMeans {
 public:
  // dim in [1, kMaxDim], k >= 1; params validated (InvalidArgument naming the field otherwise).
  // NotSupported when knnx has no k-means implementation for params.device.
  KMeans(int dim, int k, Metric metric = Metric::L2, KMeansParams params = {});
  ~KMeans();
  KMeans(KMeans&&) noexcept;
  KMeans& operator=(KMeans&&) noexcept;

  int dim() const { return dim_; }
  int k() const { return k_; }
  Metric metric() const { return metric_; }
  const KMeansParams& params() const { return params_; }
  bool is_trained() const { return !centroids_.empty(); }

  // Clusters n rows of x (n x dim, host memory). Requires n >= k and finite values; retraining
  // starts afresh. On exception the previous training result is kept.
  void train(idx_t n, const float* x);

  // k x dim centroids, row-major (empty before train).
  const std::vector<float>& centroids() const { return centroids_; }

  // One entry per Lloyd iteration: the sum over training rows of the distance to the centroid
  // each was assigned to in that iteration (squared L2, or the dot product for inner product),
  // measured against the centroids the iteration started from. Non-increasing for L2 (up to
  // float rounding).
  const std::vector<double>& objective() const { return objective_; }

  // Things the last train() wants a caller to know (e.g. too few training rows per centroid).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Rows the last train() clustered (after subsampling).
  idx_t n_train() const { return n_train_; }

  // Nearest centroid of each of n rows of x into labels[0..n), and its distance (as objective)
  // into distances[0..n) unless distances is null. InvalidArgument before train.
  void assign(idx_t n, const float* x, idx_t* labels, float* distances = nullptr) const;

 private:
  int dim_;
  int k_;
  Metric metric_;
  KMeansParams params_;
  std::unique_ptr<detail::KMeansBackend> backend_;
  std::vector<float> centroids_;
  std::vector<double> objective_;
  std::vector<std::string> warnings_;
  idx_t n_train_ = 0;
};

}  // namespace knnx
