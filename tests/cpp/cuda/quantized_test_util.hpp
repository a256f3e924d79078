// Helpers for the GPU suites of the quantized indexes (test_pq_cuda.cpp, test_sq_cuda.cpp):
// clustered data and an index moved to another device through an index file.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"
#include "knnx/synthetic.hpp"
#include "temp_dir.hpp"

namespace knnx::test {

struct ClusteredData {
  int dim = 0;
  std::vector<float> base, extra, queries;
  idx_t n() const { return static_cast<idx_t>(base.size()) / dim; }
  idx_t nq() const { return static_cast<idx_t>(queries.size()) / dim; }
};

// Clustered vectors, as the IVF indexes expect; 500 `extra` rows for adds after a search.
inline ClusteredData clustered(idx_t n, idx_t nq, int dim) {
  MixtureSpec spec;
  spec.dim = dim;
  spec.n_clusters = 48;
  spec.noise_stddev = 0.3f;
  spec.seed = 11;
  ClusteredData data;
  data.dim = dim;
  data.base = make_mixture_base(spec, n).data;
  data.extra = make_mixture_base(spec, n + 500).data;
  data.extra.erase(data.extra.begin(), data.extra.begin() + static_cast<std::ptrdiff_t>(n) * dim);
  data.queries = make_mixture_queries(spec, nq).data;
  return data;
}

// The same index on another device, through an index file (so the quantizers, centroids and
// codes are identical).
template <typename T>
std::unique_ptr<T> moved(const T& index, Device device, const char* name) {
  const TempDir dir("knnx_quantized_cuda");
  const std::string path = (dir.path() / name).string();
  write_index(index, path);
  std::unique_ptr<Index> loaded = read_index(path, device);
  auto* typed = dynamic_cast<T*>(loaded.get());
  if (typed == nullptr) throw std::runtime_error("read_index returned another index type");
  loaded.release();
  std::unique_ptr<T> out(typed);
  EXPECT_EQ(out->device(), device);
  EXPECT_EQ(out->ntotal(), index.ntotal());
  return out;
}

}  // namespace knnx::test
