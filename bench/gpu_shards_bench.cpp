// gpu_shards_bench: search throughput of IndexShards and IndexReplicas over 1, 2, 4, ... GPUs
// against one GPU, for Flat (default N = 10M, d = 128) and IVF-Flat (default N = 50M, IVF4096,
// n_probe 16), nq = 10000 queries, k = 10, on clustered data (make_mixture_base).
// For each GPU count G (those not present are skipped): a single index on cuda:0 (the baseline,
// once), IndexShards over cuda:0..G-1 and IndexReplicas over cuda:0..G-1; per configuration the
// build time, the median search time of --repeats runs after a warm-up, queries/s, the speed-up
// over the single GPU and the fraction of result labels equal to the single index's. IVF trains
// once (on cuda:0, on a sample) and every configuration reuses the centroids.
// Prints one JSON document (device names, sizes, commit, command, medians). Reduced sizes for a
// smoke test on one GPU: --flat-n 200000 --ivf-n 500000 --lists 256 --nq 1000 --repeats 3.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Results {
  std::vector<float> distances;
  std::vector<knnx::idx_t> labels;
};

// Median wall time of `repeats` searches after one warm-up; the last search's results in *out.
double time_search(const knnx::Index& index, knnx::idx_t nq, const float* q, int k, int repeats,
                   Results* out) {
  out->distances.assign(static_cast<std::size_t>(nq) * k, 0.0f);
  out->labels.assign(static_cast<std::size_t>(nq) * k, 0);
  index.search(nq, q, k, out->distances.data(), out->labels.data());
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = clock_type::now();
    index.search(nq, q, k, out->distances.data(), out->labels.data());
    t.push_back(seconds_since(t0) * 1e3);
  }
  return median(t);
}

double same_labels(const Results& a, const Results& b) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.labels.size(); ++i) same += a.labels[i] == b.labels[i];
  return a.labels.empty() ? 1.0 : double(same) / double(a.labels.size());
}

std::vector<knnx::Device> gpus(int g) {
  std::vector<knnx::Device> d;
  for (int i = 0; i < g; ++i) d.push_back(knnx::Device::cuda(i));
  return d;
}

// Adds base in chunks (bounded staging on the devices) and returns the seconds it took.
double add_all(knnx::Index& index, const std::vector<float>& base, knnx::idx_t n, int d) {
  const knnx::idx_t chunk = 1 << 20;
  const auto t0 = clock_type::now();
  for (knnx::idx_t a = 0; a < n; a += chunk) {
    index.add(std::min(chunk, n - a), base.data() + a * d);
  }
  return seconds_since(t0);
}

