// gpu_ivf_bench: GPU IVF-Flat measurements.
//  --suite playbook: d = 64, N = 32768, n_probe in {1, 8}, Q = 16: fused vs unfused, batched vs
//    one launch per query, chunked vs single kernel, shared candidates vs per query.
//  --suite curve: N clustered vectors, n_lists in {1024, 4096}, an n_probe sweep at nq queries,
//    k = 10: recall@10 (against the exact GPU flat search) vs queries/s, build time (train + add
//    on the GPU), and the exact GPU flat search's queries/s in the same run.
//  --suite stages: where the time of one IVF search goes (N clustered vectors, the first of
//    --lists, each of --probes): the whole search with host and with device queries/results,
//    the copies alone (pageable and pinned), the coarse search alone, the exact flat search.
//    With --profile, one device-resident search per point is bracketed for ncu/nsys.
// Prints one JSON document.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double time_ms(int repeats, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto s = clock_type::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - s).count());
  }
  return median(t);
}

void with_config(const std::function<void(knnx::Config&)>& change) {
  knnx::Config c = knnx::config();
  change(c);
  knnx::set_config(c);
}

nlohmann::json playbook(int repeats) {
  const int d = 64, n_lists = 64, k = 10;
  const knnx::idx_t n = 32768, nq = 16;
  knnx::MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 64;
  spec.seed = 1;
  const auto base = knnx::make_mixture_base(spec, n).data;
  const auto q = knnx::make_mixture_queries(spec, nq).data;
  knnx::IndexIVFFlat index(d, n_lists, knnx::Metric::L2, knnx::Device::cuda(0));
  index.train(n, base.data());
  index.add(n, base.data());
  std::vector<float> dist(nq * 32);
  std::vector<knnx::idx_t> lab(nq * 32);
  const knnx::Config defaults = knnx::config();
  nlohmann::json rows = nlohmann::json::array();
  for (int n_probe : {1, 8}) {
    index.set_n_probe(n_probe);
    auto run = [&](const char* name, const std::function<void(knnx::Config&)>& cfg, bool per_query) {
      knnx::set_config(defaults);
      with_config(cfg);
      const double ms = time_ms(repeats, [&] {
        if (per_query) {
          for (knnx::idx_t i = 0; i < nq; ++i) index.search(1, q.data() + i * d, k, dist.data(), lab.data());
        } else {
          index.search(nq, q.data(), k, dist.data(), lab.data());
        }
      });
      rows.push_back({{"n_probe", n_probe}, {"variant", name}, {"median_ms", ms}});
      std::cerr << "playbook n_probe=" << n_probe << " " << name << " " << ms << " ms\n";
    };
    run("fused_batched", [](knnx::Config& c) { c.ivf_shared = 0; }, false);
    run("unfused_batched", [](knnx::Config& c) { c.ivf_shared = 0; c.ivf_fused = false; }, false);
    run("fused_one_launch_per_query", [](knnx::Config& c) { c.ivf_shared = 0; }, true);
    run("fused_chunked_512", [](knnx::Config& c) { c.ivf_shared = 0; c.ivf_rows_per_chunk = 512; }, false);
    run("fused_single_chunk", [](knnx::Config& c) { c.ivf_shared = 0; c.ivf_rows_per_chunk = 1 << 30; }, false);
    run("shared_candidates", [](knnx::Config& c) { c.ivf_shared = 1; }, false);
  }
  knnx::set_config(defaults);
  return {{"d", d}, {"n", n}, {"n_lists", n_lists}, {"nq", nq}, {"k", k}, {"results", rows}};
}

// The curve and stages suites' data: a Gaussian mixture, seed 2.
knnx::MixtureSpec curve_data(int d, int clusters, float noise) {
  knnx::MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = clusters;
  spec.noise_stddev = noise;
  spec.seed = 2;
  return spec;
}

