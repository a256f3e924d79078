// gpu_flat_bench: times knnx's GPU IndexFlat over a sweep of query counts and k in three modes
// (exact with FP32 SGEMM tiles, exact with 3xTF32 tiles, fast), next to the device's measured
// copy bandwidth, and prints one JSON document. For nq >= 1024 each mode's results for the first
// queries are checked against a float64 brute force (recall@k and distance error).
// Inputs and outputs stay in device memory, as a GPU user's would. bench/run_gpu_flat.sh runs
// it beside the PyTorch baseline and stores the combined result under bench/results/.
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"

namespace {

#define BENCH_CHECK(call)                                                    \
  do {                                                                       \
    cudaError_t e_ = (call);                                                 \
    if (e_ != cudaSuccess) throw std::runtime_error(cudaGetErrorString(e_)); \
  } while (0)

// Uniform values in [-1, 1) from a counter hash: fast, reproducible, no state shared by threads.
void fill_uniform(std::vector<float>& v, std::uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(v.size()); ++i) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[static_cast<std::size_t>(i)] = static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

template <typename T>
struct DevArray {
  T* p = nullptr;
  explicit DevArray(std::size_t n) { BENCH_CHECK(cudaMalloc(&p, n * sizeof(T))); }
  ~DevArray() { cudaFree(p); }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-to-device copy bandwidth, bytes read plus bytes written per second.
double copy_bandwidth(std::size_t bytes) {
  DevArray<char> a(bytes), b(bytes);
  BENCH_CHECK(cudaMemset(a.p, 1, bytes));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(e0);
    BENCH_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i > 0) t.push_back(ms);
  }
  return 2.0 * static_cast<double>(bytes) / (median(t) * 1e-3);
}

// float64 distances of `count` queries to every base row (row-major count x n).
std::vector<double> float64_distances(const std::vector<float>& base, std::int64_t n, int d,
                                      const std::vector<float>& queries, int count,
                                      knnx::Metric metric) {
  std::vector<double> out(static_cast<std::size_t>(count) * n);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const float* x = base.data() + i * d;
    for (int q = 0; q < count; ++q) {
      const float* y = queries.data() + static_cast<std::int64_t>(q) * d;
      double acc = 0;
      for (int j = 0; j < d; ++j) {
        acc += metric == knnx::Metric::L2 ? (static_cast<double>(x[j]) - y[j]) * (x[j] - y[j])
                                          : static_cast<double>(x[j]) * y[j];
      }
      out[static_cast<std::size_t>(q) * n + i] = acc;
    }
  }
  return out;
}

// recall@k against the float64 top-k (a label counts when its float64 distance is no worse than
// the float64 k-th, so ties do not count as misses) and the largest |reported - float64|
// distance relative to the largest |distance| among each query's top k.
struct Accuracy {
  double recall = 0;
  double max_rel_error = 0;
};

