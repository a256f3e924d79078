// Helpers for the GPU suites: skipping without a device, reference results, poisoning.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "knnx/knnx.hpp"
#ifdef KNNX_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/runtime/stream_pool.hpp"
#endif

namespace knnx::test {

#define KNNX_REQUIRE_GPU()                                                  \
  do {                                                                      \
    if (::knnx::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

#ifdef KNNX_WITH_CUDA
// Holds all but `leave` bytes of the device's free memory until destroyed. The stream-ordered
// pool (which keeps memory freed by earlier searches) is trimmed first, so that what the hog
// leaves is all the library can get, whichever tests ran before in the process.
class DeviceMemoryHog {
 public:
  explicit DeviceMemoryHog(std::size_t leave) {
    cudaDeviceSynchronize();
    int device = 0;
    cudaMemPool_t pool;
    if (cudaGetDevice(&device) == cudaSuccess &&
        cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      cudaMemPoolTrimTo(pool, 0);
    }
    std::size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess || free_b <= leave) return;
    std::size_t bytes = free_b - leave;
    while (cudaMalloc(&ptr_, bytes) != cudaSuccess && bytes > (std::size_t{1} << 28)) {
      cudaGetLastError();
      ptr_ = nullptr;
      bytes -= std::size_t{64} << 20;
    }
  }
  ~DeviceMemoryHog() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceMemoryHog(const DeviceMemoryHog&) = delete;
  DeviceMemoryHog& operator=(const DeviceMemoryHog&) = delete;
  bool holding() const { return ptr_ != nullptr; }

 private:
  void* ptr_ = nullptr;
};
#endif

inline std::vector<float> random_vectors(idx_t n, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (float& v : x) v = dist(rng);
  return x;
}

// Exact distance of query q to base row r, in double.
inline double true_distance(Metric metric, const float* q, const float* x, int d) {
  double s = 0.0;
  for (int j = 0; j < d; ++j) {
    s += metric == Metric::L2 ? (double(q[j]) - x[j]) * (double(q[j]) - x[j]) : double(q[j]) * x[j];
  }
  return s;
}

// A float64 brute force of one query over base's first n rows, or over those sel admits: their
// distances, best first, against which results of any k are checked (tie order aside).
class ExactReference {
 public:
  ExactReference(Metric metric, const float* q, const std::vector<float>& base, idx_t n, int d,
                 const IDSelector* sel = nullptr)
      : metric_(metric), q_(q), base_(base), n_(n), d_(d), sel_(sel) {
    for (idx_t i = 0; i < n; ++i) {
      if (sel != nullptr && !sel->is_member(i)) continue;
      const double v = true_distance(metric, q, base.data() + i * d, d);
      sorted_.push_back(v);
      scale_ = std::max(scale_, std::abs(v));
    }
    if (metric == Metric::L2) {
      std::sort(sorted_.begin(), sorted_.end());
    } else {
      std::sort(sorted_.begin(), sorted_.end(), std::greater<>());
    }
  }

  // Results of k: the returned distances match the reference's k best within rel_tol x the
  // largest |distance|, each label's true distance matches its reported one, labels are
  // distinct, below n and admitted, and slots past the admitted rows are padded.
  void expect(int k, const float* dist, const idx_t* lab, double rel_tol,
              const std::string& what = "") const {
    const double tol = rel_tol * scale_;
    const auto admitted = static_cast<idx_t>(sorted_.size());
    std::set<idx_t> seen;
    for (int j = 0; j < k; ++j) {
      if (j < admitted) {
        ASSERT_GE(lab[j], 0) << what << " slot " << j;
        ASSERT_LT(lab[j], n_) << what << " slot " << j;
        if (sel_ != nullptr) ASSERT_TRUE(sel_->is_member(lab[j])) << what << " label " << lab[j];
        ASSERT_TRUE(seen.insert(lab[j]).second) << what << " label repeated: " << lab[j];
        EXPECT_NEAR(dist[j], sorted_[static_cast<std::size_t>(j)], tol) << what << " slot " << j;
        const double mine = true_distance(metric_, q_, base_.data() + lab[j] * d_, d_);
        EXPECT_NEAR(dist[j], mine, tol) << what << " slot " << j << " label " << lab[j];
      } else {
        EXPECT_EQ(lab[j], -1) << what << " slot " << j;
        EXPECT_EQ(dist[j], empty_distance(metric_)) << what << " slot " << j;
      }
    }
  }

 private:
  Metric metric_;
  const float* q_;
  const std::vector<float>& base_;
  idx_t n_;
  int d_;
  const IDSelector* sel_;
  std::vector<double> sorted_;
  double scale_ = 1.0;
};

// Checks one query's results against a float64 brute force over base's n rows (ExactReference).
inline void expect_exact(Metric metric, const float* q, const std::vector<float>& base, idx_t n,
                         int d, int k, const float* dist, const idx_t* lab, double rel_tol) {
  ExactReference(metric, q, base, n, d).expect(k, dist, lab, rel_tol);
}

// Restores the knob values after a test changes them.
struct ConfigGuard {
  Config saved = config();
  ~ConfigGuard() { set_config(saved); }
};

// Turns KNNX_SYNC_CHECK off for a test (it waits after every launch) and back on after.
struct NoSyncCheck {
  ConfigGuard restore;
  NoSyncCheck() {
    Config c = config();
    c.sync_check = false;
    set_config(c);
  }
};

// How many times the calling thread has waited for a GPU search (cuda::host_syncs_on_this_thread);
// tests bound a search's waits by the difference across it.
#ifdef KNNX_WITH_CUDA
inline std::uint64_t host_syncs() { return cuda::host_syncs_on_this_thread(); }
#else
inline std::uint64_t host_syncs() { return 0; }  // not reached: GPU tests skip without a device
#endif

struct Neighbours {
  std::vector<float> dist;
  std::vector<idx_t> lab;
};

inline Neighbours search(const Index& index, const std::vector<float>& q, int d, int k,
                         const SearchParams* params = nullptr) {
  const idx_t nq = static_cast<idx_t>(q.size()) / d;
  Neighbours r{std::vector<float>(nq * k, std::numeric_limits<float>::quiet_NaN()),
               std::vector<idx_t>(nq * k, -7)};
  index.search(nq, q.data(), k, r.dist.data(), r.lab.data(), params);
  return r;
}

// Same results, tie order aside: equal distances (within tolerance) slot by slot, and the same
// label wherever the distance is not tied with a neighbour. With ties_past_k, the k-th slot's
// label may differ too (its distance still equal): quantized distances tie exactly between
// vectors with equal codes, and the k-th result may then be any of those tied with the first
// one left out.
inline void expect_same(const Neighbours& a, const Neighbours& b, int k, const char* what,
                        bool ties_past_k = false) {
  ASSERT_EQ(a.lab.size(), b.lab.size());
  for (std::size_t i = 0; i < a.lab.size(); ++i) {
    if (std::isinf(a.dist[i]) || std::isinf(b.dist[i])) {  // padding past the candidates
      ASSERT_EQ(a.dist[i], b.dist[i]) << what << " slot " << i;
      ASSERT_EQ(a.lab[i], b.lab[i]) << what << " slot " << i;
      continue;
    }
    const float tol = 1e-4f * std::max(1.0f, std::abs(a.dist[i]));
    ASSERT_NEAR(a.dist[i], b.dist[i], tol) << what << " slot " << i;
    const std::size_t j = i % k;
    const bool tied =
        (j > 0 && std::abs(a.dist[i] - a.dist[i - 1]) <= tol) ||
        (j + 1 < static_cast<std::size_t>(k) && std::abs(a.dist[i] - a.dist[i + 1]) <= tol) ||
        (ties_past_k && j + 1 == static_cast<std::size_t>(k));
    if (!tied) ASSERT_EQ(a.lab[i], b.lab[i]) << what << " slot " << i;
  }
}

// The same range search on a GPU index and on the CPU index: per query, the same labels in the
// same order (both sort best first, ties by label) with distances within float tolerance.
// Hits within rounding of the radius may fall on either side (the devices sum in different
// orders) and are left out of the comparison.
inline void expect_same_range(const RangeSearchResult& want, const RangeSearchResult& got,
                              float radius, const std::string& what) {
  const auto tol = [](float v) { return 1e-4f * std::max(1.0f, std::abs(v)); };
  const auto clear_of_edge = [&](const RangeSearchResult& r, std::size_t q) {
    std::vector<std::pair<float, idx_t>> hits;
    for (idx_t i = r.lims[q]; i < r.lims[q + 1]; ++i) {
      const auto j = static_cast<std::size_t>(i);
      if (std::abs(r.distances[j] - radius) > tol(radius))
        hits.emplace_back(r.distances[j], r.labels[j]);
    }
    return hits;
  };
  ASSERT_EQ(want.lims.size(), got.lims.size()) << what;
  EXPECT_EQ(got.lims.front(), 0) << what;
  ASSERT_EQ(static_cast<std::size_t>(got.lims.back()), got.labels.size()) << what;
  ASSERT_EQ(got.labels.size(), got.distances.size()) << what;
  for (std::size_t q = 0; q + 1 < want.lims.size(); ++q) {
    const auto w = clear_of_edge(want, q);
    const auto g = clear_of_edge(got, q);
    ASSERT_EQ(w.size(), g.size()) << what << " query " << q;
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_NEAR(w[i].first, g[i].first, tol(w[i].first))
          << what << " query " << q << " hit " << i;
      const bool tied =
          (i > 0 && std::abs(w[i].first - w[i - 1].first) <= tol(w[i].first)) ||
          (i + 1 < w.size() && std::abs(w[i].first - w[i + 1].first) <= tol(w[i].first));
      if (!tied) ASSERT_EQ(w[i].second, g[i].second) << what << " query " << q << " hit " << i;
    }
  }
}

}  // namespace knnx::test
