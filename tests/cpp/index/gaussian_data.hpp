// Test data for the index suites: row-major float32 vectors drawn from N(mean, 1), the same for
// a seed on every platform that std::mt19937 and std::normal_distribution agree on.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "knnx/types.hpp"

namespace knnx::test {

inline std::vector<float> gaussian(idx_t n, int d, std::uint32_t seed, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace knnx::test
