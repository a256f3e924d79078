// KMeans front end: validation, the training sample, warnings and progress; the clustering
// itself runs in the backend of params.device.
#include "knnx/kmeans.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>
#include <utility>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/kmeans_backend.hpp"
#include "core/random.hpp"
#include "core/sampling.hpp"

namespace knnx {

using detail::require;

KMeans::KMeans(int dim, int k, Metric metric, KMeansParams params)
    : dim_(dim), k_(k), metric_(metric), params_(std::move(params)) {
  detail::check_dim(dim);
  require(k >= 1, "k must be >= 1, got {}", k);
  require(params_.n_iter >= 0, "n_iter must be >= 0, got {}", params_.n_iter);
  require(params_.max_points_per_centroid >= 1, "max_points_per_centroid must be >= 1, got {}",
          params_.max_points_per_centroid);
  require(params_.min_points_per_centroid >= 0, "min_points_per_centroid must be >= 0, got {}",
          params_.min_points_per_centroid);
  require(params_.init_points_per_centroid >= 0, "init_points_per_centroid must be >= 0, got {}",
          params_.init_points_per_centroid);
  require(params_.init == KMeansParams::Init::Random ||
              params_.init == KMeansParams::Init::KMeansPlusPlus,
          "init must be Random or KMeansPlusPlus, got {}", static_cast<int>(params_.init));
  backend_ = detail::backend_for(params_.device).make_kmeans(params_.device.ordinal);
}

KMeans::~KMeans() = default;
KMeans::KMeans(KMeans&&) noexcept = default;
KMeans& KMeans::operator=(KMeans&&) noexcept = default;

void KMeans::train(idx_t n, const float* x) {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::checked_elements(n, dim_, "x");
  require(n >= k_, "n must be >= k: {} training vectors cannot make {} clusters", n, k_);
  detail::check_finite_host(n, dim_, x, "x");

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> warnings;
  const idx_t min_rows = static_cast<idx_t>(k_) * params_.min_points_per_centroid;
  if (n < min_rows) {
    warnings.push_back(fmt::format(
        "{} training vectors for {} centroids is {:.1f} per centroid, fewer than "
        "min_points_per_centroid = {}; the centroids may be poor",
        n, k_, static_cast<double>(n) / k_, params_.min_points_per_centroid));
  }

  // At most k * max_points_per_centroid rows, drawn without replacement for the seed.
  const idx_t max_rows = static_cast<idx_t>(k_) * params_.max_points_per_centroid;
  std::vector<float> sample;
  const float* train_x = x;
  idx_t train_n = n;
  if (n > max_rows) {
    detail::Rng rng(detail::derive_seed(detail::kKMeansSeedDomain, params_.seed,
                                        detail::kKMeansSubsampleStream, 0));
    std::vector<idx_t> rows;
    try {
      rows = detail::sample_without_replacement(n, max_rows, rng);
      sample.resize(detail::checked_elements(max_rows, dim_, "training sample"));
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(fmt::format("cannot allocate a k-means sample of {} vectors of dim {}",
                                    max_rows, dim_));
    }
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::copy_n(x + rows[r] * dim_, dim_, sample.data() + r * static_cast<std::size_t>(dim_));
    }
    train_x = sample.data();
    train_n = max_rows;
  }

  if (params_.verbose) {
    for (const std::string& w : warnings) fmt::print(stderr, "kmeans: warning: {}\n", w);
    fmt::print(stderr, "kmeans: {} clusters of {} vectors (dim {}, {}{}), {} iterations\n", k_,
               train_n, dim_, to_string(metric_), params_.spherical ? ", spherical" : "",
               params_.n_iter);
    if (train_n < n) {
      fmt::print(stderr, "kmeans: sampled {} of {} vectors (max_points_per_centroid = {})\n",
                 train_n, n, params_.max_points_per_centroid);
    }
  }
  auto on_iteration = [&](int iter, double objective) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (params_.verbose) {
      fmt::print(stderr, "kmeans: iteration {}/{} objective {:.6g} ({:.3f} s)\n", iter + 1,
                 params_.n_iter, objective, seconds);
    }
    if (params_.progress) params_.progress(iter, objective, seconds);
  };
  detail::KMeansResult result;
  try {
    result = backend_->train(train_n, train_x, dim_, k_, metric_, params_, on_iteration);
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(fmt::format("k-means of {} vectors of dim {} into {} clusters: out of memory",
                                  train_n, dim_, k_));
  }

  centroids_ = std::move(result.centroids);
  objective_ = std::move(result.objective);
  warnings_ = std::move(warnings);
  n_train_ = train_n;
}

void KMeans::assign(idx_t n, const float* x, idx_t* labels, float* distances) const {
  detail::check_count(n);
  detail::check_not_null(x, "x");
  detail::check_not_null(labels, "labels");
  detail::checked_elements(n, dim_, "x");
  require(is_trained(), "the KMeans must be trained before assign");
  detail::check_finite_host(n, dim_, x, "x");
  backend_->assign(n, x, dim_, centroids_.data(), k_, metric_, labels, distances);
}

}  // namespace knnx
