#include "core/random.hpp"

#include <cmath>

namespace knnx::detail {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t derive_seed(std::uint64_t domain, std::uint64_t seed, std::uint64_t stream,
                          std::uint64_t block) {
  // Chaining through the bijective mix keeps tuples that differ in any field apart.
  std::uint64_t h = mix64(domain);
  h = mix64(h ^ seed);
  h = mix64(h ^ stream);
  return mix64(h ^ block);
}

double portable_log(double x) {
  constexpr double kLn2 = 0.693147180559945309417232121458176568;
  constexpr double kSqrtHalf = 0.707106781186547524400844362104849039;
  int e = 0;
  double m = std::frexp(x, &e);  // exact: x = m * 2^e, m in [0.5, 1)
  if (m < kSqrtHalf) {
    m *= 2.0;  // exact
    --e;
  }
  // log(m) = 2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...), z = (m - 1) / (m + 1); with m in
  // [sqrt(1/2), sqrt(2)), |z| <= 0.172 and z^2 <= 0.0295, so 13 terms reach double precision.
  // Each term is a quotient, so no product ever meets an add.
  const double z = (m - 1.0) / (m + 1.0);
  const double z2 = z * z;
  double power = z;
  double sum = z;
  for (int i = 1; i <= 13; ++i) {
    power *= z2;
    sum += power / static_cast<double>(2 * i + 1);
  }
  const double log_m = 2.0 * sum;  // exact, so fusing it into the next add changes nothing
  return std::fma(static_cast<double>(e), kLn2, log_m);
}

std::uint64_t Rng::bounded(std::uint64_t n) {
  // 2^64 mod n values at the bottom of the range would make small results more likely.
  const std::uint64_t reject_below = (0 - n) % n;
  std::uint64_t r = next();
  while (r < reject_below) r = next();
  return r % n;
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u = 0.0, v = 0.0, s = 0.0;
  do {
    const double a = uniform();
    const double b = uniform();
    u = 2.0 * a - 1.0;  // 2a is exact, so fusing it into the subtraction changes nothing
    v = 2.0 * b - 1.0;
    s = std::fma(u, u, v * v);
  } while (s >= 1.0 || s == 0.0);
  const double log_s = portable_log(s);
  const double f = std::sqrt((-2.0 * log_s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

}  // namespace knnx::detail