Accuracy check_float64(const std::vector<double>& truth, std::int64_t n, int count, int k,
                       knnx::Metric metric, const std::vector<float>& dist,
                       const std::vector<knnx::idx_t>& lab) {
  Accuracy a;
  std::size_t hit = 0;
  for (int q = 0; q < count; ++q) {
    const double* t = truth.data() + static_cast<std::size_t>(q) * n;
    std::vector<double> sorted(t, t + n);
    const auto kth = sorted.begin() + (k - 1);
    if (metric == knnx::Metric::L2) {
      std::nth_element(sorted.begin(), kth, sorted.end());
    } else {
      std::nth_element(sorted.begin(), kth, sorted.end(), std::greater<>());
    }
    double scale = 1e-30;
    for (int j = 0; j < k; ++j) {
      const knnx::idx_t l = lab[static_cast<std::size_t>(q) * k + j];
      if (l < 0) continue;
      scale = std::max(scale, std::abs(t[l]));
    }
    for (int j = 0; j < k; ++j) {
      const knnx::idx_t l = lab[static_cast<std::size_t>(q) * k + j];
      if (l < 0) continue;
      const bool in_top = metric == knnx::Metric::L2 ? t[l] <= *kth : t[l] >= *kth;
      hit += in_top ? 1 : 0;
      a.max_rel_error = std::max(
          a.max_rel_error, std::abs(dist[static_cast<std::size_t>(q) * k + j] - t[l]) / scale);
    }
  }
  a.recall = static_cast<double>(hit) / (static_cast<double>(count) * k);
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time knnx GPU IndexFlat search"};
  std::int64_t n = 1000000;
  int d = 128;
  std::vector<std::int64_t> nqs = {1, 16, 1024, 10000};
  std::vector<int> ks = {10, 100, 1024};
  int repeats = 5;
  std::string metric_name = "l2";
  bool fast = true;
  bool split = true;
  int check_queries = 8;
  app.add_option("--n", n, "database vectors");
  app.add_option("--d", d, "dimension");
  app.add_option("--nq", nqs, "query counts");
  app.add_option("--k", ks, "k values");
  app.add_option("--repeats", repeats, "timed repeats per point (median reported)");
  app.add_option("--metric", metric_name, "l2 or ip");
  app.add_option("--fast", fast, "also time the fast (tf32 + exact re-rank) mode for nq >= 1024");
  app.add_option("--split", split, "also time exact mode with 3xTF32 tiles for nq >= 1024");
  app.add_option("--check-queries", check_queries,
                 "queries checked against float64 for nq >= 1024 (0: no check)");
  CLI11_PARSE(app, argc, argv);

  using clock = std::chrono::steady_clock;
  const knnx::Metric metric = knnx::parse_metric(metric_name);
  const std::int64_t max_nq = *std::max_element(nqs.begin(), nqs.end());
  const int max_k = *std::max_element(ks.begin(), ks.end());

  std::vector<float> base(static_cast<std::size_t>(n) * d), queries(static_cast<std::size_t>(max_nq) * d);
  fill_uniform(base, 1);
  fill_uniform(queries, 2);
  DevArray<float> base_dev(base.size()), q_dev(queries.size());
  DevArray<float> dist_dev(static_cast<std::size_t>(max_nq) * max_k);
  DevArray<knnx::idx_t> lab_dev(static_cast<std::size_t>(max_nq) * max_k);
  BENCH_CHECK(cudaMemcpy(base_dev.p, base.data(), base.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(q_dev.p, queries.data(), queries.size() * 4, cudaMemcpyHostToDevice));
  check_queries = static_cast<int>(std::min<std::int64_t>(check_queries, max_nq));
  const std::vector<double> truth =
      check_queries > 0 ? float64_distances(base, n, d, queries, check_queries, metric)
                        : std::vector<double>();
  base.clear();
  base.shrink_to_fit();

  knnx::IndexFlat index(d, metric, knnx::Device::cuda(0));
  auto t0 = clock::now();
  index.add(n, base_dev.p);
  const double add_s = std::chrono::duration<double>(clock::now() - t0).count();

  const double bw = copy_bandwidth(std::size_t(2) << 30);
  nlohmann::json out;
  out["device"] = knnx::cuda_device_name(0);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  out["cuda_driver"] = driver;
  out["cuda_runtime"] = runtime;
  out["n"] = n;
  out["d"] = d;
  out["metric"] = metric_name;
  out["copy_bandwidth_gbs"] = bw / 1e9;
  // The floor reads the base once: N*d*4 bytes at the measured copy rate (bytes read plus
  // written per second, the rate DRAM sustains for any mix of reads and writes).
  out["memory_floor_ms"] = static_cast<double>(n) * d * 4 / bw * 1e3;
  out["add_seconds"] = add_s;
  nlohmann::json rows = nlohmann::json::array();

  const knnx::Config defaults = knnx::config();
  for (const std::int64_t nq : nqs) {
    for (const int k : ks) {
      for (const std::string mode : {"exact", "exact-3xtf32", "fast"}) {
        if (mode == "fast" && (!fast || nq < 1024)) continue;
        if (mode == "exact-3xtf32" && (!split || nq < 1024)) continue;
        knnx::Config cfg = defaults;
        cfg.flat_gemm = mode == "exact-3xtf32" ? "3xtf32" : "fp32";
        knnx::set_config(cfg);
        index.set_precision(mode == "fast" ? knnx::FlatPrecision::Fast : knnx::FlatPrecision::Exact);
        index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);  // warm-up
        std::vector<double> times;
        for (int r = 0; r < repeats; ++r) {
          const auto s = clock::now();
          index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);
          times.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
        }
        nlohmann::json row = {{"nq", nq},
                              {"k", k},
                              {"mode", mode},
                              {"flat_gemm", cfg.flat_gemm},
                              {"median_ms", median(times)},
                              {"times_ms", times},
                              {"qps", nq / (median(times) * 1e-3)}};
        std::vector<knnx::idx_t> lm(static_cast<std::size_t>(nq) * k);
        std::vector<float> dm(lm.size());
        BENCH_CHECK(cudaMemcpy(lm.data(), lab_dev.p, lm.size() * 8, cudaMemcpyDeviceToHost));
        BENCH_CHECK(cudaMemcpy(dm.data(), dist_dev.p, dm.size() * 4, cudaMemcpyDeviceToHost));
        if (nq >= 1024 && check_queries > 0) {
          const Accuracy a = check_float64(truth, n, check_queries, k, metric, dm, lm);
          row["float64_check_queries"] = check_queries;
          row["recall_vs_float64"] = a.recall;
          row["max_rel_dist_error_vs_float64"] = a.max_rel_error;
        }
        if (mode != "exact") {
          // recall@k against the FP32 exact mode on all the queries
          knnx::set_config(defaults);
          index.set_precision(knnx::FlatPrecision::Exact);
          index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);
          std::vector<knnx::idx_t> le(lm.size());
          BENCH_CHECK(cudaMemcpy(le.data(), lab_dev.p, le.size() * 8, cudaMemcpyDeviceToHost));
          std::size_t hit = 0;
          for (std::int64_t i = 0; i < nq; ++i) {
            std::set<knnx::idx_t> truth_set(le.begin() + i * k, le.begin() + (i + 1) * k);
            for (int j = 0; j < k; ++j) hit += truth_set.count(lm[static_cast<std::size_t>(i * k + j)]);
          }
          row["recall_vs_exact"] = static_cast<double>(hit) / static_cast<double>(nq * k);
        }
        std::cerr << "n=" << n << " d=" << d << " nq=" << nq << " k=" << k << " " << mode << " "
                  << median(times) << " ms\n";
        rows.push_back(row);
      }
    }
  }
  knnx::set_config(defaults);
  out["results"] = rows;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
