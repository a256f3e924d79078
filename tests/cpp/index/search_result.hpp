// A search's results as vectors, for the index suites.
#pragma once

#include <vector>

#include "knnx/index.hpp"

namespace knnx::test {

struct SearchResult {
  std::vector<float> distances;
  std::vector<idx_t> labels;
  bool operator==(const SearchResult&) const = default;
};

inline SearchResult search(const Index& index, idx_t nq, const float* queries, int k,
                           const SearchParams* params = nullptr) {
  SearchResult r{std::vector<float>(static_cast<std::size_t>(nq * k)),
                 std::vector<idx_t>(static_cast<std::size_t>(nq * k))};
  index.search(nq, queries, k, r.distances.data(), r.labels.data(), params);
  return r;
}

}  // namespace knnx::test