nlohmann::json curve(knnx::idx_t n, int d, knnx::idx_t nq, std::vector<int> lists_list,
                     std::vector<int> probes, int repeats, int clusters, float noise,
                     bool profile) {
  const int k = 10;
  const knnx::MixtureSpec spec = curve_data(d, clusters, noise);
  auto t0 = clock_type::now();
  const auto base = knnx::make_mixture_base(spec, n).data;
  const auto q = knnx::make_mixture_queries(spec, nq).data;
  std::cerr << "data " << std::chrono::duration<double>(clock_type::now() - t0).count() << " s\n";
  // Ground truth and the exact baseline: GPU flat.
  knnx::IndexFlat flat(d, knnx::Metric::L2, knnx::Device::cuda(0));
  flat.add(n, base.data());
  std::vector<float> gd(nq * k);
  std::vector<knnx::idx_t> gt(nq * k);
  const double flat_ms = time_ms(repeats, [&] { flat.search(nq, q.data(), k, gd.data(), gt.data()); });
  nlohmann::json out = {{"n", n}, {"d", d}, {"nq", nq}, {"k", k},
                        {"data", "Gaussian mixture (knnx::MixtureSpec), seed 2"},
                        {"clusters", clusters}, {"noise_stddev", noise},
                        {"flat_exact_ms", flat_ms}, {"flat_exact_qps", nq / (flat_ms * 1e-3)}};
  nlohmann::json runs = nlohmann::json::array();
  std::vector<float> dist(nq * k);
  std::vector<knnx::idx_t> lab(nq * k);
  for (int n_lists : lists_list) {
    knnx::IndexIVFFlat index(d, n_lists, knnx::Metric::L2, knnx::Device::cuda(0));
    const auto b0 = clock_type::now();
    index.train(n, base.data());
    const auto b1 = clock_type::now();
    index.add(n, base.data());
    const auto b2 = clock_type::now();
    const double train_s = std::chrono::duration<double>(b1 - b0).count();
    const double add_s = std::chrono::duration<double>(b2 - b1).count();
    std::cerr << "n_lists=" << n_lists << " train " << train_s << " s, add " << add_s << " s\n";
    nlohmann::json points = nlohmann::json::array();
    for (int p : probes) {
      if (p > n_lists) continue;
      index.set_n_probe(p);
      const double ms = time_ms(repeats, [&] { index.search(nq, q.data(), k, dist.data(), lab.data()); });
      const double recall = knnx::recall_at_k(nq, lab.data(), k, gt.data(), k, k);
      // The same search with the per-query (not shared-candidates) scan, for comparison.
      const knnx::Config saved = knnx::config();
      with_config([](knnx::Config& c) { c.ivf_shared = 0; });
      const double per_query_ms =
          time_ms(repeats, [&] { index.search(nq, q.data(), k, dist.data(), lab.data()); });
      if (profile) {
        cudaProfilerStart();
        index.search(nq, q.data(), k, dist.data(), lab.data());
        with_config([](knnx::Config& c) { c.ivf_shared = 1; });
        index.search(nq, q.data(), k, dist.data(), lab.data());
        cudaProfilerStop();
      }
      knnx::set_config(saved);
      points.push_back({{"n_probe", p}, {"median_ms", ms}, {"qps", nq / (ms * 1e-3)},
                        {"recall_at_10", recall}, {"speedup_vs_flat", flat_ms / ms},
                        {"per_query_scan_ms", per_query_ms}});
      std::cerr << "  n_probe=" << p << " " << ms << " ms (per-query scan " << per_query_ms
                << " ms) recall " << recall << " x" << flat_ms / ms << " vs flat\n";
    }
    runs.push_back({{"n_lists", n_lists}, {"train_s", train_s}, {"add_s", add_s},
                    {"build_s", train_s + add_s}, {"imbalance", index.imbalance_factor()},
                    {"points", points}});
  }
  out["ivf"] = runs;
  return out;
}

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Device (or pinned host) array released on scope exit.
template <typename T>
struct CudaArray {
  T* p = nullptr;
  bool pinned = false;
  CudaArray(std::size_t n, bool host_pinned) : pinned(host_pinned) {
    cuda_ok(pinned ? cudaMallocHost(&p, sizeof(T) * n) : cudaMalloc(&p, sizeof(T) * n), "alloc");
  }
  ~CudaArray() { pinned ? cudaFreeHost(p) : cudaFree(p); }
  CudaArray(const CudaArray&) = delete;
  CudaArray& operator=(const CudaArray&) = delete;
};

