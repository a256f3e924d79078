// Clustered Gaussian mixture data, generated in fixed blocks of rows so that values depend only
// on (seed, stream, row) and never on the number of threads.
#include "knnx/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/check.hpp"
#include "core/random.hpp"

namespace knnx {
namespace {

// Domains keep the centre stream apart from every sample stream a caller can name.
constexpr std::uint64_t kCenterDomain = 0x63656e7472657300ull;  // "centres"
constexpr std::uint64_t kSampleDomain = 0x73616d706c657300ull;  // "samples"
constexpr idx_t kBlockRows = 1024;

void validate(const MixtureSpec& spec) {
  detail::check_dim(spec.dim, "spec.dim");
  detail::require(spec.n_clusters >= 1, "spec.n_clusters must be >= 1, got {}", spec.n_clusters);
  detail::require(std::isfinite(spec.center_stddev) && spec.center_stddev >= 0.0f,
                  "spec.center_stddev must be finite and >= 0, got {}", spec.center_stddev);
  detail::require(std::isfinite(spec.noise_stddev) && spec.noise_stddev >= 0.0f,
                  "spec.noise_stddev must be finite and >= 0, got {}", spec.noise_stddev);
}

}  // namespace

GaussianMixture::GaussianMixture(const MixtureSpec& spec) : spec_(spec) {
  validate(spec_);
  centers_.rows = spec_.n_clusters;
  centers_.cols = spec_.dim;
  centers_.data.resize(detail::checked_elements(centers_.rows, centers_.cols, "centers"));
  detail::Rng rng(detail::derive_seed(kCenterDomain, spec_.seed, 0, 0));
  const double scale = spec_.center_stddev;
  for (float& c : centers_.data) {
    const double z = rng.normal();
    c = static_cast<float>(scale * z);
  }
}

MixtureSample GaussianMixture::sample(idx_t n, std::uint64_t stream) const {
  detail::require(n >= 0, "n must be >= 0, got {}", n);
  const idx_t d = spec_.dim;
  MixtureSample out;
  out.vectors.rows = n;
  out.vectors.cols = d;
  out.vectors.data.resize(detail::checked_elements(n, d, "sample"));
  out.clusters.resize(static_cast<std::size_t>(n));

  const idx_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
  const double noise = spec_.noise_stddev;
#pragma omp parallel for schedule(dynamic, 1)
  for (idx_t b = 0; b < n_blocks; ++b) {
    detail::Rng rng(detail::derive_seed(kSampleDomain, spec_.seed, stream,
                                        static_cast<std::uint64_t>(b)));
    const idx_t end = std::min(n, (b + 1) * kBlockRows);
    for (idx_t i = b * kBlockRows; i < end; ++i) {
      const auto c = static_cast<std::int32_t>(rng.bounded(
          static_cast<std::uint64_t>(spec_.n_clusters)));
      out.clusters[static_cast<std::size_t>(i)] = c;
      const float* center = centers_.row(c);
      float* x = out.vectors.row(i);
      for (idx_t j = 0; j < d; ++j) {
        // An explicit fma: the same rounding whether or not the target has FMA instructions.
        x[j] = static_cast<float>(std::fma(noise, rng.normal(), static_cast<double>(center[j])));
      }
    }
  }
  return out;
}

Matrix<float> make_mixture_base(const MixtureSpec& spec, idx_t n) {
  return GaussianMixture(spec).sample(n, kBaseStream).vectors;
}

Matrix<float> make_mixture_queries(const MixtureSpec& spec, idx_t nq) {
  return GaussianMixture(spec).sample(nq, kQueryStream).vectors;
}

}  // namespace knnx
