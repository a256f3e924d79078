// gpu_flat_bench: times knnx's GPU IndexFlat (exact and fast modes) over a sweep of query counts
// and k, next to the device's measured copy bandwidth, and prints one JSON document.
// Inputs and outputs stay in device memory, as a GPU user's would. bench/run_gpu_flat.sh runs
// it beside the PyTorch baseline and stores the combined result under bench/results/.
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
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
  app.add_option("--n", n, "database vectors");
  app.add_option("--d", d, "dimension");
  app.add_option("--nq", nqs, "query counts");
  app.add_option("--k", ks, "k values");
  app.add_option("--repeats", repeats, "timed repeats per point (median reported)");
  app.add_option("--metric", metric_name, "l2 or ip");
  app.add_option("--fast", fast, "also time the fast (tf32 + exact re-rank) mode for nq >= 1024");
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

  for (const std::int64_t nq : nqs) {
    for (const int k : ks) {
      for (const bool fast_mode : {false, true}) {
        if (fast_mode && (!fast || nq < 1024)) continue;
        index.set_precision(fast_mode ? knnx::FlatPrecision::Fast : knnx::FlatPrecision::Exact);
        index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);  // warm-up
        std::vector<double> times;
        for (int r = 0; r < repeats; ++r) {
          const auto s = clock::now();
          index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);
          times.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
        }
        nlohmann::json row = {{"nq", nq}, {"k", k}, {"mode", fast_mode ? "fast" : "exact"},
                              {"median_ms", median(times)}, {"times_ms", times},
                              {"qps", nq / (median(times) * 1e-3)}};
        if (fast_mode) {
          // recall@k of fast against exact on the same queries
          std::vector<knnx::idx_t> lf(static_cast<std::size_t>(nq) * k), le(lf.size());
          BENCH_CHECK(cudaMemcpy(lf.data(), lab_dev.p, lf.size() * 8, cudaMemcpyDeviceToHost));
          index.set_precision(knnx::FlatPrecision::Exact);
          index.search(nq, q_dev.p, k, dist_dev.p, lab_dev.p);
          BENCH_CHECK(cudaMemcpy(le.data(), lab_dev.p, le.size() * 8, cudaMemcpyDeviceToHost));
          std::size_t hit = 0;
          for (std::int64_t i = 0; i < nq; ++i) {
            std::set<knnx::idx_t> truth(le.begin() + i * k, le.begin() + (i + 1) * k);
            for (int j = 0; j < k; ++j) hit += truth.count(lf[static_cast<std::size_t>(i * k + j)]);
          }
          row["recall_vs_exact"] = static_cast<double>(hit) / static_cast<double>(nq * k);
        }
        std::cerr << "n=" << n << " d=" << d << " nq=" << nq << " k=" << k << " "
                  << row["mode"].get<std::string>() << " " << median(times) << " ms\n";
        rows.push_back(row);
      }
    }
  }
  out["results"] = rows;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