nlohmann::json stages(knnx::idx_t n, int d, knnx::idx_t nq, int n_lists, std::vector<int> probes,
                      int repeats, int clusters, float noise, bool profile) {
  const int k = 10;
  const knnx::MixtureSpec spec = curve_data(d, clusters, noise);
  const auto base = knnx::make_mixture_base(spec, n).data;
  const auto q = knnx::make_mixture_queries(spec, nq).data;
  const std::size_t qn = static_cast<std::size_t>(nq) * d, rn = static_cast<std::size_t>(nq) * k;
  std::vector<float> dist(rn);
  std::vector<knnx::idx_t> lab(rn);
  CudaArray<float> q_dev(qn, false), q_pinned(qn, true), d_dev(rn, false);
  CudaArray<knnx::idx_t> l_dev(rn, false);
  std::copy(q.begin(), q.end(), q_pinned.p);
  cuda_ok(cudaMemcpy(q_dev.p, q.data(), sizeof(float) * qn, cudaMemcpyHostToDevice), "copy");

  knnx::IndexFlat flat(d, knnx::Metric::L2, knnx::Device::cuda(0));
  flat.add(n, base.data());
  knnx::IndexIVFFlat index(d, n_lists, knnx::Metric::L2, knnx::Device::cuda(0));
  index.train(n, base.data());
  index.add(n, base.data());
  const auto centroids = index.centroids();
  knnx::IndexFlat coarse(d, knnx::Metric::L2, knnx::Device::cuda(0));
  coarse.add(n_lists, centroids.data());
  auto sizes = index.list_sizes();
  std::sort(sizes.begin(), sizes.end());
  const nlohmann::json list_rows = {{"max", sizes.back()},
                                    {"p99", sizes[sizes.size() * 99 / 100]},
                                    {"median", sizes[sizes.size() / 2]},
                                    {"mean", double(n) / n_lists}};
  // The shared-candidates scan's work for a probe set: one item per (list, group of 32 queries
  // probing it); an item's time grows with its list's rows, so the largest bounds the kernel.
  auto scan_work = [&](int p) {
    std::vector<float> cd(static_cast<std::size_t>(nq) * p);
    std::vector<knnx::idx_t> cl(cd.size());
    coarse.search(nq, q.data(), p, cd.data(), cl.data());
    std::vector<knnx::idx_t> queries_of(n_lists, 0);
    for (const auto l : cl) ++queries_of[static_cast<std::size_t>(l)];
    const auto all_sizes = index.list_sizes();
    knnx::idx_t items = 0, rows = 0, max_item = 0;
    for (int l = 0; l < n_lists; ++l) {
      const knnx::idx_t groups = (queries_of[l] + 31) / 32;
      items += groups;
      rows += groups * all_sizes[l];
      if (groups > 0) max_item = std::max(max_item, all_sizes[l]);
    }
    return nlohmann::json{{"items", items}, {"item_rows_total", rows}, {"item_rows_max", max_item}};
  };

  auto copy_ms = [&](void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
    return time_ms(repeats, [&] { cuda_ok(cudaMemcpy(dst, src, bytes, kind), "copy"); });
  };
  nlohmann::json copies = {
      {"queries_h2d_pageable_ms",
       copy_ms(q_dev.p, q.data(), sizeof(float) * qn, cudaMemcpyHostToDevice)},
      {"queries_h2d_pinned_ms",
       copy_ms(q_dev.p, q_pinned.p, sizeof(float) * qn, cudaMemcpyHostToDevice)},
      {"results_d2h_pageable_ms",
       copy_ms(dist.data(), d_dev.p, sizeof(float) * rn, cudaMemcpyDeviceToHost) +
           copy_ms(lab.data(), l_dev.p, sizeof(knnx::idx_t) * rn, cudaMemcpyDeviceToHost)}};
  const double flat_host_ms =
      time_ms(repeats, [&] { flat.search(nq, q.data(), k, dist.data(), lab.data()); });
  const double flat_device_ms =
      time_ms(repeats, [&] { flat.search(nq, q_dev.p, k, d_dev.p, l_dev.p); });
  std::cerr << "list rows " << list_rows.dump() << "\n";
  std::cerr << "flat: host " << flat_host_ms << " ms, device " << flat_device_ms << " ms; copies "
            << copies.dump() << "\n";
  nlohmann::json points = nlohmann::json::array();
  for (int p : probes) {
    if (p > n_lists) continue;
    index.set_n_probe(p);
    const double host_ms =
        time_ms(repeats, [&] { index.search(nq, q.data(), k, dist.data(), lab.data()); });
    const double device_ms =
        time_ms(repeats, [&] { index.search(nq, q_dev.p, k, d_dev.p, l_dev.p); });
    const double coarse_ms =
        time_ms(repeats, [&] { coarse.search(nq, q_dev.p, p, d_dev.p, l_dev.p); });
    if (profile) {
      cudaProfilerStart();
      index.search(nq, q_dev.p, k, d_dev.p, l_dev.p);
      cudaProfilerStop();
    }
    const auto work = scan_work(p);
    points.push_back({{"n_probe", p},
                      {"search_host_ms", host_ms},
                      {"search_device_ms", device_ms},
                      {"coarse_device_ms", coarse_ms},
                      {"flat_host_over_ivf_host", flat_host_ms / host_ms},
                      {"shared_scan_work", work}});
    std::cerr << "  n_probe=" << p << ": host " << host_ms << " ms, device-resident " << device_ms
              << " ms, coarse alone " << coarse_ms << " ms, flat/ivf " << flat_host_ms / host_ms
              << ", scan work " << work.dump() << "\n";
  }
  return {{"n", n},
          {"d", d},
          {"nq", nq},
          {"k", k},
          {"n_lists", n_lists},
          {"data", "Gaussian mixture (knnx::MixtureSpec), seed 2"},
          {"clusters", clusters},
          {"noise_stddev", noise},
          {"list_rows", list_rows},
          {"flat_exact_host_ms", flat_host_ms},
          {"flat_exact_device_ms", flat_device_ms},
          {"copies", copies},
          {"points", points}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPU IVF-Flat benchmark"};
  std::string suite = "playbook";
  knnx::idx_t n = 1000000, nq = 10000;
  int d = 128, repeats = 5;
  std::vector<int> lists = {1024, 4096};
  std::vector<int> probes = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  app.add_option("--suite", suite, "playbook, curve or stages");
  app.add_option("--n", n);
  app.add_option("--d", d);
  app.add_option("--nq", nq);
  app.add_option("--lists", lists);
  app.add_option("--probes", probes);
  app.add_option("--repeats", repeats);
  int clusters = 1024;
  float noise = 0.6f;
  bool profile = false;
  app.add_option("--clusters", clusters, "mixture components of the curve data");
  app.add_option("--noise", noise, "noise stddev of the curve data (centres have stddev 1)");
  app.add_flag("--profile", profile, "bracket one search per point with cudaProfilerStart/Stop");
  CLI11_PARSE(app, argc, argv);
  nlohmann::json out = {{"device", knnx::cuda_device_name(0)}, {"suite", suite}};
  if (suite == "playbook") {
    out["result"] = playbook(std::max(repeats, 20));
  } else if (suite == "curve") {
    out["result"] = curve(n, d, nq, lists, probes, repeats, clusters, noise, profile);
  } else if (suite == "stages") {
    out["result"] = stages(n, d, nq, lists.front(), probes, repeats, clusters, noise, profile);
  } else {
    std::cerr << "unknown suite " << suite << " (playbook, curve or stages)\n";
    return 2;
  }
  std::cout << out.dump(2) << std::endl;
  return 0;
}
