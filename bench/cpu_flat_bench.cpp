// cpu_flat_bench — times exact search with knnx::IndexFlat on the CPU and prints JSON.
//
// The base (n x d) and queries (rows x d) come from raw little-endian float32 files (as
// bench/cpu_flat_vs_faiss.py writes them, so faiss and knnx see the same data), or are drawn
// from N(0, 1) when no files are given. For every metric, query count (a prefix of the queries)
// and k, one untimed warm-up search runs, then timed searches until --repeats are done or
// --max-seconds have been spent on the case (at least --min-repeats). Times are wall-clock
// seconds of IndexFlat::search alone. With --results-dir, the answer of the last run of each case
// is written there as raw labels (<metric>_nq<nq>_k<k>.i64) and distances (same name, .f32)
// so a script can compare it with another library's.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "knnx/knnx.hpp"

namespace {

using knnx::idx_t;
using Clock = std::chrono::steady_clock;

std::vector<float> read_raw(const std::string& path, idx_t rows, int d) {
  const std::size_t count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(d);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw knnx::IoError(fmt::format("cannot open {}", path));
  const auto size = std::filesystem::file_size(path);
  if (size < count * sizeof(float)) {
    throw knnx::FormatError(fmt::format("{} holds {} bytes, fewer than {} x {} float32", path,
                                        size, rows, d));
  }
  std::vector<float> v(count);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(float)));
  if (!in) throw knnx::IoError(fmt::format("short read from {}", path));
  return v;
}

std::vector<float> gaussian(idx_t rows, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(rows) * static_cast<std::size_t>(d));
  for (float& x : v) x = dist(rng);
  return v;
}

template <typename T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  if (!f) throw knnx::IoError(fmt::format("cannot write {}", path));
}

// CPU seconds used by every thread of the process so far: with the wall time it shows whether
// a run had the cores to itself (cpu ~ wall x threads) or waited for them.
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time knnx::IndexFlat search on the CPU; prints JSON"};
  std::string base_path, query_path, json_path, results_dir;
  idx_t n = 100000, query_rows = 0;
  int d = 128, threads = 0, repeats = 5, min_repeats = 3;
  double max_seconds = 30.0;
  std::vector<idx_t> nqs = {1, 16, 1000};
  std::vector<int> ks = {10, 100};
  std::vector<std::string> metrics = {"l2", "ip"};
  app.add_option("--base", base_path, "raw float32 base file (n x d); N(0,1) data when absent");
  app.add_option("--queries", query_path, "raw float32 query file (query-rows x d)");
  app.add_option("--n", n, "base rows")->check(CLI::PositiveNumber);
  app.add_option("--d", d, "dimension")->check(CLI::Range(1, knnx::kMaxDim));
  app.add_option("--query-rows", query_rows, "rows in the query file (default: the largest nq)");
  app.add_option("--nq", nqs, "query counts (each a prefix of the queries)")->delimiter(',');
  app.add_option("--k", ks, "k values")->delimiter(',');
  app.add_option("--metric", metrics, "l2 and/or ip")->delimiter(',');
  app.add_option("--threads", threads, "CPU threads (0: OpenMP default)")->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "timed searches per case, at most")->check(CLI::PositiveNumber);
  app.add_option("--min-repeats", min_repeats, "timed searches per case, at least")->check(CLI::PositiveNumber);
  app.add_option("--max-seconds", max_seconds, "stop repeating a case after this much time");
  app.add_option("--json", json_path, "write the JSON here instead of stdout");
  app.add_option("--results-dir", results_dir, "write the last labels and distances of each case here");
  CLI11_PARSE(app, argc, argv);

  try {
    const idx_t max_nq = *std::max_element(nqs.begin(), nqs.end());
    if (query_rows == 0) query_rows = max_nq;
    if (query_rows < max_nq) {
      throw knnx::InvalidArgument(fmt::format("--query-rows {} < largest --nq {}", query_rows, max_nq));
    }
    const std::vector<float> base = base_path.empty() ? gaussian(n, d, 1) : read_raw(base_path, n, d);
    const std::vector<float> queries =
        query_path.empty() ? gaussian(query_rows, d, 2) : read_raw(query_path, query_rows, d);

    knnx::Config cfg = knnx::config();
    cfg.num_threads = threads;
    knnx::set_config(cfg);
    if (threads > 0) omp_set_num_threads(threads);
    cfg = knnx::config();

    nlohmann::json out;
    out["program"] = "cpu_flat_bench";
    out["knnx_version"] = knnx::kVersionString;
    out["n"] = n;
    out["d"] = d;
    out["threads"] = threads > 0 ? threads : omp_get_max_threads();
    out["knobs"] = nlohmann::json::object();
    for (const knnx::KnobInfo& k : knnx::describe_knobs()) out["knobs"][k.env_name] = k.value;
    out["cases"] = nlohmann::json::array();

    for (const std::string& metric_name : metrics) {
      const knnx::Metric metric = knnx::parse_metric(metric_name);
      knnx::IndexFlat index(d, metric);
      const auto t_add = Clock::now();
      index.add(n, base.data());
      const double add_s = std::chrono::duration<double>(Clock::now() - t_add).count();

      for (const idx_t nq : nqs) {
        for (const int k : ks) {
          std::vector<float> distances(static_cast<std::size_t>(nq) * static_cast<std::size_t>(k));
          std::vector<idx_t> labels(distances.size());
          index.search(nq, queries.data(), k, distances.data(), labels.data());  // warm-up
          std::vector<double> times, cpu_times;
          double spent = 0.0;
          while (static_cast<int>(times.size()) < repeats &&
                 (static_cast<int>(times.size()) < min_repeats || spent < max_seconds)) {
            const double c0 = process_cpu_seconds();
            const auto t0 = Clock::now();
            index.search(nq, queries.data(), k, distances.data(), labels.data());
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            cpu_times.push_back(process_cpu_seconds() - c0);
            times.push_back(s);
            spent += s;
          }
          const double med = median(times);
          out["cases"].push_back({{"metric", metric_name},
                                  {"nq", nq},
                                  {"k", k},
                                  {"add_s", add_s},
                                  {"times_s", times},
                                  {"cpu_times_s", cpu_times},
                                  {"median_s", med},
                                  {"min_s", *std::min_element(times.begin(), times.end())},
                                  {"queries_per_s", static_cast<double>(nq) / med}});
          if (!results_dir.empty()) {
            const std::string stem = fmt::format("{}/{}_nq{}_k{}", results_dir, metric_name, nq, k);
            write_raw(stem + ".i64", labels);
            write_raw(stem + ".f32", distances);
          }
        }
      }
    }
    const std::string text = out.dump(2);
    if (json_path.empty()) {
      std::cout << text << "\n";
    } else {
      std::ofstream(json_path) << text << "\n";
    }
  } catch (const knnx::Error& e) {
    std::fprintf(stderr, "cpu_flat_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
