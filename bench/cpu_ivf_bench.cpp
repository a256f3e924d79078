// cpu_ivf_bench — times knnx::IndexIVFFlat on the CPU (train, add, and search over an n_probe
// sweep) with recall against the exact answer, and prints JSON.
//
// Data: a Gaussian mixture (knnx/synthetic.hpp), base vectors and queries from the same
// mixture. The exact k nearest neighbours come from IndexFlat in the same run, and that search's
// time is reported as the baseline. For every n_probe one untimed warm-up search runs, then
// --repeats timed searches of all queries (the median is reported); --latency-queries queries
// are also searched one at a time. Wall-clock seconds of the knnx calls alone; the process CPU
// time next to them shows whether the run had the cores to itself (cpu ~ wall x threads).
//
// --scan-crossover also times the two ways the scan computes a list's products for a group of
// m queries (the direct SIMD kernel and sgemm) over every list of the built index, which is the
// measurement behind the crossover constant in src/cpu/ivf_cpu.cpp.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cpu/blas.hpp"
#include "cpu/scan_kernels.hpp"
#include "knnx/knnx.hpp"

namespace {

using knnx::idx_t;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return f ? a + " " + b + " " + c : "";
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

// Times fn() `repeats` times after one warm-up call; returns (wall, cpu) seconds per call.
template <typename Fn>
std::pair<std::vector<double>, std::vector<double>> timed(int repeats, Fn&& fn) {
  fn();
  std::vector<double> wall, cpu;
  for (int r = 0; r < repeats; ++r) {
    const double c0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    fn();
    wall.push_back(seconds_since(t0));
    cpu.push_back(process_cpu_seconds() - c0);
  }
  return {wall, cpu};
}

// Direct kernel vs sgemm for groups of m queries against every list of the index, on one thread.
nlohmann::json scan_crossover(const knnx::IndexIVFFlat& index, const std::vector<float>& queries,
                              int repeats) {
  const int d = index.dim();
  std::vector<std::vector<float>> lists;
  for (int l = 0; l < index.n_lists(); ++l) lists.push_back(index.list_vectors(l));
  idx_t max_rows = 0;
  for (const auto& v : lists) max_rows = std::max<idx_t>(max_rows, static_cast<idx_t>(v.size()) / d);
  nlohmann::json rows = nlohmann::json::array();
  for (const int m : {1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32}) {
    std::vector<float> tile(static_cast<std::size_t>(m * max_rows));
    auto run = [&](bool direct) {
      for (const auto& v : lists) {
        const idx_t len = static_cast<idx_t>(v.size()) / d;
        if (len == 0) continue;
        if (direct) {
          for (int i = 0; i < m; i += knnx::cpu::kSmallBatchMax) {
            const int g = std::min(knnx::cpu::kSmallBatchMax, m - i);
            knnx::cpu::small_batch_products(queries.data() + i * d, g, v.data(), len, d, -2.0f,
                                            tile.data() + i * len, len);
          }
        } else {
          knnx::cpu::sgemm_abt(m, len, d, -2.0f, queries.data(), v.data(), tile.data());
        }
      }
    };
    double best[2] = {1e30, 1e30};
    // Interleaved, best of `repeats`: the least disturbed run of each.
    for (int r = 0; r < repeats; ++r) {
      for (int method = 0; method < 2; ++method) {
        double s = 0.0;
        // On one thread with BLAS on it alone, as inside the search's parallel region.
#pragma omp parallel num_threads(1)
        {
          omp_set_num_threads(1);
          const auto t0 = Clock::now();
          run(method == 0);
          s = seconds_since(t0);
        }
        best[method] = std::min(best[method], s);
      }
    }
    const double per = 1e9 / (static_cast<double>(index.n_lists()) * m);
    rows.push_back({{"queries_per_list", m},
                    {"direct_ns_per_list_query", best[0] * per},
                    {"sgemm_ns_per_list_query", best[1] * per}});
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time knnx::IndexIVFFlat on the CPU; prints JSON"};
  idx_t n = 100000, nq = 1000;
  int d = 128, n_lists = 1024, k = 10, threads = 0, repeats = 5, latency_queries = 100;
  // 4096 Gaussians of noise 1 (centres spread 1) over 100k vectors: about 24 vectors per
  // Gaussian, and a recall curve over n_probe that spans 0.5 to 1 at 1024 lists.
  int clusters = 4096, n_iter = 10, init_points = knnx::KMeansParams{}.init_points_per_centroid;
  float noise = 1.0f;
  std::uint64_t seed = 1;
  std::string metric_name = "l2", init_name = "kmeans++", json_path, commit;
  std::vector<int> n_probes = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  bool crossover = false;
  app.add_option("--n", n, "base vectors")->check(CLI::PositiveNumber);
  app.add_option("--nq", nq, "queries")->check(CLI::PositiveNumber);
  app.add_option("--d", d, "dimension")->check(CLI::Range(1, knnx::kMaxDim));
  app.add_option("--clusters", clusters, "Gaussians in the data mixture")->check(CLI::PositiveNumber);
  app.add_option("--noise", noise, "noise standard deviation of the mixture (centres: 1)");
  app.add_option("--seed", seed, "data seed");
  app.add_option("--n-lists", n_lists, "inverted lists")->check(CLI::PositiveNumber);
  app.add_option("--n-probe", n_probes, "n_probe values")->delimiter(',');
  app.add_option("--k", k, "neighbours per query")->check(CLI::Range(1, knnx::kMaxK));
  app.add_option("--metric", metric_name, "l2 or ip");
  app.add_option("--init", init_name, "k-means seeding: kmeans++ or random");
  app.add_option("--n-iter", n_iter, "k-means iterations")->check(CLI::NonNegativeNumber);
  app.add_option("--init-points", init_points,
                 "k-means++ seeds from at most this many rows per centroid (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "CPU threads (0: OpenMP default)")->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "timed searches per n_probe")->check(CLI::PositiveNumber);
  app.add_option("--latency-queries", latency_queries, "queries also searched one at a time")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--scan-crossover", crossover, "also time direct vs sgemm list products");
  app.add_option("--commit", commit, "commit to record (default: $KNNX_COMMIT)");
  app.add_option("--json", json_path, "write the JSON here instead of stdout");
  CLI11_PARSE(app, argc, argv);

  try {
    if (commit.empty() && std::getenv("KNNX_COMMIT")) commit = std::getenv("KNNX_COMMIT");
    if (init_name != "kmeans++" && init_name != "random") {
      throw knnx::InvalidArgument(fmt::format("--init must be kmeans++ or random, got \"{}\"", init_name));
    }
    const knnx::Metric metric = knnx::parse_metric(metric_name);
    knnx::Config cfg = knnx::config();
    cfg.num_threads = threads;
    knnx::set_config(cfg);
    if (threads > 0) omp_set_num_threads(threads);

    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

    knnx::MixtureSpec spec;
    spec.dim = d;
    spec.n_clusters = clusters;
    spec.noise_stddev = noise;
    spec.seed = seed;
    const knnx::Matrix<float> base = knnx::make_mixture_base(spec, n);
    const knnx::Matrix<float> queries = knnx::make_mixture_queries(spec, nq);

    nlohmann::json out;
    out["program"] = "cpu_ivf_bench";
    out["knnx_version"] = knnx::kVersionString;
    out["commit"] = commit;
    out["command"] = command;
    out["host"] = host_name();
    out["nproc"] = std::thread::hardware_concurrency();
    out["threads"] = threads > 0 ? threads : omp_get_max_threads();
    out["scan_isa"] = knnx::cpu::scan_kernels_isa();
    out["load_average_before"] = load_average();
    // The OpenMP and knnx settings of the environment: OMP_WAIT_POLICY in particular decides
    // whether threads spin at barriers, which dominates multi-threaded times on a busy machine.
    out["environment"] = nlohmann::json::object();
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      if (kv.rfind("OMP_", 0) == 0 || kv.rfind("KNNX_", 0) == 0 || kv.rfind("OPENBLAS_", 0) == 0) {
        const std::size_t eq = kv.find('=');
        out["environment"][kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
      }
    }
    out["data"] = {{"kind", "gaussian_mixture"}, {"n", n}, {"nq", nq}, {"d", d},
                   {"clusters", clusters}, {"noise_stddev", noise}, {"seed", seed}};
    out["params"] = {{"metric", metric_name}, {"n_lists", n_lists}, {"k", k},
                     {"kmeans_init", init_name}, {"kmeans_n_iter", n_iter},
                     {"kmeans_init_points_per_centroid", init_points}};

    // Exact answer and baseline.
    knnx::IndexFlat flat(d, metric);
    flat.add(n, base.data.data());
    std::vector<float> gt_dist(static_cast<std::size_t>(nq * k));
    std::vector<idx_t> gt(static_cast<std::size_t>(nq * k));
    const auto [flat_wall, flat_cpu] =
        timed(repeats, [&] { flat.search(nq, queries.data.data(), k, gt_dist.data(), gt.data()); });
    out["flat_search"] = {{"median_s", median(flat_wall)},
                          {"times_s", flat_wall},
                          {"cpu_times_s", flat_cpu},
                          {"queries_per_s", static_cast<double>(nq) / median(flat_wall)}};

    // Build.
    knnx::IndexIVFFlat index(d, n_lists, metric);
    knnx::KMeansParams kp = index.kmeans_params();
    kp.n_iter = n_iter;
    kp.init_points_per_centroid = init_points;
    kp.init = init_name == "random" ? knnx::KMeansParams::Init::Random
                                    : knnx::KMeansParams::Init::KMeansPlusPlus;
    index.set_kmeans_params(kp);
    double c0 = process_cpu_seconds();
    auto t0 = Clock::now();
    index.train(n, base.data.data());
    const double train_s = seconds_since(t0), train_cpu = process_cpu_seconds() - c0;
    c0 = process_cpu_seconds();
    t0 = Clock::now();
    index.add(n, base.data.data());
    const double add_s = seconds_since(t0), add_cpu = process_cpu_seconds() - c0;
    out["build"] = {{"train_s", train_s}, {"train_cpu_s", train_cpu}, {"add_s", add_s},
                    {"add_cpu_s", add_cpu}, {"imbalance_factor", index.imbalance_factor()}};

    // The lists each query probes, found by an exact search over the centroids (as the index's
    // coarse quantiser does), give the rows each n_probe scans: the work floor of the scan.
    const std::vector<idx_t> list_sizes = index.list_sizes();
    const int max_probe = std::min(n_lists, *std::max_element(n_probes.begin(), n_probes.end()));
    std::vector<idx_t> probes(static_cast<std::size_t>(nq * max_probe));
    {
      knnx::IndexFlat coarse(d, metric);
      const std::vector<float> centroids = index.centroids();
      coarse.add(n_lists, centroids.data());
      std::vector<float> cd(probes.size());
      coarse.search(nq, queries.data.data(), max_probe, cd.data(), probes.data());
    }
    auto rows_scanned = [&](int n_probe) {
      double rows = 0.0;
      for (idx_t q = 0; q < nq; ++q) {
        for (int p = 0; p < n_probe; ++p) {
          rows += static_cast<double>(list_sizes[static_cast<std::size_t>(probes[static_cast<std::size_t>(q * max_probe + p)])]);
        }
      }
      return rows / static_cast<double>(nq);
    };

    // n_probe sweep.
    out["search"] = nlohmann::json::array();
    std::vector<float> dist(static_cast<std::size_t>(nq * k));
    std::vector<idx_t> labels(static_cast<std::size_t>(nq * k));
    for (const int n_probe : n_probes) {
      if (n_probe > n_lists) continue;
      index.set_n_probe(n_probe);
      const auto [wall, cpu] =
          timed(repeats, [&] { index.search(nq, queries.data.data(), k, dist.data(), labels.data()); });
      const double recall = knnx::recall_at_k(nq, labels.data(), k, gt.data(), k, k);
      const double recall1 = knnx::recall_at_k(nq, labels.data(), k, gt.data(), k, 1);
      nlohmann::json row = {{"n_probe", n_probe},
                            {"median_s", median(wall)},
                            {"times_s", wall},
                            {"cpu_times_s", cpu},
                            {"queries_per_s", static_cast<double>(nq) / median(wall)},
                            {"speedup_vs_flat", median(flat_wall) / median(wall)},
                            {fmt::format("recall_at_{}", k), recall},
                            {"recall_at_1", recall1},
                            {"rows_scanned_per_query", rows_scanned(n_probe)}};
      if (latency_queries > 0) {
        const idx_t lq = std::min<idx_t>(latency_queries, nq);
        std::vector<double> each;
        index.search(1, queries.row(0), k, dist.data(), labels.data());  // warm-up
        for (idx_t q = 0; q < lq; ++q) {
          const auto s = Clock::now();
          index.search(1, queries.row(q), k, dist.data(), labels.data());
          each.push_back(seconds_since(s));
        }
        row["single_query_median_s"] = median(each);
      }
      out["search"].push_back(row);
      std::fprintf(stderr, "n_probe %4d: %.4f s  %.0f q/s  recall@%d %.4f\n", n_probe, median(wall),
                   static_cast<double>(nq) / median(wall), k, recall);
    }
    if (crossover) out["scan_crossover"] = scan_crossover(index, queries.data, repeats * 4);
    out["load_average_after"] = load_average();

    const std::string text = out.dump(2);
    if (json_path.empty()) {
      std::cout << text << "\n";
    } else {
      std::ofstream(json_path) << text << "\n";
    }
  } catch (const knnx::Error& e) {
    std::fprintf(stderr, "cpu_ivf_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