nlohmann::json run_kind(const std::string& kind, knnx::idx_t n, int d, knnx::idx_t nq, int k,
                        int n_lists, int n_probe, const std::vector<int>& gpu_counts, bool replicas,
                        knnx::ShardGather gather, int repeats) {
  const bool ivf = kind == "ivf";
  knnx::MixtureSpec spec;
  spec.dim = d;
  spec.n_clusters = 1024;
  spec.noise_stddev = 0.6f;
  spec.seed = 7;
  auto t0 = clock_type::now();
  const std::vector<float> base = knnx::make_mixture_base(spec, n).data;
  const std::vector<float> q = knnx::make_mixture_queries(spec, nq).data;
  std::cerr << kind << ": generated " << n << " x " << d << " in " << seconds_since(t0) << " s\n";

  std::vector<float> centroids;
  double train_s = 0.0;
  if (ivf) {
    knnx::IndexIVFFlat trainer(d, n_lists, knnx::Metric::L2, knnx::Device::cuda(0));
    const knnx::idx_t sample = std::min<knnx::idx_t>(n, knnx::idx_t{256} * n_lists);
    t0 = clock_type::now();
    trainer.train(sample, base.data());
    train_s = seconds_since(t0);
    centroids = trainer.centroids();
    std::cerr << kind << ": trained " << n_lists << " lists on " << sample << " vectors in "
              << train_s << " s\n";
  }
  auto make = [&](knnx::Device dev) -> std::unique_ptr<knnx::Index> {
    if (!ivf) return std::make_unique<knnx::IndexFlat>(d, knnx::Metric::L2, dev);
    auto index = std::make_unique<knnx::IndexIVFFlat>(d, n_lists, knnx::Metric::L2, dev);
    index->set_centroids(centroids.data());
    index->set_n_probe(n_probe);
    return index;
  };

  nlohmann::json rows = nlohmann::json::array();
  Results baseline;
  double baseline_ms = 0.0;
  {
    auto single = make(knnx::Device::cuda(0));
    const double add_s = add_all(*single, base, n, d);
    baseline_ms = time_search(*single, nq, q.data(), k, repeats, &baseline);
    rows.push_back({{"config", "single"},
                    {"gpus", 1},
                    {"add_s", add_s},
                    {"median_ms", baseline_ms},
                    {"qps", nq / (baseline_ms * 1e-3)},
                    {"speedup", 1.0},
                    {"same_labels", 1.0}});
    std::cerr << kind << " single: " << baseline_ms << " ms\n";
  }
  const int present = knnx::cuda_device_count();
  for (int g : gpu_counts) {
    if (g > present) {
      std::cerr << kind << ": skipping " << g << " GPUs (" << present << " present)\n";
      continue;
    }
    std::vector<std::string> configs = {"shards"};
    if (replicas) configs.push_back("replicas");
    for (const std::string& config : configs) {
      std::unique_ptr<knnx::Index> index;
      std::string gather_used = "-";
      if (config == "shards") {
        auto shards = std::make_unique<knnx::IndexShards>(d, knnx::Metric::L2, gpus(g), make,
                                                          knnx::ShardOptions{gather});
        gather_used = shards->gather_method();
        index = std::move(shards);
      } else {
        index = std::make_unique<knnx::IndexReplicas>(d, knnx::Metric::L2, gpus(g), make);
      }
      const double add_s = add_all(*index, base, n, d);
      Results got;
      const double ms = time_search(*index, nq, q.data(), k, repeats, &got);
      const double same = same_labels(baseline, got);
      rows.push_back({{"config", config},
                      {"gpus", g},
                      {"gather", gather_used},
                      {"add_s", add_s},
                      {"median_ms", ms},
                      {"qps", nq / (ms * 1e-3)},
                      {"speedup", baseline_ms / ms},
                      {"same_labels", same}});
      std::cerr << kind << " " << config << " x" << g << " (" << gather_used << "): " << ms
                << " ms, x" << baseline_ms / ms << ", same labels " << same << "\n";
    }
  }
  nlohmann::json out = {{"index", ivf ? "IVF" + std::to_string(n_lists) + ",Flat" : "Flat"},
                        {"n", n},
                        {"d", d},
                        {"nq", nq},
                        {"k", k},
                        {"metric", "L2"},
                        {"data", "make_mixture_base: 1024 clusters, noise 0.6, seed 7"},
                        {"rows", rows}};
  if (ivf) {
    out["n_lists"] = n_lists;
    out["n_probe"] = n_probe;
    out["train_s"] = train_s;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"IndexShards / IndexReplicas throughput over GPUs"};
  std::string suite = "all";
  knnx::idx_t flat_n = 10000000, ivf_n = 50000000, nq = 10000;
  int d = 128, k = 10, n_lists = 4096, n_probe = 16, repeats = 5;
  std::vector<int> gpu_counts = {1, 2, 4};
  bool no_replicas = false;
  std::string gather = "auto", commit = "unknown";
  app.add_option("--suite", suite, "flat, ivf or all");
  app.add_option("--flat-n", flat_n, "vectors in the Flat runs");
  app.add_option("--ivf-n", ivf_n, "vectors in the IVF-Flat runs");
  app.add_option("--d", d);
  app.add_option("--nq", nq);
  app.add_option("--k", k);
  app.add_option("--lists", n_lists);
  app.add_option("--n-probe", n_probe);
  app.add_option("--gpus", gpu_counts, "GPU counts to run (those present)");
  app.add_option("--repeats", repeats);
  app.add_option("--gather", gather, "auto, peer or nccl");
  app.add_option("--commit", commit, "the commit the binary was built from (for the JSON)");
  app.add_flag("--no-replicas", no_replicas, "shards only");
  CLI11_PARSE(app, argc, argv);
  const knnx::ShardGather how = gather == "nccl"   ? knnx::ShardGather::Nccl
                                : gather == "peer" ? knnx::ShardGather::Peer
                                                   : knnx::ShardGather::Auto;
  const int present = knnx::cuda_device_count();
  if (present == 0) {
    std::cerr << "gpu_shards_bench: no CUDA device\n";
    return 2;
  }
  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];
  nlohmann::json devices = nlohmann::json::array();
  for (int i = 0; i < present; ++i) devices.push_back(knnx::cuda_device_name(i));
  nlohmann::json out = {{"benchmark", "gpu_shards_bench"},
                        {"devices", devices},
                        {"commit", commit},
                        {"command", command.str()},
                        {"nccl", knnx::nccl_compiled()},
                        {"repeats", repeats},
                        {"timing", "median wall ms of one search of all nq queries (host arrays)"}};
  nlohmann::json results = nlohmann::json::array();
  if (suite == "flat" || suite == "all") {
    results.push_back(run_kind("flat", flat_n, d, nq, k, n_lists, n_probe, gpu_counts, !no_replicas,
                               how, repeats));
  }
  if (suite == "ivf" || suite == "all") {
    results.push_back(
        run_kind("ivf", ivf_n, d, nq, k, n_lists, n_probe, gpu_counts, !no_replicas, how, repeats));
  }
  out["results"] = results;
  std::cout << out.dump(2) << std::endl;
  return 0;
}
