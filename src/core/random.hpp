// core/random.hpp — a portable random generator: for a seed, the same values on every platform.
//
// std::mt19937_64's output sequence is fixed by the C++ standard, but std::*_distribution and
// libm's log/sin/cos are not, so uniforms, bounded integers and normals are derived here with
// IEEE-754 double +, -, *, /, sqrt and fma only, all of which are exactly rounded. Every
// multiply feeding an add is written as an explicit std::fma: compilers may otherwise fuse
// a * b + c where the target has FMA instructions (GCC does so by default for C++), which would
// change the last bit from one machine to the next. Code built on these values must follow
// the same rule.
#pragma once

#include <cstdint>
#include <random>

namespace knnx::detail {

// The splitmix64 finaliser: a bijective mix of 64 bits, used to derive independent seeds.
std::uint64_t mix64(std::uint64_t x);

// A seed for one (domain, seed, stream, block) tuple; distinct tuples give unrelated seeds.
std::uint64_t derive_seed(std::uint64_t domain, std::uint64_t seed, std::uint64_t stream,
                          std::uint64_t block);

// Natural logarithm of a finite x > 0 from basic arithmetic (frexp and an atanh series), within
// a few ulp of the exact value and bit-identical everywhere.
double portable_log(double x);

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }

  // Uniform in the open interval (0, 1): an odd multiple of 2^-53.
  double uniform() { return static_cast<double>((next() >> 11) | 1u) * 0x1.0p-53; }

  // Uniform integer in [0, n) for n >= 1, without modulo bias (rejection as in arc4random).
  std::uint64_t bounded(std::uint64_t n);

  // Standard normal N(0, 1) by Marsaglia's polar method; values come in pairs.
  double normal();

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace knnx::detail
