// knnx/synthetic.hpp — built-in data: a clustered Gaussian mixture that is the same on every
// platform for a given seed, for base vectors and for queries drawn from the same mixture.
//
// The mixture has n_clusters centres drawn from N(0, center_stddev² I); a point picks a centre
// uniformly at random and adds N(0, noise_stddev² I) noise. Centres, base vectors and queries
// come from separate random streams derived from the seed, so changing the number of queries
// never changes the base vectors, and the first n rows of a sample of m > n rows are exactly a
// sample of n rows.
//
// Portability: the only source of randomness is std::mt19937_64 (whose output sequence the C++
// standard fixes). Uniforms, bounded integers and normals are derived from it by knnx's own
// code using only IEEE-754 +, -, *, / and sqrt (no std::*_distribution, no libm log/sin/cos,
// whose results differ between standard libraries), so the values are bit-identical across
// compilers and operating systems.
#pragma once

#include <cstdint>
#include <vector>

#include "knnx/types.hpp"
#include "knnx/vector_io.hpp"

namespace knnx {

struct MixtureSpec {
  int dim = 128;
  int n_clusters = 100;
  float center_stddev = 1.0f;  // spread of the cluster centres around the origin
  float noise_stddev = 0.2f;   // spread of points around their centre
  std::uint64_t seed = 0;
};

// Random streams of one mixture. Samples from different streams are independent.
inline constexpr std::uint64_t kBaseStream = 0;
inline constexpr std::uint64_t kQueryStream = 1;

struct MixtureSample {
  Matrix<float> vectors;               // n x dim
  std::vector<std::int32_t> clusters;  // the centre each row was drawn around
};

class GaussianMixture {
 public:
  // Validates the spec (dim in [1, kMaxDim], n_clusters >= 1, finite stddevs >= 0; otherwise
  // InvalidArgument naming the field) and draws the centres.
  explicit GaussianMixture(const MixtureSpec& spec);

  const MixtureSpec& spec() const { return spec_; }
  const Matrix<float>& centers() const { return centers_; }  // n_clusters x dim

  // n >= 0 points from the given stream. Rows are generated in fixed-size blocks, each with its
  // own generator, so the result does not depend on the number of threads used.
  MixtureSample sample(idx_t n, std::uint64_t stream) const;

 private:
  MixtureSpec spec_;
  Matrix<float> centers_;
};

// n base vectors (stream kBaseStream) and nq queries (stream kQueryStream) of the mixture.
Matrix<float> make_mixture_base(const MixtureSpec& spec, idx_t n);
Matrix<float> make_mixture_queries(const MixtureSpec& spec, idx_t nq);

}  // namespace knnx
